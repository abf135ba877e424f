"""`meibel-bot` in a pseudo-terminal, as a person runs it, and the screen they would see.

pexpect drives the process through a real pty (so it sees a TTY on stdin and stdout);
pyte, a terminal emulator, replays everything it wrote, cursor moves and redraws
included, so tests assert on the screen rather than on the bytes.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pexpect
import pyte

ROWS, COLS = 40, 100
TIMEOUT = 10.0  # seconds for any one expected line; the demo starts in about one
PROMPT = "you> "

_SGR = re.compile(r"\x1b\[([0-9;]*)m")
_COLOUR_PARAMS = {
    *range(30, 39),
    *range(40, 49),
    *range(90, 98),
    *range(100, 108),
}


def tty_env(tmp_path: Path, **settings: str) -> dict[str, str]:
    """The user's environment without the bot's settings, colour hints or log level."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(
            ("MEIBEL_", "SLACK_", "DISCORD_", "REDIS_", "AGENT_", "SESSION_", "STREAMING")
        )
        and k not in ("NO_COLOR", "FORCE_COLOR", "LOG_LEVEL", "COLUMNS", "LINES")
    }
    env.update(TERM="xterm-256color", MEIBEL_BOT_DB=str(tmp_path / "bot.db"), **settings)
    return env


class Tty:
    """One `meibel-bot` process on a pty; everything it writes is kept in `output`."""

    def __init__(self, args: list[str], *, env: dict[str, str], cwd: Path) -> None:
        self.chunks: list[str] = []
        self.child = pexpect.spawn(
            sys.executable,
            ["-m", "adapters.cli", *args],
            env=env,
            cwd=str(cwd),
            dimensions=(ROWS, COLS),
            encoding="utf-8",
            codec_errors="replace",
            timeout=TIMEOUT,
        )
        self.child.logfile_read = self

    # pexpect's logfile protocol: every byte read from the pty comes through here.
    def write(self, data: str) -> None:
        self.chunks.append(data)

    def flush(self) -> None:
        pass

    @property
    def output(self) -> str:
        return "".join(self.chunks)

    def wait_prompt(self) -> None:
        self.child.expect_exact(PROMPT)

    def ask(self, line: str, *, until: str) -> str:
        """Type a line; wait for `until`, then the next prompt. The output of that turn."""
        start = len(self.output)
        self.child.sendline(line)
        self.child.expect_exact(until)
        self.wait_prompt()
        return self.output[start:]

    def end_input(self) -> int:
        """Ctrl-D, as a person ends the chat; the exit code."""
        self.child.sendeof()
        self.child.expect(pexpect.EOF)
        self.child.close()
        assert self.child.exitstatus is not None, self.child.signalstatus
        return int(self.child.exitstatus)

    def kill(self) -> None:
        if self.child.isalive():
            self.child.terminate(force=True)

    def screen(self) -> tuple[list[str], int]:
        """The lines on screen (a tall one, so nothing scrolls away) and the cursor column."""
        screen = pyte.Screen(COLS, 400)
        pyte.Stream(screen).feed(self.output)
        lines = [line.rstrip() for line in screen.display]
        while lines and not lines[-1]:
            lines.pop()
        return lines, screen.cursor.x


def colour_codes(output: str) -> list[str]:
    """The SGR sequences in `output` that set a colour (bold, dim, underline are not)."""
    found = []
    for params in _SGR.findall(output):
        numbers = [int(p) for p in params.split(";") if p]
        if any(n in _COLOUR_PARAMS for n in numbers):
            found.append(params)
    return found
