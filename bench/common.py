"""Helpers shared by the benchmarks: a dev server in its own process, percentiles."""

from __future__ import annotations

import asyncio
import contextlib
import re
import statistics
import sys
from collections.abc import AsyncIterator, Sequence


@contextlib.asynccontextmanager
async def dev_server_process(*extra: str) -> AsyncIterator[str]:
    """`meibel-bot dev-server --port 0` in a separate process, so its work does not share
    the benchmarked event loop; yields its base URL."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "adapters.cli",
        "dev-server",
        "--port",
        "0",
        "--any-key",
        *extra,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    assert process.stdout is not None
    try:
        while True:
            line = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
            if not line:
                raise RuntimeError("dev server exited before listening")
            found = re.search(r"listening on (\S+)", line)
            if found:
                yield found.group(1)
                return
    finally:
        process.terminate()
        await process.wait()


def percentile(values: Sequence[float], p: float) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=1000, method="inclusive")[round(p * 10) - 1]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:7.2f} ms"
