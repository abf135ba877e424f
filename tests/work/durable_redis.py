"""A throwaway redis-server configured as production must be for durable work.

`appendonly yes` with `appendfsync always`: every write is on disk before Redis answers,
so a job `submit` accepted survives Redis being killed. The shared `start_redis_server`
fixture runs without persistence (and a fresh directory each start), which models a Redis
that comes back empty; this one keeps its directory, so a restart on the same port finds
its data again.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.redis import wait_for_ping


@contextlib.contextmanager
def durable_redis(port: int, workdir: Path) -> Iterator[subprocess.Popen[bytes]]:
    """redis-server on `port`, persisting to `workdir`; killed (-9) on exit if still up."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    args += ["--appendonly", "yes", "--appendfsync", "always", "--dir", str(workdir)]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_ping(f"redis://127.0.0.1:{port}/0")
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)
