"""The processes of the fleet benchmark: the fake Slack, the bots, and what they weigh.

Every process is a child of the benchmark, started with the settings it needs in its
environment and a scratch working directory (so no `.env` or SQLite file of the checkout
is read), its stderr kept in a file for when it fails, and always terminated on exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

STOP_SECONDS = 15.0
# The children run in a scratch directory; they import bench/ and tests/ from the checkout.
CHECKOUT = Path(__file__).resolve().parents[1]
# Settings of the checkout's environment that must not leak into a bot under test.
_THEIRS = ("SLACK_", "MEIBEL_", "REDIS_", "DISCORD_", "STREAMING", "WORKER_", "PORT", "OPS_PORT")


def clean_environment(settings: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(_THEIRS)}
    path = os.pathsep.join(p for p in (str(CHECKOUT), os.environ.get("PYTHONPATH")) if p)
    return env | settings | {"PYTHONPATH": path}


def memory_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of a live process in MB: resident now, and its peak."""
    values: dict[str, float] = {}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0]) / 1024  # kB
    return values.get("VmRSS", float("nan")), values.get("VmHWM", float("nan"))


def _stat(pid: int) -> list[str]:
    """/proc/<pid>/stat after the command name (which may hold spaces)."""
    return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far."""
    fields = _stat(pid)  # fields[0] is the state, so utime/stime are 11 and 12
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU seconds all processors have spent busy since boot (from /proc/stat)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


OTHERS = "everything else on the machine"


def listen_overflows() -> int:
    """Connections the kernel dropped because a listening socket's queue was full
    (machine-wide): a server that accepts too slowly makes clients wait for a SYN retry."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        lines = Path("/proc/net/netstat").read_text().splitlines()
        for head, values in zip(lines[::2], lines[1::2], strict=False):
            if head.startswith("TcpExt:"):
                return int(dict(zip(head.split(), values.split(), strict=True))["ListenOverflows"])
    return 0


def child_cpu() -> dict[str, float]:
    """CPU seconds of this process and each of its direct children, by a short name, and
    of the rest of the machine (other work sharing the processors skews the figures)."""
    me = os.getpid()
    found = {"benchmark (senders)": cpu_seconds(me)}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if int(_stat(int(entry.name))[1]) != me:
                continue
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            found[_short_name(int(entry.name), [a.decode(errors="replace") for a in argv])] = (
                cpu_seconds(int(entry.name))
            )
        except (OSError, ValueError, IndexError):
            continue  # exited meanwhile
    found[OTHERS] = machine_busy_seconds() - sum(found.values())
    return found


def _short_name(pid: int, argv: list[str]) -> str:
    if "redis-server" in argv[0]:
        return "redis-server"
    module = argv[argv.index("-m") + 1] if "-m" in argv else argv[0]
    names = {
        "bench.fleet_slack": "fake slack",
        "bench.tutorial_bot": "bot",
        "adapters.cli": "dev server" if "dev-server" in argv else "bot",
    }
    return f"{names.get(module, module)} {pid}"


@dataclass
class Child:
    """A started child process and the file holding its stderr."""

    name: str
    process: asyncio.subprocess.Process
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_tail(self, lines: int = 15) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    async def stop(self) -> None:
        """SIGTERM, then SIGKILL if it has not exited within STOP_SECONDS."""
        if self.process.returncode is not None:
            return
        self.process.terminate()
        try:
            await asyncio.wait_for(self.process.wait(), STOP_SECONDS)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()


@contextlib.asynccontextmanager
async def child(
    name: str, module: str, *args: str, env: dict[str, str], workdir: Path, stdout: bool = False
) -> AsyncIterator[Child]:
    """`python -m <module> <args>` in `workdir`, stopped when the block ends."""
    log_path = workdir / f"{name.replace(' ', '-')}.log"
    with log_path.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            module,
            *args,
            cwd=workdir,
            env=env,
            stdin=asyncio.subprocess.PIPE if stdout else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE if stdout else asyncio.subprocess.DEVNULL,
            stderr=log,
        )
    started = Child(name, process, log_path)
    try:
        yield started
    finally:
        await started.stop()


