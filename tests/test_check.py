"""`meibel-bot check` run as an admin runs it: a real process against the dev server and
the fake Slack; what it prints must agree with itself and with the start-up."""

from __future__ import annotations

import re
import time
from pathlib import Path

from bot.devserver import DevServer
from tests.fixtures.slack import APP_TOKEN, BOT_TOKEN, FakeSlack
from tests.startup.proc import Ended, cli, closed_port, env_for, run_until_exit
from tests.test_terminal import run


async def check(tmp_path: Path, meibel: DevServer | None, **settings: str) -> tuple[int, str]:
    code, out, err = await run(["check"], env=env_for(tmp_path, meibel, **settings), cwd=tmp_path)
    assert "Traceback" not in out + err
    return code, out


def assert_never_ok_and_unset(out: str) -> None:
    """No `[  ok] X = (not set)`: a value that is not there is not 'ok'."""
    assert not re.search(r"\[\s*ok\] [A-Z_]+ = \(not set", out), out


async def test_values_are_shown_as_written_and_socket_mode_needs_no_secret(
    tmp_path: Path, meibel_server: DevServer, slack_api: FakeSlack
) -> None:
    (tmp_path / ".env").write_text("STREAMING=on\nSLACK_REPLY_WITHOUT_MENTION=yes\n")
    code, out = await check(
        tmp_path,
        meibel_server,
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_APP_TOKEN=APP_TOKEN,
        SLACK_API_URL=slack_api.base_url,
        MEIBEL_TIMEOUT_SECONDS="45",
    )
    assert code == 0, out
    assert "STREAMING = on\n" in out and "True" not in out
    assert "SLACK_REPLY_WITHOUT_MENTION = yes" in out
    assert "MEIBEL_TIMEOUT_SECONDS = 45" in out
    assert "SLACK_SIGNING_SECRET = (not set) (not needed: Socket Mode" in out
    assert "SLACK_APP_TOKEN = " in out and "(needed: Socket Mode)" in out
    assert "FAIL" not in out and "agent 'helpdesk' exists" in out
    assert_never_ok_and_unset(out)


async def test_a_needed_setting_that_is_missing_is_labelled_needed_and_fails(
    tmp_path: Path, meibel_server: DevServer, slack_api: FakeSlack
) -> None:
    code, out = await check(
        tmp_path, meibel_server, SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_API_URL=slack_api.base_url
    )
    assert code == 1
    assert "[   -] SLACK_SIGNING_SECRET = (not set) (needed: HTTP mode" in out
    assert "[FAIL] SLACK_SIGNING_SECRET is not set" in out
    assert_never_ok_and_unset(out)


async def test_an_agent_that_does_not_exist_fails_by_name_and_in_routes(
    tmp_path: Path, meibel_server: DevServer
) -> None:
    code, out = await check(
        tmp_path,
        meibel_server,
        MEIBEL_AGENT_NAME="missing-agent",
        AGENT_ROUTES="slack:C1=research,discord:9=nobody-here",
    )
    assert code == 1
    assert "[FAIL] MEIBEL_AGENT_NAME: no agent is named 'missing-agent'" in out
    assert "[FAIL] AGENT_ROUTES: no agent is named 'nobody-here'" in out
    assert "[  ok] agent 'research' exists" in out


async def test_an_agent_id_that_does_not_exist_fails(
    tmp_path: Path, meibel_server: DevServer
) -> None:
    env = {"MEIBEL_AGENT_ID": "missing-123", "MEIBEL_AGENT_NAME": ""}
    code, out = await check(tmp_path, meibel_server, **env)
    assert code == 1
    assert "[FAIL] MEIBEL_AGENT_ID: no agent has the id 'missing-123'" in out


async def test_a_refused_connection_is_named_refused_at_once(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{closed_port()}/v2"
    began = time.monotonic()
    code, out, err = await run(
        ["check"], env=env_for(tmp_path, None, MEIBEL_BASE_URL=url, LOG_LEVEL="INFO"), cwd=tmp_path
    )
    assert code == 1
    assert time.monotonic() - began < 5  # one try, no backoff
    assert "retry" not in err
    [line] = [line for line in out.splitlines() if "cannot reach Meibel" in line]
    assert line.startswith("  [FAIL] meibel_unavailable") and "connection refused" in line


async def test_agent_routes_errors_are_the_same_line_in_check_and_at_start_up(
    tmp_path: Path,
) -> None:
    said: list[Ended] = []
    for command in ("check", "slack", "chat"):
        env = env_for(tmp_path, None, AGENT_ROUTES="slack:C1=a,teams:C2=b,")
        said.append(await run_until_exit(cli(command), env=env, cwd=tmp_path, limit=15))
    for ended in said:
        assert ended.code == 2 and "Traceback" not in ended.stderr
        [line] = ended.said
        assert line.startswith(
            "meibel-bot: AGENT_ROUTES is invalid: bad entry 'teams:C2=b': unknown platform"
        ), line
    assert said[0].said == said[1].said == said[2].said
