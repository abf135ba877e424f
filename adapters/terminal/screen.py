"""Where the chat writes: a rich terminal (spinner, live Markdown) or plain lines for pipes.

`RichScreen` draws an answer in place while it streams, at most `FPS` times a second
however many pieces arrive, and holds log lines back until the answer is drawn.
`PlainScreen` writes each answer once, whole, when it is final: see adapters.terminal.chat
for that stable format.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Protocol, TextIO

from rich.console import Console, ConsoleOptions, RenderResult
from rich.live import Live
from rich.segment import Segment
from rich.spinner import Spinner
from rich.text import Text

from adapters.terminal.render import answer_view, clean, markdown, notice, plain
from bot.domain import Answer, Final, PartialText, Progress, Update

FPS = 10
THINKING = "Thinking..."


class Screen(Protocol):
    def notice(self, text: str, *, hint: bool = False) -> None: ...

    def prompt(self) -> None: ...

    def end_of_input(self) -> None: ...

    async def answer(self, updates: AsyncIterator[Update]) -> Answer: ...


async def final_of(updates: AsyncIterator[Update]) -> Answer:
    """The Final answer of a stream, iterated to its end so the pipeline frees the thread."""
    answer: Answer | None = None
    async for update in updates:
        if isinstance(update, Final):
            answer = update.answer
    if answer is None:
        raise RuntimeError("the pipeline's stream ended without a final answer")
    return answer


class PlainScreen:
    """Plain lines on a pipe or file: no colour, no spinner, no redraws, no progress."""

    def __init__(self, out: TextIO) -> None:
        self.out = out

    def notice(self, text: str, *, hint: bool = False) -> None:
        self._write(f"(hint) {clean(text)}" if hint else clean(text))

    def prompt(self) -> None:
        pass

    def end_of_input(self) -> None:
        pass

    async def answer(self, updates: AsyncIterator[Update]) -> Answer:
        answer = await final_of(updates)
        self._write(f"meibel> {plain(answer)}")
        return answer

    def _write(self, text: str) -> None:
        # One write per block: a log line on a shared stderr can fall between answers,
        # never inside one.
        self.out.write(text + "\n\n")
        self.out.flush()


class RichScreen:
    """A terminal: Markdown with colours, a spinner with the agent's activity, live text."""

    def __init__(self, console: Console, *, verbose: bool = False) -> None:
        self.console = console
        self.logs = LogGate(show=verbose)
        self.frames = 0  # redraws of the last answer, for tests and curiosity

    def notice(self, text: str, *, hint: bool = False) -> None:
        self.console.print(notice(text, style="yellow" if hint else "dim"))
        self.console.print()

    def prompt(self) -> None:
        self.console.print(Text("you> ", style="bold green"), end="")

    def end_of_input(self) -> None:
        self.console.print()  # Ctrl-D: the shell's prompt starts on a line of its own

    async def answer(self, updates: AsyncIterator[Update]) -> Answer:
        view = _Streaming()
        self.frames = 0
        self.console.print()
        with self.logs.holding_back():
            live = Live(
                view,
                console=self.console,
                auto_refresh=False,
                transient=True,
                redirect_stdout=False,
                redirect_stderr=False,
                vertical_overflow="crop",
            )
            with live:
                ticker = asyncio.create_task(self._tick(live, view))
                try:
                    answer = await self._follow(updates, view)
                finally:
                    ticker.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await ticker
            # The live region (spinner or text so far) is gone; the answer takes its place.
            self.console.print(answer_view(answer))
            self.console.print()
        return answer

    async def _follow(self, updates: AsyncIterator[Update], view: _Streaming) -> Answer:
        answer: Answer | None = None
        async for update in updates:
            if isinstance(update, PartialText):
                view.latest, view.dirty = update, True  # read at the next frame, not now
            elif isinstance(update, Progress):
                view.spinner.update(text=Text(clean(update.text), style="cyan"))
            elif isinstance(update, Final):
                answer = update.answer
        if answer is None:
            raise RuntimeError("the pipeline's stream ended without a final answer")
        return answer

    async def _tick(self, live: Live, view: _Streaming) -> None:
        """Redraw at most FPS times a second, only when there is something new to show."""
        while True:
            if view.dirty or view.latest is None:  # the spinner moves on its own
                view.dirty = False
                live.refresh()
                self.frames += 1
            await asyncio.sleep(1 / FPS)


class _Streaming:
    """The live region: the spinner until text arrives, then the text's last screenful."""

    def __init__(self) -> None:
        self.spinner = Spinner("dots", text=Text(THINKING, style="cyan"), style="cyan")
        self.latest: PartialText | None = None
        self.dirty = False

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        if self.latest is None:
            yield self.spinner
            return
        lines = console.render_lines(markdown(self.latest.text), options, pad=False)
        # Only what fits: a taller live region could not be redrawn in place.
        for line in lines[-max(1, console.height - 2) :]:
            yield from line
            yield Segment.line()


class LogGate:
    """Log lines in a terminal: hidden (the default), or held while an answer is drawn.

    Logging (bot.logs) writes to stderr, which shares the terminal with the answer; a line
    written while the spinner or the streamed text is on screen would tear it apart.
    """

    def __init__(self, *, show: bool) -> None:
        self.show = show
        self.holding = False
        self.records: list[tuple[logging.Handler, logging.LogRecord]] = []
        self._installed: list[tuple[logging.Handler, logging.Filter]] = []

    @contextlib.contextmanager
    def installed(self) -> Iterator[None]:
        """Gate every handler of the root logger for the length of the chat."""
        for handler in logging.getLogger().handlers:
            gate = _Gate(self, handler)
            handler.addFilter(gate)
            self._installed.append((handler, gate))
        try:
            yield
        finally:
            self.release()
            for gated, added in self._installed:
                gated.removeFilter(added)
            self._installed.clear()

    @contextlib.contextmanager
    def holding_back(self) -> Iterator[None]:
        self.holding = True
        try:
            yield
        finally:
            self.release()

    def release(self) -> None:
        self.holding = False
        held, self.records = self.records, []
        for handler, record in held:
            handler.handle(record)


class _Gate(logging.Filter):
    def __init__(self, gate: LogGate, handler: logging.Handler) -> None:
        super().__init__()
        self.gate, self.handler = gate, handler

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.gate.show:
            return False
        if self.gate.holding:
            self.gate.records.append((self.handler, record))
            return False
        return True


def rich_console(out: TextIO, *, no_color: bool, force_terminal: bool | None = None) -> Console:
    """The chat's console: agent text is never read as rich markup, emoji codes or the like."""
    return Console(
        file=out,
        no_color=no_color,
        force_terminal=force_terminal,
        markup=False,
        emoji=False,
        highlight=False,
        soft_wrap=False,
    )
