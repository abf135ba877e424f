"""Slack bot processes for the fleet tests, started against the fakes and a real Redis."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bot.devserver import DevServer
from tests.fixtures.meibel import DEV_KEY
from tests.fixtures.slack import BOT_TOKEN, FakeSlack
from tests.slack.conftest import SIGNING_SECRET, event_envelope, signed_headers

ROOT = Path(__file__).resolve().parents[2]


def bot_env(
    *, slack: FakeSlack, meibel: DevServer, redis_url: str, home: Path, **extra: str
) -> dict[str, str]:
    """The environment of a bot process: the fakes, Redis, HTTP mode on a free port."""
    return {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(home),
        "PYTHONPATH": str(ROOT),
        "MEIBEL_API_KEY": DEV_KEY,
        "MEIBEL_BASE_URL": meibel.base_url,
        "MEIBEL_AGENT_NAME": "helpdesk",
        "REDIS_URL": redis_url,
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.base_url,
        "PORT": "0",  # the log line tells the port
        "LOG_LEVEL": "INFO",
        **extra,
    }


@dataclass
class BotProcess:
    """`tests.slack.bot_proc` running; its output is kept in `lines` (and in `log`)."""

    process: asyncio.subprocess.Process
    log: Path
    lines: list[str] = field(default_factory=list)
    port: int = 0
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    _pump: asyncio.Task[None] | None = None

    @classmethod
    async def start(cls, *, env: dict[str, str], prefix: str, log: Path) -> BotProcess:
        """Start it and return once it listens."""
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.slack.bot_proc",
            "--prefix",
            prefix,
            cwd=log.parent,  # no .env from the repository
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        bot = cls(process, log)
        bot._pump = asyncio.create_task(bot._read_output())
        line = await bot.wait_for_line("listening on port")
        match = re.search(r"listening on port (\d+)", line)
        assert match, line
        bot.port = int(match.group(1))
        return bot

    async def _read_output(self) -> None:
        assert self.process.stdout is not None
        with self.log.open("w") as out:
            async for raw in self.process.stdout:
                line = raw.decode(errors="replace")
                out.write(line)
                async with self._changed:
                    self.lines.append(line)
                    self._changed.notify_all()
        async with self._changed:
            self._changed.notify_all()  # the end of the output: waiters look once more

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return "".join(self.lines)

    async def wait_for_line(self, text: str, *, timeout: float = 20.0) -> str:  # noqa: ASYNC109
        """The first output line holding `text`, waiting (bounded) for it."""

        def found() -> str | None:
            return next((line for line in self.lines if text in line), None)

        def ready() -> bool:
            ended = self._pump is not None and self._pump.done()
            return found() is not None or ended or self.process.returncode is not None

        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(ready)
        line = found()
        assert line is not None, f"the bot never logged {text!r}:\n{self.output()}"
        return line

    async def kill(self) -> None:
        """kill -9: no shutdown, no hand-back, nothing flushed."""
        self.process.send_signal(signal.SIGKILL)
        await asyncio.wait_for(self.process.wait(), 10)

    async def exit_code(self, *, timeout: float = 30.0) -> int:  # noqa: ASYNC109
        code = await asyncio.wait_for(self.process.wait(), timeout)
        if self._pump is not None:
            await self._pump
        return code

    async def ensure_stopped(self) -> None:
        if self.process.returncode is None:
            self.process.kill()
            await asyncio.wait_for(self.process.wait(), 10)
        if self._pump is not None:
            await self._pump


async def send_event(http: httpx.AsyncClient, event: dict[str, Any], *, event_id: str) -> int:
    """POST a signed event to a bot (its base URL in `http`); the HTTP status."""
    body = json.dumps(event_envelope(event, event_id=event_id)).encode()
    headers = {"Content-Type": "application/json", **signed_headers(body)}
    response = await http.post("/slack/events", content=body, headers=headers)
    return response.status_code
