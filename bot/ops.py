"""GET /healthz (alive), /readyz (store and Meibel reachable) and /metrics, as one small
ASGI app that the Slack HTTP server mounts and other modes serve on their own port."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from bot.meibel.client import MeibelClient
from bot.meibel.errors import MeibelAuthError, MeibelError
from bot.metrics import CONTENT_TYPE, Metrics
from bot.store.base import Store, StoreError
from bot.work.queue import WorkQueue

log = logging.getLogger(__name__)

StatsHook = Callable[[Metrics], Awaitable[None]]


def queue_gauges(queue: WorkQueue) -> StatsHook:
    """Copies the queue's numbers into the gauges right before a scrape."""

    async def refresh(metrics: Metrics) -> None:
        stats = await queue.stats()
        metrics.queue_waiting.set(stats.waiting)
        metrics.queue_pending.set(stats.pending)
        metrics.in_flight.set(stats.in_flight)
        metrics.jobs_overdue.set(stats.overdue)

    return refresh


def ops_routes(
    *,
    store: Store,
    meibel: MeibelClient,
    metrics: Metrics,
    refresh: StatsHook | None = None,
    probe_timeout: float = 3.0,
) -> list[Route]:
    """The three routes; `refresh` updates gauges (queue depth, ...) right before a scrape."""

    async def healthz(_: Request) -> Response:
        return PlainTextResponse("ok")

    async def readyz(_: Request) -> Response:
        checks: dict[str, str] = {}
        try:
            await asyncio.wait_for(store.ping(), probe_timeout)
            checks["store"] = "ok"
        except (StoreError, TimeoutError) as exc:
            checks["store"] = f"unreachable: {type(exc).__name__}"
        try:
            await asyncio.wait_for(meibel.list_agents(limit=1), probe_timeout)
            checks["meibel"] = "ok"
        except MeibelAuthError:
            checks["meibel"] = "API key refused"
        except (MeibelError, TimeoutError) as exc:
            checks["meibel"] = f"unreachable: {type(exc).__name__}"
        ready = all(value == "ok" for value in checks.values())
        return JSONResponse({"ready": ready, **checks}, status_code=200 if ready else 503)

    async def metrics_endpoint(_: Request) -> Response:
        if refresh is not None:
            try:
                await refresh(metrics)
            except Exception:  # a scrape must still answer when a gauge source is down
                log.warning("could not refresh the queue gauges for /metrics")
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    return [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
    ]


def ops_app(
    *, store: Store, meibel: MeibelClient, metrics: Metrics, refresh: StatsHook | None = None
) -> Starlette:
    """A Starlette app with just the ops routes (for processes without an HTTP server)."""
    return Starlette(
        routes=ops_routes(store=store, meibel=meibel, metrics=metrics, refresh=refresh)
    )
