"""Start-up contracts of `meibel-bot slack`, `discord`, `run` and `dev-server`, as an admin
meets them: a real process at the fakes, its exit code, its last words and how long it took."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest

from bot.devserver import DevServer
from tests.discord.fakes.server import FakeDiscord
from tests.fixtures.slack import APP_TOKEN, BOT_TOKEN, FakeSlack
from tests.slack.conftest import SIGNING_SECRET
from tests.startup.proc import (
    FAST_RETRIES,
    Ended,
    cli,
    closed_port,
    discord_cli,
    env_for,
    run_until_exit,
    start,
)

REFUSED_WITHIN = 10.0  # seconds, the bound for a refused credential


def slack_env(
    tmp_path: Path, meibel: DevServer, api_url: str, *, socket_mode: bool, **extra: str
) -> dict[str, str]:
    tokens = {"SLACK_APP_TOKEN": APP_TOKEN} if socket_mode else {}
    return env_for(
        tmp_path,
        meibel,
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=api_url,
        PORT="0",
        **tokens,
        **extra,
    )


def assert_one_clear_line(ended: Ended, *, code: int, says: list[str]) -> None:
    assert ended.code == code, ended.stderr
    assert "Traceback" not in ended.stderr, ended.stderr
    [line] = ended.said
    for words in says:
        assert words in line, line


@pytest.mark.parametrize("socket_mode", [False, True], ids=["http", "socket-mode"])
async def test_slack_with_a_bot_token_slack_refuses_stops_at_once_naming_it(
    socket_mode: bool, tmp_path: Path, slack_api: FakeSlack, meibel_server: DevServer
) -> None:
    env = slack_env(tmp_path, meibel_server, slack_api.base_url, socket_mode=socket_mode)
    env["SLACK_BOT_TOKEN"] = "xoxb-0000-revoked-token"
    ended = await run_until_exit(cli("slack"), env=env, cwd=tmp_path)
    assert_one_clear_line(
        ended, code=2, says=["Slack refused SLACK_BOT_TOKEN", "auth.test: invalid_auth"]
    )
    assert ended.lines == ended.said  # nothing else: no retries, no Bolt noise
    assert ended.seconds < REFUSED_WITHIN
    assert "revoked-token" not in ended.stderr
    assert len(slack_api.calls_to("auth.test", ok_only=False)) == 1


async def test_slack_socket_mode_with_an_app_token_slack_refuses_names_it(
    tmp_path: Path, slack_api: FakeSlack, meibel_server: DevServer
) -> None:
    env = slack_env(tmp_path, meibel_server, slack_api.base_url, socket_mode=True)
    env["SLACK_APP_TOKEN"] = "xapp-1-A111-0000-not-the-app-token"
    ended = await run_until_exit(cli("slack"), env=env, cwd=tmp_path)
    assert_one_clear_line(
        ended,
        code=2,
        says=["Slack refused SLACK_APP_TOKEN", "apps.connections.open: invalid_auth"],
    )
    assert ended.seconds < REFUSED_WITHIN
    assert not slack_api.calls_to("apps.connections.open")  # no socket was ever opened


async def test_slack_unreachable_at_start_is_tried_three_times_then_exit_1(
    tmp_path: Path, meibel_server: DevServer
) -> None:
    url = f"http://127.0.0.1:{closed_port()}/api/"
    env = slack_env(tmp_path, meibel_server, url, socket_mode=False, **FAST_RETRIES)
    ended = await run_until_exit(cli("slack"), env=env, cwd=tmp_path)
    assert_one_clear_line(
        ended, code=1, says=["cannot reach Slack", "connection refused", "after 3 tries"]
    )
    tries = [line for line in ended.lines if "try " in line and " of 3" in line]
    assert len(tries) == 2 and all("connection refused" in line for line in tries)
    assert len(ended.lines) == 3  # one line per try, nothing else


async def test_run_keeps_the_same_contract(
    tmp_path: Path, slack_api: FakeSlack, meibel_server: DevServer
) -> None:
    env = slack_env(tmp_path, meibel_server, slack_api.base_url, socket_mode=False)
    env["SLACK_BOT_TOKEN"] = "xoxb-0000-revoked-token"
    ended = await run_until_exit(cli("run"), env=env, cwd=tmp_path)
    assert_one_clear_line(ended, code=2, says=["Slack refused SLACK_BOT_TOKEN"])
    assert ended.seconds < REFUSED_WITHIN


async def test_ctrl_c_on_a_connected_socket_mode_bot_exits_0_closing_every_session(
    tmp_path: Path, slack_api: FakeSlack, meibel_server: DevServer
) -> None:
    env = slack_env(tmp_path, meibel_server, slack_api.base_url, socket_mode=True, LOG_LEVEL="INFO")
    process = await start(cli("slack"), env=env, cwd=tmp_path)
    try:
        await slack_api.wait_for_socket(timeout=20)
        process.send_signal(signal.SIGINT)
        _, err = await asyncio.wait_for(process.communicate(), 20)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    log = err.decode()
    assert process.returncode == 0, log
    assert "Socket Mode: connected" in log and "stopped" in log
    assert "Unclosed" not in log and "Traceback" not in log


async def test_discord_with_a_token_discord_refuses_stops_at_once_naming_it(
    tmp_path: Path, fake_discord: FakeDiscord, meibel_server: DevServer
) -> None:
    env = env_for(tmp_path, meibel_server, DISCORD_TOKEN="not-the-token")
    args = discord_cli(fake_discord.api_base, fake_discord.gateway_url)
    ended = await run_until_exit(args, env=env, cwd=tmp_path)
    assert_one_clear_line(ended, code=2, says=["Discord refused DISCORD_TOKEN", "401 Unauthorized"])
    assert ended.lines == ended.said
    assert ended.seconds < REFUSED_WITHIN
    assert not fake_discord.gateway.identifies  # it never reached the gateway


async def test_discord_unreachable_at_start_is_tried_three_times_then_exit_1(
    tmp_path: Path, meibel_server: DevServer
) -> None:
    port = closed_port()
    env = env_for(tmp_path, meibel_server, DISCORD_TOKEN="a.b.c", **FAST_RETRIES)
    args = discord_cli(f"http://127.0.0.1:{port}/api/v10", f"ws://127.0.0.1:{port}/")
    ended = await run_until_exit(args, env=env, cwd=tmp_path)
    assert_one_clear_line(
        ended, code=1, says=["cannot reach Discord", "connection refused", "after 3 tries"]
    )
    assert len(ended.lines) == 3


async def test_dev_server_on_an_impossible_port_says_so_in_one_line(tmp_path: Path) -> None:
    ended = await run_until_exit(
        cli("dev-server", "--port", "99999"), env=env_for(tmp_path, None), cwd=tmp_path
    )
    assert ended.code == 2, ended.stderr
    [line] = ended.lines
    assert "99999" in line and "0-65535" in line and "Traceback" not in ended.stderr


async def test_chat_with_a_redis_that_refuses_says_so_in_one_line(tmp_path: Path) -> None:
    env = env_for(tmp_path, None, REDIS_URL=f"redis://127.0.0.1:{closed_port()}")
    ended = await run_until_exit(cli("chat"), env=env, cwd=tmp_path)
    assert_one_clear_line(ended, code=1, says=["the conversation store cannot be used"])


async def read_until(
    process: asyncio.subprocess.Process,
    log: list[str],
    words: str,
    *,
    count: int = 1,
    within: float = 20,
) -> None:
    """Read the process's stderr into `log` until `count` lines hold `words`."""
    assert process.stderr is not None
    async with asyncio.timeout(within):
        while sum(words in line for line in log) < count:
            line = await process.stderr.readline()
            assert line, f"exited early: {''.join(log)}"
            log.append(line.decode())


