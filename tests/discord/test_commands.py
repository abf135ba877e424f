"""`meibel-bot discord` and the Discord part of `meibel-bot check`."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from adapters.cli import main
from adapters.discord import commands
from bot.check import CheckReport, Status
from tests.discord.fakes.server import FakeDiscord


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No DISCORD_* from the machine, and no .env: a directory of our own."""
    for name in list(os.environ):
        if name.upper().startswith("DISCORD_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def lines(report: CheckReport, status: Status | None = None) -> list[str]:
    return [text for s, text in report.lines if status is None or s is status]


def test_discord_without_a_token_names_the_variable_and_exits_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["discord"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("meibel-bot: DISCORD_TOKEN is not set")
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_discord_with_shard_ids_but_no_count_says_what_to_set(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DISCORD_TOKEN", "some-token-value")
    monkeypatch.setenv("DISCORD_SHARD_IDS", "1")
    assert main(["discord"]) == 2
    assert "DISCORD_SHARD_IDS is set without DISCORD_SHARD_COUNT" in capsys.readouterr().err


def test_configured_follows_the_token(monkeypatch: pytest.MonkeyPatch) -> None:
    assert not commands.configured()
    monkeypatch.setenv("DISCORD_TOKEN", "some-token-value")
    assert commands.configured()


async def test_check_without_a_token_says_discord_is_off() -> None:
    report = CheckReport()
    await commands.check(report)
    assert lines(report, Status.WARN) == ["DISCORD_TOKEN is not set: Discord is off"]
    assert not report.failed


async def test_check_reports_settings_the_intent_and_the_invite_url(
    fake_discord: FakeDiscord, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DISCORD_TOKEN", fake_discord.token)
    monkeypatch.setenv("DISCORD_ALLOWED_CHANNEL_IDS", "111, 222")
    report = CheckReport()
    await commands.check(report)
    text = "\n".join(lines(report))
    assert not report.failed and fake_discord.token not in text
    assert "DISCORD_ALLOWED_CHANNEL_IDS = 111,222" in text
    assert "the Message Content intent is needed (DISCORD_REPLY_WITHOUT_MENTION is on)" in text
    assert "the Message Content intent is enabled" in text
    assert f"client_id={fake_discord.world.app_id}" in text and "applications.commands" in text


async def test_check_warns_when_the_needed_intent_is_not_enabled(
    fake_discord: FakeDiscord, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_discord.application_flags = 0
    monkeypatch.setenv("DISCORD_TOKEN", fake_discord.token)
    report = CheckReport()
    await commands.check(report)
    [warning] = lines(report, Status.WARN)
    assert "Message Content intent is NOT enabled" in warning


async def test_check_says_when_the_intent_is_not_needed(
    fake_discord: FakeDiscord, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_discord.application_flags = 0
    monkeypatch.setenv("DISCORD_TOKEN", fake_discord.token)
    monkeypatch.setenv("DISCORD_REPLY_WITHOUT_MENTION", "false")
    report = CheckReport()
    await commands.check(report)
    assert "the Message Content intent is not needed" in "\n".join(lines(report))
    assert not lines(report, Status.WARN)


async def test_check_fails_on_a_refused_token(
    fake_discord: FakeDiscord, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DISCORD_TOKEN", "a-token-discord-refuses")
    report = CheckReport()
    await commands.check(report)
    assert lines(report, Status.FAIL) == [commands.TOKEN_REFUSED]
