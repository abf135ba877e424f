"""`meibel-bot chat`: a conversation in the terminal through the same pipeline as Slack."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import itertools
import sys
import uuid
from collections.abc import AsyncIterator
from typing import TextIO

from adapters.terminal.render import render, render_extras
from bot.domain import Answer, Final, PartialText, Progress, Question
from bot.pipeline import Pipeline

PROMPT = "you> "
HELP = (
    "Type a question and press Enter. A number asks that follow-up, a1/a2/... asks the agent "
    "to do that action, /new starts a new conversation, /quit or end of input leaves."
)


class TerminalChat:
    """One terminal conversation; `/new` starts another thread (and so another session)."""

    def __init__(
        self,
        pipeline: Pipeline,
        *,
        out: TextIO,
        interactive: bool,
        streaming: bool = True,
        user: str | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.out = out
        self.interactive = interactive
        self.streaming = streaming
        self.user = user or _user_name()
        self.thread = uuid.uuid4().hex
        self.last: Answer | None = None

    def question(self, text: str) -> Question:
        return Question(
            platform="terminal",
            workspace="local",
            channel=self.user,
            thread=self.thread,
            user=self.user,
            text=text,
        )

    def resolve(self, line: str) -> str | None:
        """What to ask for an input line: a number picks a follow-up, aN an action."""
        choice = line.strip()
        if self.last is None:
            return choice
        if choice.isdigit() and 1 <= int(choice) <= len(self.last.follow_ups):
            return self.last.follow_ups[int(choice) - 1]
        if choice[:1].lower() == "a" and choice[1:].isdigit():
            index = int(choice[1:])
            if 1 <= index <= len(self.last.actions):
                action = self.last.actions[index - 1]
                return f"Please do this: {action.label} ({action.action})"
        return choice

    async def handle(self, line: str) -> bool:
        """Answer one input line; False when the user asked to leave."""
        command = line.strip().lower()
        if command in ("/quit", "/exit"):
            return False
        if command == "/new":
            self.thread, self.last = uuid.uuid4().hex, None
            self.say("Started a new conversation.")
            return True
        if command in ("/help", "?"):
            self.say(HELP)
            return True
        text = self.resolve(line)
        if text is None:
            return True
        if self.interactive and text != line.strip():
            self.say(f"(asking) {text}")
        if self.streaming:
            answer = await self.stream(text)
        else:
            async with self.spinner():
                answer = await self.pipeline.ask(self.question(text))
            self.say(f"meibel> {render(answer)}")
        if answer.ok:
            self.last = answer
        return True

    async def stream(self, text: str) -> Answer:
        """Print the text as it arrives and each activity on its own line."""
        shown: str | None = None
        async for update in self.pipeline.ask_stream(self.question(text)):
            if isinstance(update, Progress) and shown is None:
                self.out.write(f"... {update.text}\n")
            elif isinstance(update, PartialText):
                if shown is None:
                    self.out.write("meibel> ")
                    shown = ""
                self.out.write(update.text[len(shown) :])
                shown = update.text
            elif isinstance(update, Final):
                answer = update.answer
                if shown is None:
                    self.say(f"meibel> {render(answer)}")
                    return answer
                rest = answer.text[len(shown) :] if answer.text.startswith(shown) else ""
                extras = render_extras(answer)
                self.say(rest.rstrip() + ("\n\n" + extras if extras else ""))
                return answer
            self.out.flush()
        raise RuntimeError("the pipeline's stream ended without a final answer")

    def say(self, text: str) -> None:
        self.out.write(text + "\n\n")
        self.out.flush()

    @contextlib.asynccontextmanager
    async def spinner(self) -> AsyncIterator[None]:
        if not self.interactive:
            yield
            return
        task = asyncio.create_task(_spin(self.out))
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            self.out.write("\r\x1b[K")


async def _spin(out: TextIO) -> None:
    for frame in itertools.cycle("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"):
        out.write(f"\r{frame} thinking...")
        out.flush()
        await asyncio.sleep(0.1)


def _user_name() -> str:
    try:
        return getpass.getuser() or "you"
    except Exception:  # no login name in some containers; a fixed name is fine locally
        return "you"


async def run_chat(
    pipeline: Pipeline,
    *,
    streaming: bool = True,
    stdin: TextIO = sys.stdin,
    out: TextIO = sys.stdout,
) -> int:
    """Read lines until end of input; exit 0. A spinner and prompt only on a terminal."""
    interactive = stdin.isatty() and out.isatty()
    chat = TerminalChat(pipeline, out=out, interactive=interactive, streaming=streaming)
    if interactive:
        chat.say(HELP)
    loop = asyncio.get_running_loop()
    while True:
        if interactive:
            out.write(PROMPT)
            out.flush()
        line = await loop.run_in_executor(None, stdin.readline)
        if not line:
            return 0
        if not line.strip():
            continue
        if not await chat.handle(line):
            return 0
