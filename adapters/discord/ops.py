"""/healthz, /readyz and /metrics on OPS_PORT, for a Discord process (it has no HTTP server
of its own): bot.ops's app under uvicorn, the queue gauges refreshed on every scrape."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Iterator

import uvicorn

from bot.meibel.client import MeibelClient
from bot.metrics import Metrics
from bot.ops import StatsHook, ops_app
from bot.store.base import Store
from bot.work import WorkQueue

log = logging.getLogger(__name__)


def queue_gauges(queue: WorkQueue) -> StatsHook:
    """Copies the queue's numbers into the gauges (depth, pending) right before a scrape."""

    async def refresh(metrics: Metrics) -> None:
        stats = await queue.stats()
        metrics.queue_waiting.set(stats.waiting)
        metrics.queue_pending.set(stats.pending)

    return refresh


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the process decides how to stop (it drains
    answers in flight on SIGTERM; uvicorn would re-raise the signal and end it early)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class OpsServer:
    """Serves the ops routes on a port (0 picks a free one: see `port`) until `stop`."""

    def __init__(
        self,
        *,
        port: int,
        store: Store,
        meibel: MeibelClient,
        metrics: Metrics,
        queue: WorkQueue,
        host: str = "0.0.0.0",
    ) -> None:
        app = ops_app(store=store, meibel=meibel, metrics=metrics, refresh=queue_gauges(queue))
        self.sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(128)
        self.sock.setblocking(False)
        self.server = _Server(
            uvicorn.Config(app, log_config=None, lifespan="off", access_log=False)
        )
        self._task: asyncio.Task[None] | None = None

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    def start(self) -> None:
        self._task = asyncio.create_task(self.server.serve(sockets=[self.sock]), name="ops")
        log.info("serving /healthz, /readyz and /metrics on port %d", self.port)

    async def stop(self) -> None:
        self.server.should_exit = True
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.sock.close()
