"""The rich screen in-process: frame rate, the activity line, log lines, untrusted text."""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import re
import time
from collections.abc import AsyncIterator, Iterator

import pyte
import pytest

from adapters.terminal.render import answer_view, clean
from adapters.terminal.screen import FPS, RichScreen, rich_console
from bot.domain import Answer, Final, PartialText, Progress, Source, Update

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def shown(output: str) -> list[str]:
    """The screen after replaying `output` (80 columns, tall enough that nothing scrolls)."""
    screen = pyte.Screen(80, 300)
    pyte.Stream(screen).feed(output.replace("\n", "\r\n"))
    return [line.rstrip() for line in screen.display if line.strip()]


def terminal() -> tuple[io.StringIO, RichScreen]:
    out = io.StringIO()
    console = rich_console(out, no_color=False, force_terminal=True)
    console.size = (80, 24)
    return out, RichScreen(console)


async def until(condition: str, out: io.StringIO, *, within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while condition not in out.getvalue():
        assert time.monotonic() < deadline, f"{condition!r} never drawn"
        await asyncio.sleep(0.01)


async def test_many_small_pieces_cost_at_most_ten_frames_a_second() -> None:
    out, screen = terminal()
    words = [f"word{i} " for i in range(500)]

    async def updates() -> AsyncIterator[Update]:
        yield Progress("Searching the knowledge base...")
        await until("Searching the knowledge base...", out)  # the spinner shows the activity
        text = ""
        for word in words:
            text += word
            yield PartialText(text)
            await asyncio.sleep(0.002)  # a piece every 2 ms: 50 pieces per frame
        yield Final(Answer(text=text + "**done**", sources=(Source("Doc", "https://d.example"),)))

    started = time.monotonic()
    answer = await screen.answer(updates())
    elapsed = time.monotonic() - started
    assert answer.text.endswith("**done**")
    assert screen.frames <= elapsed * FPS + 2, (screen.frames, elapsed)
    assert screen.frames >= 3  # the text was redrawn in place as it grew
    lines = shown(out.getvalue())
    assert not any("Searching" in line for line in lines)  # the activity line is gone
    assert lines[-3].endswith("word499 done")  # the final text, rendered: no "**"
    assert lines[-1] == "Sources    [1] Doc  https://d.example"


async def test_an_answer_taller_than_the_terminal_ends_on_screen_whole_and_once() -> None:
    out, screen = terminal()
    screen.console.size = (60, 10)  # the live region keeps to the last 8 lines

    async def updates() -> AsyncIterator[Update]:
        text = ""
        for i in range(30):
            text += f"- item {i}\n"
            yield PartialText(text)
            await asyncio.sleep(0.02)
        yield Final(Answer(text=text))

    await screen.answer(updates())
    assert screen.frames >= 3
    assert shown(out.getvalue()) == [f" • item {i}" for i in range(30)]


class Witness(logging.Handler):
    """A root log handler, as bot.logs installs one, that notes whether the answer was
    already on screen when each line reached it."""

    def __init__(self, out: io.StringIO) -> None:
        super().__init__()
        self.out = out
        self.seen: list[tuple[str, bool]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.seen.append((record.getMessage(), "the whole answer" in self.out.getvalue()))


@contextlib.contextmanager
def witnessed(out: io.StringIO) -> Iterator[Witness]:
    witness = Witness(out)
    root = logging.getLogger()
    level = root.level
    root.addHandler(witness)
    root.setLevel(logging.INFO)
    try:
        yield witness
    finally:
        root.removeHandler(witness)
        root.setLevel(level)


async def answer_while_logging(screen: RichScreen) -> None:
    async def updates() -> AsyncIterator[Update]:
        logging.getLogger("bot.pipeline").warning("mid-answer")
        yield PartialText("half")
        yield Final(Answer(text="the whole answer"))

    with screen.logs.installed():
        await screen.answer(updates())
        logging.getLogger("bot.pipeline").warning("between answers")


async def test_logs_are_hidden_in_a_terminal() -> None:
    out, screen = terminal()
    with witnessed(out) as witness:
        await answer_while_logging(screen)
    assert witness.seen == []
    assert "mid-answer" not in out.getvalue() and "the whole answer" in out.getvalue()


async def test_verbose_logs_wait_until_the_answer_is_drawn() -> None:
    out, screen = terminal()
    screen.logs.show = True
    with witnessed(out) as witness:
        await answer_while_logging(screen)
    assert witness.seen == [("mid-answer", True), ("between answers", True)]


def test_agent_markup_and_escapes_are_shown_literally_or_dropped() -> None:
    out = io.StringIO()
    console = rich_console(out, no_color=False, force_terminal=True)
    text = "[red]x[/red] [link=https://evil.example]y[/link] :smile: \x1b[31mz\x1b[0m\x1b]8;;u\x07"
    console.print(answer_view(Answer(text=text, follow_ups=("[bold]f[/bold]\x1b[2J",))))
    output = out.getvalue()
    plain = ANSI.sub("", output)
    assert "[red]x[/red] [link=https://evil.example]y[/link] :smile: z" in plain
    assert "[bold]f[/bold]" in plain
    assert "\x1b[31m" not in output and "\x1b]8" not in output and "\x1b[2J" not in output


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("a\x1b[31mb\x1b[0m", "ab"),  # CSI colour
        ("a\x1b]0;title\x07b", "ab"),  # OSC window title, BEL-terminated
        ("a\x1b]8;;https://x\x1b\\b", "ab"),  # OSC 8 hyperlink, ST-terminated
        ("a\x1bPq#0\x1b\\b", "ab"),  # DCS
        ("a\x9b2Jb", "ab"),  # 8-bit CSI
        ("a\x1b", "a"),  # a lone ESC at the end of a streamed piece
        ("a\x1b]0;unterminated", "a"),
        ("a\rb\x08c\x07d\x00e\x7f", "abcde"),  # C0 and DEL
        ("line\r\nnext\ttab", "line\nnext\ttab"),  # newline and tab stay
        ("\u00e9\u4e2d\U0001f600", "\u00e9\u4e2d\U0001f600"),  # printable Unicode stays
    ],
)
def test_clean_removes_control_sequences(raw: str, expected: str) -> None:
    assert clean(raw) == expected
