"""`meibel-bot chat`, `demo` and `check` as a user runs them: a real process, real HTTP."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from bot.devserver import DevServer
from tests.fixtures.meibel import DEV_KEY

SCRIPT = Path(sys.executable).parent / "meibel-bot"


def command() -> list[str]:
    return [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "adapters.cli"]


def clean_env(tmp_path: Path, **settings: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(
            ("MEIBEL_", "SLACK_", "DISCORD_", "REDIS_", "AGENT_", "SESSION_", "STREAMING")
        )
    }
    env.update({"MEIBEL_BOT_DB": str(tmp_path / "bot.db"), **settings})
    return env


async def run(
    args: list[str], *, env: dict[str, str], cwd: Path, stdin: str = ""
) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        *command(),
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        cwd=cwd,
    )
    out, err = await asyncio.wait_for(process.communicate(stdin.encode()), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def server_env(server: DevServer, tmp_path: Path, **extra: str) -> dict[str, str]:
    settings = {
        "MEIBEL_API_KEY": DEV_KEY,
        "MEIBEL_BASE_URL": server.base_url,
        "MEIBEL_AGENT_NAME": "helpdesk",
        **extra,
    }
    return clean_env(tmp_path, **settings)


async def test_chat_shows_answer_sources_and_follow_ups_in_one_session(
    meibel_server: DevServer, tmp_path: Path
) -> None:
    code, out, err = await run(
        ["chat"],
        env=server_env(meibel_server, tmp_path),
        cwd=tmp_path,
        stdin="How do I reset my password?\n1\n",
    )
    assert code == 0, err
    assert 'You asked: "How do I reset my password?"' in out
    assert "Sources:" in out and "[1] " in out and "<https://" in out
    assert "Follow-ups (type a number to ask one):" in out
    [session] = meibel_server.sessions.values()
    first_follow_up = session.turns[0]  # typing "1" asked the first follow-up
    assert len(session.user_messages) == 2
    assert session.user_messages[1] != "1"
    assert f'You asked: "{session.user_messages[1]}"' in out
    assert first_follow_up.user_message == "How do I reset my password?"
    assert "Traceback" not in err


async def test_chat_new_starts_another_session(meibel_server: DevServer, tmp_path: Path) -> None:
    code, out, _ = await run(
        ["chat"], env=server_env(meibel_server, tmp_path), cwd=tmp_path, stdin="a\n/new\nb\n"
    )
    assert code == 0
    assert "Started a new conversation." in out
    assert sorted(s.user_messages for s in meibel_server.sessions.values()) == [["a"], ["b"]]


async def test_chat_retries_and_replaces_lost_sessions(
    meibel_server: DevServer, tmp_path: Path
) -> None:
    meibel_server.queue_responses(429, times=1, headers={"Retry-After": "0"})
    meibel_server.queue_responses(503, times=1)
    code, out, _ = await run(
        ["chat"], env=server_env(meibel_server, tmp_path), cwd=tmp_path, stdin="first\n"
    )
    assert code == 0 and 'You asked: "first"' in out
    assert len(meibel_server.chat_requests()) == 3


async def test_chat_explains_a_bad_key_without_a_traceback(
    meibel_server: DevServer, tmp_path: Path
) -> None:
    env = server_env(meibel_server, tmp_path, MEIBEL_API_KEY="sk-not-the-right-key")
    code, out, err = await run(["chat"], env=env, cwd=tmp_path, stdin="hello\n")
    assert code == 1  # piped: a failed answer fails the run, for scripts
    assert out.startswith("meibel> (error) ") and "API key was refused" in out
    assert "sk-not-the-right-key" not in out + err
    assert "Traceback" not in out + err


async def test_missing_settings_are_listed_one_line_each(tmp_path: Path) -> None:
    code, _, err = await run(["chat"], env=clean_env(tmp_path), cwd=tmp_path)
    assert code == 2
    assert "MEIBEL_API_KEY is not set" in err
    assert "MEIBEL_AGENT_ID or MEIBEL_AGENT_NAME is not set" in err
    assert "Traceback" not in err


async def test_invalid_settings_stop_start_up_without_a_traceback(tmp_path: Path) -> None:
    env = clean_env(tmp_path, MEIBEL_TIMEOUT_SECONDS="ten", REDIS_URL="mysql://x")
    code, _, err = await run(["chat"], env=env, cwd=tmp_path)
    assert code == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 2
    assert lines[0].startswith("meibel-bot: MEIBEL_TIMEOUT_SECONDS is invalid")
    assert lines[1].startswith("meibel-bot: REDIS_URL is invalid")


async def test_demo_needs_no_credentials(tmp_path: Path) -> None:
    code, out, err = await run(
        ["demo"], env=clean_env(tmp_path), cwd=tmp_path, stdin="What can you do?\n"
    )
    assert code == 0, err
    assert 'You asked: "What can you do?"' in out
    assert "Sources:" in out
    assert "\x1b" not in out  # piped: plain text, whatever the terminal type


async def test_check_masks_secrets_and_passes(meibel_server: DevServer, tmp_path: Path) -> None:
    code, out, _ = await run(["check"], env=server_env(meibel_server, tmp_path), cwd=tmp_path)
    assert code == 0, out
    assert DEV_KEY not in out
    assert "MEIBEL_API_KEY = " in out and "reachable, and the API key is accepted" in out
    assert "MEIBEL_AGENT_NAME = helpdesk (needed: this or MEIBEL_AGENT_ID)" in out


async def test_check_fails_and_says_what_is_missing(
    meibel_server: DevServer, tmp_path: Path
) -> None:
    env = server_env(meibel_server, tmp_path, MEIBEL_API_KEY="sk-wrong-wrong-wrong")
    code, out, _ = await run(["check"], env=env, cwd=tmp_path)
    assert code == 1
    assert "the API key was refused" in out
    assert "sk-wrong-wrong-wrong" not in out


@pytest.mark.parametrize("dead_url", ["redis://:sekrit@127.0.0.1:1/0"])
async def test_check_reports_an_unreachable_store(
    meibel_server: DevServer, tmp_path: Path, dead_url: str
) -> None:
    code, out, _ = await run(
        ["check"], env=server_env(meibel_server, tmp_path, REDIS_URL=dead_url), cwd=tmp_path
    )
    assert code == 1
    assert "cannot use the store" in out
    assert "sekrit" not in out


async def test_piped_chat_writes_each_streamed_answer_once_whole_and_plain(
    meibel_server: DevServer, tmp_path: Path
) -> None:
    meibel_server.stream_chunk_delay_seconds = 0.01
    code, out, err = await run(
        ["chat"],
        env=server_env(meibel_server, tmp_path, LOG_LEVEL="INFO", TERM="xterm-256color"),
        cwd=tmp_path,
        stdin="hello\n",
    )
    assert code == 0
    assert [r.path.rsplit("/", 1)[-1] for r in meibel_server.chat_requests()] == ["stream"]
    assert out.startswith('meibel> ## Answer 1: hello\n\nYou asked: "hello"\n')
    assert out.count('You asked: "hello"') == 1  # streamed, yet written once
    assert out.index('You asked: "hello"') < out.index("\n\nSources:\n  [1] ")
    assert "\x1b" not in out and "Searching" not in out  # no ANSI codes, no progress lines
    assert out.endswith("  3) Where is turn 1 documented?\n\n")
    assert "answered in" in err and "answered in" not in out  # logs on stderr only


async def test_piped_chat_hints_instead_of_asking_and_strips_agent_escapes(
    meibel_server: DevServer, tmp_path: Path
) -> None:
    question = "say \x1b]0;PWNED\x07 \x1b[31mred\x1b[0m \x9b2J and [red]x[/red]"
    code, out, _ = await run(
        ["chat"],
        env=server_env(meibel_server, tmp_path),
        cwd=tmp_path,
        stdin=f"{question}\n9\na9\n/foo\n/help\n2\n",
    )
    assert code == 0
    [session] = meibel_server.sessions.values()
    assert session.user_messages[0] == question  # sent as typed: only the output is cleaned
    assert len(session.user_messages) == 2  # 9, a9, /foo and /help were not sent
    assert session.user_messages[1].startswith("What should I do next about say")
    assert 'You asked: "say  red  and [red]x[/red]"' in out
    assert "PWNED" not in out and "\x1b" not in out and "\x9b" not in out
    assert "(hint) There is no follow-up 9. Type 1-3 to ask a follow-up" in out
    assert "(hint) There is no action a9. Type 1-3 to ask a follow-up, a1-a3" in out
    assert "(hint) Unknown command /foo. Commands: /new, /help, /quit." in out
    assert "  /new         start a new conversation" in out


async def test_piped_chat_exits_1_when_any_answer_failed(
    meibel_server: DevServer, tmp_path: Path
) -> None:
    meibel_server.faults.error_rate = 1.0  # every chat answered 503, retries included
    code, out, err = await run(
        ["chat"], env=server_env(meibel_server, tmp_path), cwd=tmp_path, stdin="hi\n"
    )
    assert code == 1, out
    assert out.startswith("meibel> (error) ") and "Traceback" not in out + err


async def test_streaming_off_uses_plain_chat(meibel_server: DevServer, tmp_path: Path) -> None:
    env = server_env(meibel_server, tmp_path, STREAMING="off")
    code, out, _ = await run(["chat"], env=env, cwd=tmp_path, stdin="hello\n")
    assert code == 0 and 'You asked: "hello"' in out and "Searching" not in out
    assert [r.path.rsplit("/", 1)[-1] for r in meibel_server.chat_requests()] == ["chat"]


async def test_run_without_any_platform_says_what_to_set(
    meibel_server: DevServer, tmp_path: Path
) -> None:
    code, _, err = await run(["run"], env=server_env(meibel_server, tmp_path), cwd=tmp_path)
    assert code == 2
    assert "no platform is configured" in err and "SLACK_BOT_TOKEN" in err
    assert "DISCORD_TOKEN" in err and "Traceback" not in err
