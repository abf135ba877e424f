"""`meibel-bot chat` and `demo`: a conversation in the terminal through the same pipeline as Slack.

In a terminal (stdin and stdout both TTYs) answers are rendered with rich: Markdown with
colours, a spinner with the agent's activity, the text updating in place as it streams.
`NO_COLOR` (set to anything) turns colour off. Log lines are hidden unless `verbose`, and
then held back while an answer is drawn.

Piped (stdin or stdout not a TTY) the output is plain text for scripts, in this stable
format, one block per input line, each block followed by one empty line:

    meibel> <the answer's Markdown, as the agent wrote it>
    <empty line>
    Sources:
      [1] <title> <<url>>          (the url part only when there is one)
    Files:
      - <filename> (<url> | <N> characters of text)
    Actions (type a1, a2, ... to ask the agent to do one):
      a1) <label> <<url>>
    Follow-ups (type a number to ask one):
      1) <question>

Sections appear only when the answer has them, in that order, an empty line between them.
A failure is one block `meibel> (error) <text>`; a usage hint `(hint) <text>`, or
`meibel> (hint) <text>` when it came from the agent's side. Each answer is written whole once
it is complete: no progress lines, no partial text, no ANSI codes, control characters
removed. The exit code is 1 when any answer was a failure, else 0; interactive runs exit 0.
"""

from __future__ import annotations

import asyncio
import getpass
import os
import re
import sys
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import TextIO

from adapters.terminal.render import choice_tip
from adapters.terminal.screen import PlainScreen, RichScreen, Screen, rich_console
from bot.domain import Answer, AnswerKind, Final, Question, Update
from bot.pipeline import Pipeline

COMMANDS = (
    ("1, 2, ...", "ask that follow-up"),
    ("a1, a2, ...", "ask the agent to do that action"),
    ("/new", "start a new conversation"),
    ("/help", "show this list"),
    ("/quit", "leave (so does Ctrl-D)"),
)
HELP = "Commands:\n" + "\n".join(f"  {name:<12} {what}" for name, what in COMMANDS)
WELCOME = "Type a question and press Enter. /help lists the commands; Ctrl-D leaves."
# "/new" is a command; "/etc/hosts is missing" is a question.
_COMMAND = re.compile(r"^/[A-Za-z][\w-]*$")
_ACTION = re.compile(r"^a(\d+)$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Ask:
    """Send this text to the agent."""

    text: str


@dataclass(frozen=True, slots=True)
class Hint:
    """Tell the user this, send nothing."""

    text: str


class TerminalChat:
    """One terminal conversation; `/new` starts another thread (and so another session)."""

    def __init__(
        self,
        pipeline: Pipeline,
        *,
        screen: Screen,
        interactive: bool,
        streaming: bool = True,
        user: str | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.screen = screen
        self.interactive = interactive
        self.streaming = streaming
        self.user = user or _user_name()
        self.thread = uuid.uuid4().hex
        self.last: Answer | None = None
        self.failed = False

    def question(self, text: str) -> Question:
        return Question(
            platform="terminal",
            workspace="local",
            channel=self.user,
            thread=self.thread,
            user=self.user,
            text=text,
        )

    def resolve(self, line: str) -> Ask | Hint:
        """What an input line means: a question, a follow-up by number, an action by aN."""
        choice = line.strip()
        follow_ups = self.last.follow_ups if self.last else ()
        actions = self.last.actions if self.last else ()
        if choice.isdigit() and follow_ups:
            index = int(choice)
            if 1 <= index <= len(follow_ups):
                return Ask(follow_ups[index - 1])
            return Hint(f"There is no follow-up {index}. {_tip(self.last)}")
        if match := _ACTION.match(choice):
            index = int(match.group(1))
            if 1 <= index <= len(actions):
                action = actions[index - 1]
                return Ask(f"Please do this: {action.label} ({action.action})")
            if not actions:
                return Hint(f"The last answer offered no actions, so there is no {choice}.")
            return Hint(f"There is no action {choice}. {_tip(self.last)}")
        return Ask(choice)

    async def handle(self, line: str) -> bool:
        """Answer one input line; False when the user asked to leave."""
        command = line.strip().lower()
        if command in ("/quit", "/exit"):
            return False
        if command == "/new":
            self.thread, self.last = uuid.uuid4().hex, None
            self.screen.notice("Started a new conversation.")
            return True
        if command in ("/help", "?"):
            self.screen.notice(HELP)
            return True
        if _COMMAND.match(command):
            self.screen.notice(f"Unknown command {line.strip()}. {_commands()}", hint=True)
            return True
        resolved = self.resolve(line)
        if isinstance(resolved, Hint):
            self.screen.notice(resolved.text, hint=True)
            return True
        if self.interactive and resolved.text != line.strip():
            self.screen.notice(f"(asking) {resolved.text}")
        answer = await self.screen.answer(self.updates(resolved.text))
        if answer.kind is AnswerKind.ERROR:
            self.failed = True
        if answer.ok:
            self.last = answer
        return True

    def updates(self, text: str) -> AsyncIterator[Update]:
        """The pipeline's updates for a question; without streaming, only the Final."""
        if self.streaming:
            return self.pipeline.ask_stream(self.question(text))
        return self._asked(text)

    async def _asked(self, text: str) -> AsyncIterator[Update]:
        yield Final(await self.pipeline.ask(self.question(text)))


def _tip(answer: Answer | None) -> str:
    return choice_tip(answer) if answer else ""


def _commands() -> str:
    return "Commands: " + ", ".join(name for name, _ in COMMANDS if name.startswith("/")) + "."


def _user_name() -> str:
    try:
        return getpass.getuser() or "you"
    except Exception:  # no login name in some containers; a fixed name is fine locally
        return "you"


def wants_color(environ: Mapping[str, str]) -> bool:
    """False when NO_COLOR is set, to any value (https://no-color.org)."""
    return "NO_COLOR" not in environ


async def run_chat(
    pipeline: Pipeline,
    *,
    streaming: bool = True,
    verbose: bool = False,
    stdin: TextIO = sys.stdin,
    out: TextIO = sys.stdout,
) -> int:
    """Read lines until end of input or /quit. Interactive runs exit 0; piped runs exit 1
    when any answer failed. `verbose` shows log lines (on stderr) in a terminal too."""
    interactive = stdin.isatty() and out.isatty()
    screen: Screen
    if interactive:
        rich = RichScreen(rich_console(out, no_color=not wants_color(os.environ)), verbose=verbose)
        screen = rich
    else:
        screen = PlainScreen(out)
    chat = TerminalChat(pipeline, screen=screen, interactive=interactive, streaming=streaming)
    if not interactive:
        await _loop(chat, stdin)
        return 1 if chat.failed else 0
    with rich.logs.installed():
        screen.notice(WELCOME)
        await _loop(chat, stdin)
    return 0


async def _loop(chat: TerminalChat, stdin: TextIO) -> None:
    loop = asyncio.get_running_loop()
    while True:
        chat.screen.prompt()
        line = await loop.run_in_executor(None, stdin.readline)
        if not line:
            chat.screen.end_of_input()
            return
        if line.strip() and not await chat.handle(line):
            return
