"""`meibel-bot` processes for the start-up contracts: the real CLI at the test's fakes,
each bounded by a timeout, with what it wrote and how long it took."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bot.devserver import DevServer
from tests.fixtures.meibel import DEV_KEY

ROOT = Path(__file__).resolve().parents[2]
FAST_RETRIES = {"STARTUP_TRIES": "3", "STARTUP_BACKOFF_SECONDS": "0.05"}


@dataclass(frozen=True)
class Ended:
    code: int
    stderr: str
    seconds: float

    @property
    def lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.strip()]

    @property
    def said(self) -> list[str]:
        """What the CLI itself said (not log lines): its `meibel-bot: ...` lines."""
        return [line for line in self.lines if line.startswith("meibel-bot: ")]


def env_for(tmp_path: Path, meibel: DevServer | None, **settings: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MEIBEL_", "SLACK_", "DISCORD_", "REDIS_", "AGENT_", "STARTUP_"))
        and k not in ("PORT", "LOG_LEVEL", "OPS_PORT")
    }
    env.update(
        PYTHONPATH=str(ROOT),
        MEIBEL_BOT_DB=str(tmp_path / "bot.db"),
        MEIBEL_API_KEY=DEV_KEY,
        MEIBEL_AGENT_NAME="helpdesk",
        MEIBEL_BASE_URL=meibel.base_url if meibel else "http://127.0.0.1:9/v2",
    )
    env.update(settings)
    return env


async def start(args: list[str], *, env: dict[str, str], cwd: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        *args,
        env=env,
        cwd=cwd,  # no .env from the repository
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )


async def run_until_exit(
    args: list[str], *, env: dict[str, str], cwd: Path, limit: float = 20.0
) -> Ended:
    """Run to its end (killed, and the test failed, past `limit` seconds)."""
    began = time.monotonic()
    process = await start(args, env=env, cwd=cwd)
    try:
        _, err = await asyncio.wait_for(process.communicate(), limit)
    except TimeoutError:
        process.kill()
        _, err = await process.communicate()
        raise AssertionError(f"still running after {limit}s: {err.decode()}") from None
    assert process.returncode is not None
    return Ended(process.returncode, err.decode(), time.monotonic() - began)


def cli(*args: str) -> list[str]:
    return ["-m", "adapters.cli", *args]


def discord_cli(api_base: str, gateway: str) -> list[str]:
    """`meibel-bot discord` with discord.py pointed at the given REST and gateway URLs."""
    return ["-m", "tests.discord.proc", "cli", api_base, gateway]


def closed_port() -> int:
    """A port nothing listens on (bound, then released: connections to it are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