async def wait_listening(
    started: Child,
    url: str,
    *,
    timeout: float = 30.0,  # noqa: ASYNC109 - a bounded wait is the point
) -> None:
    """Poll `url` until it answers at all (any status): the server is up."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=2) as http:
        while True:
            if started.process.returncode is not None:
                raise RuntimeError(
                    f"{started.name} exited with {started.process.returncode}:\n"
                    + started.log_tail()
                )
            with contextlib.suppress(httpx.TransportError):
                await http.get(url)
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{started.name} did not listen within {timeout:.0f} s")
            await asyncio.sleep(0.1)


@dataclass
class Answer:
    thread: str
    ts: str
    question: str
    at: float  # time.monotonic() when the call that finished it reached the fake


@dataclass
class SlackWatch:
    """What the fake Slack process reports, read as it comes."""

    base_url: str = ""
    answers: list[Answer] = field(default_factory=list)
    others: list[str] = field(default_factory=list)  # threads with a posted non-answer
    summary: dict[str, Any] = field(default_factory=dict)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def take(self, line: dict[str, Any]) -> None:
        event = line.get("event")
        if event == "answer":
            self.answers.append(
                Answer(str(line["thread"]), str(line["ts"]), str(line["question"]), line["at"])
            )
        elif event == "other":
            self.others.append(str(line["thread"]))
        elif event == "summary":
            self.summary = line
        self.changed.set()

    async def wait(
        self,
        condition: Callable[[], bool],
        *,
        timeout: float,  # noqa: ASYNC109 - a bounded wait is the point
    ) -> bool:
        """Wait until `condition()` holds after a report, for at most `timeout` s."""
        deadline = time.monotonic() + timeout
        while not condition():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.changed.wait(), left)
        return True


@contextlib.asynccontextmanager
async def fake_slack(workdir: Path) -> AsyncIterator[SlackWatch]:
    """The fake Slack Web API (bench.fleet_slack) in its own process."""
    watch = SlackWatch()
    async with child(
        "fake slack", "bench.fleet_slack", env=clean_environment({}), workdir=workdir, stdout=True
    ) as started:
        stdout, stdin = started.process.stdout, started.process.stdin
        assert stdout is not None and stdin is not None
        first = await asyncio.wait_for(stdout.readline(), 30)
        if not first:
            raise RuntimeError("the fake Slack exited before listening:\n" + started.log_tail())
        watch.base_url = json.loads(first)["base_url"]

        async def read() -> None:
            while line := await stdout.readline():
                watch.take(json.loads(line))

        reader = asyncio.create_task(read())
        try:
            yield watch
        finally:
            stdin.close()  # the fake prints its summary and exits
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(reader, 10)
                # Reaped by asyncio before stop(), whose terminate() would otherwise race
                # asyncio's child watcher for the exit status (a spurious warning).
                await asyncio.wait_for(started.process.wait(), 10)
            reader.cancel()


def scratch_dir() -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix="bench-fleet-")


def code_version() -> str:
    """The commit, and whether bot/ or adapters/ differ from it (work in progress counts)."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=CHECKOUT,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "bot", "adapters"],
            cwd=CHECKOUT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "(not a git checkout)"
    return f"{head}" + (" + uncommitted changes in bot/ or adapters/" if dirty else "")


def _py_spy(folder: str) -> str | None:
    """The py-spy binary (and the output folder made), or None with a note."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():
        print("  (py-spy is not installed: no profile)")
        return None
    Path(folder).mkdir(parents=True, exist_ok=True)
    return spy


@contextlib.asynccontextmanager
async def profiled(key: str, started: list[Child], folder: str | None) -> AsyncIterator[None]:
    """With --profile: py-spy samples each bot process while the block runs."""
    spy = _py_spy(folder) if folder is not None else None
    if folder is None or spy is None:
        yield
        return
    spies = [
        await asyncio.create_subprocess_exec(
            spy,
            "record",
            "--pid",
            str(bot.pid),
            "--rate",
            "250",
            "--format",
            "raw",
            "--output",
            str(Path(folder) / f"{key}-{n + 1}.txt"),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        for n, bot in enumerate(started)
    ]
    await asyncio.sleep(1)  # py-spy attaches before the load starts
    try:
        yield
    finally:
        for process in spies:
            process.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
        for process in spies:
            await asyncio.wait_for(process.wait(), 30)
