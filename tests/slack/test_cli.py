"""`meibel-bot slack` and the Slack part of `meibel-bot check`, as an admin runs them."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
from pathlib import Path

import httpx
import pytest

from adapters.cli import main
from adapters.slack.commands import check
from bot.check import CheckReport
from bot.devserver import DevServer
from tests.fixtures.meibel import DEV_KEY
from tests.fixtures.slack import BOT_TOKEN, BOT_USER, FakeSlack
from tests.slack.conftest import SIGNING_SECRET, signed_headers


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """No Slack settings from the environment or a .env file."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith(("SLACK_", "MEIBEL_")) or name in ("PORT", "REDIS_URL"):
            monkeypatch.delenv(name)
    return monkeypatch


def test_slack_without_tokens_names_each_missing_variable(
    clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["slack"]) == 2
    err = capsys.readouterr().err
    assert "SLACK_BOT_TOKEN is not set" in err
    assert "SLACK_SIGNING_SECRET is not set" in err
    assert "Traceback" not in err


def test_a_malformed_token_is_named_but_not_echoed(
    clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    clean_env.setenv("SLACK_BOT_TOKEN", "xoxp-user-token-not-a-bot-token")
    assert main(["slack"]) == 2
    err = capsys.readouterr().err
    assert "SLACK_BOT_TOKEN is invalid" in err
    assert "xoxp-user-token" not in err


async def test_check_calls_auth_test_and_masks_secrets(
    clean_env: pytest.MonkeyPatch, slack_api: FakeSlack
) -> None:
    clean_env.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)
    clean_env.setenv("SLACK_SIGNING_SECRET", SIGNING_SECRET)
    clean_env.setenv("SLACK_API_URL", slack_api.base_url)
    report = CheckReport()
    await check(report)
    text = report.render()
    assert not report.failed, text
    assert "auth.test: the bot token works: @meibel in Test Team" in text
    assert BOT_TOKEN not in text and SIGNING_SECRET not in text
    [call] = slack_api.calls_to("auth.test")
    assert call.token == BOT_TOKEN


async def test_check_fails_on_a_refused_token(
    clean_env: pytest.MonkeyPatch, slack_api: FakeSlack
) -> None:
    clean_env.setenv("SLACK_BOT_TOKEN", "xoxb-revoked-0000000000")
    clean_env.setenv("SLACK_APP_TOKEN", "xapp-1-socket-mode-token")
    clean_env.setenv("SLACK_API_URL", slack_api.base_url)
    report = CheckReport()
    await check(report)
    assert report.failed
    assert "auth.test refused the bot token (invalid_auth)" in report.render()
    assert "mode: Socket Mode" in report.render()


async def test_check_without_slack_only_warns(clean_env: pytest.MonkeyPatch) -> None:
    report = CheckReport()
    await check(report)
    assert not report.failed
    assert "Slack is not configured" in report.render()


async def test_meibel_bot_slack_serves_http_and_finishes_its_answer_on_sigterm(
    clean_env: pytest.MonkeyPatch, tmp_path: Path, slack_api: FakeSlack, meibel_server: DevServer
) -> None:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "MEIBEL_API_KEY": DEV_KEY,
        "MEIBEL_BASE_URL": meibel_server.base_url,
        "MEIBEL_AGENT_NAME": "helpdesk",
        "MEIBEL_BOT_DB": str(tmp_path / "bot.db"),
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack_api.base_url,
        "PORT": "0",  # the log line tells the port
        "LOG_LEVEL": "INFO",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "adapters.cli",
        "slack",
        env=env,
        cwd=tmp_path,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None
    log: list[str] = []
    try:
        async with asyncio.timeout(20):
            while not (port := _port(log)):
                line = await process.stderr.readline()
                assert line, f"meibel-bot slack exited early: {''.join(log)}"
                log.append(line.decode())
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
            assert (await http.get("/healthz")).status_code == 200
            event = {
                "type": "event_callback",
                "team_id": "T0000001",
                "event_id": "EvCli",
                "event": {
                    "type": "app_mention",
                    "user": "U0000001",
                    "channel": "C0000001",
                    "ts": "1710000009.000100",
                    "text": f"<@{BOT_USER}> Hello from the CLI",
                },
            }
            body = json.dumps(event).encode()
            headers = {"Content-Type": "application/json", **signed_headers(body)}
            meibel_server.hold_chats()
            response = await http.post("/slack/events", content=body, headers=headers)
            assert response.status_code == 200
            await asyncio.wait_for(meibel_server.wait_for_in_flight(1), 10)
        # SIGTERM with the answer in flight: no new events, the answer still arrives
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(20):
            while "stopping: no new events" not in "".join(log):
                line = await process.stderr.readline()
                assert line, f"meibel-bot slack exited early: {''.join(log)}"
                log.append(line.decode())
        meibel_server.release_chats()
        async with asyncio.timeout(20):
            rest = await process.stderr.read()
            code = await process.wait()
        log.append(rest.decode())
        assert code == 0, "".join(log)
        # streamed (STREAMING is on by default) and finished with the native answer
        [answer] = slack_api.calls_to("chat.stopStream")
        assert slack_api.message(answer["ts"]).thread_ts == "1710000009.000100"
        assert "Hello from the CLI" in slack_api.message(answer["ts"]).markdown
        assert BOT_TOKEN not in "".join(log)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


def _port(log: list[str]) -> int | None:
    for line in log:
        match = re.search(r"listening on port (\d+)", line)
        if match:
            return int(match.group(1))
    return None
