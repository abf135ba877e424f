"""`meibel-bot discord` and the Discord part of `meibel-bot check`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from pathlib import Path

import pytest

from adapters.cli import build_parser, main
from adapters.discord import commands
from adapters.discord.app import services_of
from adapters.discord.commands import report_settings
from adapters.discord.settings import load_discord_settings
from bot.attachments import AttachmentPolicy
from bot.check import CheckReport, Status
from bot.devserver import DevServer
from bot.runtime import open_runtime
from bot.settings import load_settings
from tests.discord.fakes.server import FakeDiscord
from tests.discord.helpers import answer_in, text_of, thread_opened_in
from tests.fixtures.meibel import DEV_KEY


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
    [intent] = [line for line in lines(report, Status.INFO) if "intent: needed" in line]
    assert intent.startswith("the Message Content intent: needed (DISCORD_REPLY_WITHOUT_MENTION")
    assert not any("intent" in line and "needed" in line for line in lines(report, Status.OK))
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
    assert "the Message Content intent: not needed" in "\n".join(lines(report, Status.INFO))
    assert "DISCORD_REPLY_WITHOUT_MENTION = false" in "\n".join(lines(report))
    assert not lines(report, Status.WARN)


async def test_check_fails_on_a_refused_token(
    fake_discord: FakeDiscord, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DISCORD_TOKEN", "a-token-discord-refuses")
    report = CheckReport()
    await commands.check(report)
    assert lines(report, Status.FAIL) == [commands.TOKEN_REFUSED]


async def test_meibel_bot_discord_runs_the_whole_bot_from_the_environment(
    fake_discord: FakeDiscord,
    meibel_server: DevServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """The command itself: settings, the embedded store, the Meibel client, the bot."""
    for name, value in {
        "DISCORD_TOKEN": fake_discord.token,
        "MEIBEL_API_KEY": DEV_KEY,
        "MEIBEL_BASE_URL": meibel_server.base_url,
        "MEIBEL_AGENT_NAME": "dev-agent",
        "MEIBEL_BOT_DB": str(tmp_path / "store.db"),
        "REDIS_URL": "",
        "AGENT_ROUTES": "",
    }.items():
        monkeypatch.setenv(name, value)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level  # the command configures logging
    args = build_parser().parse_args(["discord"])
    task = asyncio.create_task(args.handler(args))
    try:
        w = fake_discord.world
        await fake_discord.gateway_ready()
        await fake_discord.slash(
            "ask", user=w.alice, channel_id=w.general_id, options={"question": "From the CLI?"}
        )
        thread_id, _ = await thread_opened_in(fake_discord, w.general_id)
        answer = await answer_in(fake_discord, thread_id)
        assert "Answer 1: From the CLI" in text_of(answer)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        root.handlers[:] = handlers
        root.setLevel(level)


@pytest.mark.parametrize(
    ("core", "discord", "expected"),
    [("on", None, True), ("off", None, False), ("on", "off", False), ("off", "on", True)],
)
async def test_discord_streaming_overrides_streaming_and_files_follow_the_core_limits(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    core: str,
    discord: str | None,
    expected: bool,
) -> None:
    monkeypatch.setenv("STREAMING", core)
    monkeypatch.setenv("MAX_ATTACHMENT_MB", "2")
    monkeypatch.setenv("MAX_ATTACHMENTS", "3")
    monkeypatch.setenv("MEIBEL_BOT_DB", str(tmp_path / "store.db"))
    monkeypatch.setenv("REDIS_URL", "")
    if discord is not None:
        monkeypatch.setenv("DISCORD_STREAMING", discord)
    settings = load_discord_settings()
    core_settings = load_settings(meibel_api_key=DEV_KEY, meibel_agent_name="dev-agent")
    async with open_runtime(core_settings) as runtime:
        services = services_of(runtime, settings)
    assert services.streaming is expected
    assert services.attachments == AttachmentPolicy(max_bytes=2 * 1024 * 1024, max_count=3)
    report = CheckReport()
    report_settings(settings, report)
    shown = {None: "(not set: STREAMING)", "on": "on", "off": "off"}[discord]
    assert f"DISCORD_STREAMING = {shown}" in lines(report)
