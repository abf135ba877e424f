"""`meibel-bot demo` and `chat` in a pseudo-terminal: what a person sees on screen."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.devserver import DevServer
from tests.fixtures.meibel import DEV_KEY, serve_in_thread
from tests.terminal.tty import Tty, colour_codes, tty_env

TIP = "to ask a follow-up"  # the last line of an answer's block of choices


@pytest.fixture
def spawned() -> Iterator[list[Tty]]:
    """Processes a test started; killed if the test failed before they ended."""
    started: list[Tty] = []
    yield started
    for tty in started:
        tty.kill()


def start(spawned: list[Tty], args: list[str], *, env: dict[str, str], cwd: Path) -> Tty:
    tty = Tty(args, env=env, cwd=cwd)
    spawned.append(tty)
    tty.wait_prompt()
    return tty


def test_demo_renders_markdown_in_colour_and_hints_instead_of_asking(
    spawned: list[Tty], tmp_path: Path
) -> None:
    tty = start(spawned, ["demo"], env=tty_env(tmp_path), cwd=tmp_path)
    turn = tty.ask("How do I reset my password?", until=TIP)
    assert colour_codes(turn), "the answer has no colour"

    for line, hint in [
        ("9", "There is no follow-up 9. Type 1-3 to ask a follow-up"),
        ("a9", "There is no action a9."),
        ("/foo", "Unknown command /foo. Commands: /new, /help, /quit."),
        ("/help", "/new         start a new conversation"),
    ]:
        tty.ask(line, until=hint)
    code = tty.end_input()

    lines, cursor_column = tty.screen()
    text = "\n".join(lines)
    assert "**" not in text and "##" not in text and "```" not in text
    assert "Answer 1: How do I reset my password" in lines  # the heading, left flush
    assert "This is turn 1 of this session, answered by the Meibel dev server." in text
    assert " • The question has 6 word(s)." in lines
    assert "Read more in the Meibel docs (https://docs.meibel.ai)." in lines  # the URL shows
    assert " print('turn 1')" in lines  # the fence's code, without the fence
    assert "Follow-ups   1 Can you explain How do I reset my password in more detail?" in lines
    assert "             3 Where is turn 1 documented?" in lines
    assert "Actions     a1 Open the docs  https://docs.meibel.ai" in lines
    assert "Sources    [1] Meibel documentation: Sessions  https://docs.meibel.ai/sessions" in lines
    assert "Answer 2" not in text  # 9, a9, /foo and /help never reached the agent
    assert not any("Thinking..." in line for line in lines)  # the spinner left no trace
    assert "Thinking..." in tty.output  # but it was there while the agent worked
    assert lines[-1] == "you>" and cursor_column == 0  # Ctrl-D: the shell starts a new line
    assert code == 0


def test_no_color_keeps_the_rendering_and_drops_the_colours(
    spawned: list[Tty], tmp_path: Path
) -> None:
    tty = start(spawned, ["demo"], env=tty_env(tmp_path, NO_COLOR=""), cwd=tmp_path)
    turn = tty.ask("What can you do?", until=TIP)
    assert tty.end_input() == 0
    assert colour_codes(tty.output) == []
    assert "\x1b[1m" in turn  # bold is not a colour: NO_COLOR keeps it
    lines, _ = tty.screen()
    assert "Answer 1: What can you do" in lines and "**" not in "\n".join(lines)


def test_chat_hides_logs_and_shows_agent_text_literally(spawned: list[Tty], tmp_path: Path) -> None:
    # The dev server answers with the question quoted: an agent that writes escapes and markup.
    question = "say \x1b]0;PWNED\x07 \x1b[5mblink\x1b[0m and [red]x[/red] \x1b[2J"
    with serve_in_thread(stream_chunk_delay_seconds=0.05) as server:
        env = tty_env(
            tmp_path,
            MEIBEL_API_KEY=DEV_KEY,
            MEIBEL_BASE_URL=server.base_url,
            MEIBEL_AGENT_NAME="helpdesk",
            LOG_LEVEL="INFO",
        )
        tty = start(spawned, ["chat"], env=env, cwd=tmp_path)
        turn = tty.ask(question, until=TIP)
        assert tty.end_input() == 0
        assert _streamed(server)
    lines, _ = tty.screen()
    # Rich markup is shown as written; the escapes are gone, on the streamed and final paths.
    assert 'You asked: "say  blink and [red]x[/red] "' in lines
    shown = turn[turn.index("Thinking...") :]  # what came after the terminal's echo
    assert "PWNED" not in shown and "\x1b[5m" not in shown and "\x1b[2J" not in shown
    assert not any(" INFO " in line for line in lines)  # LOG_LEVEL=INFO, yet no log lines


def _streamed(server: DevServer) -> bool:
    return [r.path.rsplit("/", 1)[-1] for r in server.chat_requests()] == ["stream"]