async def stop(process: asyncio.subprocess.Process, log: list[str]) -> int:
    assert process.stderr is not None
    process.send_signal(signal.SIGTERM)
    rest = await asyncio.wait_for(process.stderr.read(), 30)
    log.append(rest.decode())
    return await asyncio.wait_for(process.wait(), 10)


async def test_slack_socket_mode_reconnects_after_losing_its_connection(
    tmp_path: Path, slack_api: FakeSlack, meibel_server: DevServer
) -> None:
    env = slack_env(tmp_path, meibel_server, slack_api.base_url, socket_mode=True, LOG_LEVEL="INFO")
    process = await start(cli("slack"), env=env, cwd=tmp_path)
    log: list[str] = []
    try:
        await read_until(process, log, "Socket Mode: connected")
        opened = len(slack_api.calls_to("apps.connections.open"))
        await slack_api.drop_sockets()
        await slack_api.wait_for("apps.connections.open", count=opened + 1, timeout=30)
        await slack_api.wait_for_socket(timeout=20)
        assert process.returncode is None
        code = await stop(process, log)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    text = "".join(log)
    assert code == 0, text
    assert "Traceback" not in text, text
    [dropped] = [line for line in text.splitlines() if "Reconnecting" in line]
    assert " INFO " in dropped  # one line for the attempt, not an error


async def test_discord_reconnects_after_losing_the_gateway(
    tmp_path: Path, fake_discord: FakeDiscord, meibel_server: DevServer
) -> None:
    env = env_for(tmp_path, meibel_server, DISCORD_TOKEN=fake_discord.token, LOG_LEVEL="INFO")
    args = discord_cli(fake_discord.api_base, fake_discord.gateway_url)
    process = await start(args, env=env, cwd=tmp_path)
    log: list[str] = []
    try:
        await fake_discord.gateway.wait_identified(within=20)
        await fake_discord.gateway.close_all()
        # discord.py tries to resume; the fake refuses, so it identifies afresh.
        await read_until(process, log, "has connected to Gateway", count=2, within=30)
        assert len(fake_discord.gateway.identifies) == 2
        assert process.returncode is None
        code = await stop(process, log)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    text = "".join(log)
    assert code == 0, text
    assert "Traceback" not in text, text


async def test_an_unforeseen_error_is_logged_once_at_error_and_exits_1(
    tmp_path: Path, fake_discord: FakeDiscord, meibel_server: DevServer
) -> None:
    # A gateway payload discord.py cannot parse (it raises KeyError deep inside itself).
    env = env_for(tmp_path, meibel_server, DISCORD_TOKEN=fake_discord.token, LOG_LEVEL="INFO")
    args = discord_cli(fake_discord.api_base, fake_discord.gateway_url)
    process = await start(args, env=env, cwd=tmp_path)
    try:
        await fake_discord.gateway.wait_identified(within=20)
        await fake_discord.gateway.dispatch("MESSAGE_CREATE", {"id": "1"})
        assert process.stderr is not None
        err = (await asyncio.wait_for(process.stderr.read(), 30)).decode()
        code = await asyncio.wait_for(process.wait(), 10)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert code == 1, err
    [logged] = [line for line in err.splitlines() if " ERROR " in line]
    assert "stopped by an unexpected error" in logged
    assert err.count("Traceback") == 1, err
