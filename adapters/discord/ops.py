"""/healthz, /readyz and /metrics on OPS_PORT, for a Discord process (it has no HTTP server
of its own): bot.ops's app on bot.asgi_server, the queue gauges refreshed on every scrape."""

from __future__ import annotations

import logging

from bot.asgi_server import AsgiServer
from bot.meibel.client import MeibelClient
from bot.metrics import Metrics
from bot.ops import ops_app, queue_gauges
from bot.store.base import Store
from bot.work import WorkQueue

log = logging.getLogger(__name__)


class OpsServer(AsgiServer):
    """Serves the ops routes on a port (0 picks a free one: see `port`) until `stop`."""

    def __init__(
        self,
        *,
        port: int,
        store: Store,
        meibel: MeibelClient,
        metrics: Metrics,
        queue: WorkQueue,
        token: str | None = None,
        host: str = "0.0.0.0",
    ) -> None:
        app = ops_app(
            store=store,
            meibel=meibel,
            metrics=metrics,
            refresh=queue_gauges(queue),
            token=token,
        )
        super().__init__(app, host=host, port=port)

    def start(self) -> None:
        super().start()
        log.info("serving /healthz, /readyz and /metrics on port %d", self.port)
