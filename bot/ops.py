"""GET /healthz (alive), /readyz (store and Meibel reachable) and /metrics, as one small
ASGI app that the Slack HTTP server mounts and other modes serve on their own port.

They may face the internet (Slack HTTP mode serves them on the public $PORT), so they are
cheap and quiet: /healthz does no I/O, /readyz answers from a result cached for a few
seconds and tells anonymous callers only ready or not, and OPS_TOKEN, when set, guards
the detail and /metrics.
"""

from __future__ import annotations

import asyncio
import hmac
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
READY_TTL_SECONDS = 5.0


def queue_gauges(queue: WorkQueue) -> StatsHook:
    """Copies the queue's numbers into the gauges right before a scrape."""

    async def refresh(metrics: Metrics) -> None:
        stats = await queue.stats()
        metrics.queue_waiting.set(stats.waiting)
        metrics.queue_pending.set(stats.pending)
        metrics.in_flight.set(stats.in_flight)
        metrics.jobs_overdue.set(stats.overdue)

    return refresh


class Readiness:
    """Whether the store and Meibel answer, probed at most once per `ttl` seconds.

    /readyz is public: every caller shares one cached result, and callers arriving while a
    probe runs wait for that probe, so a flood of anonymous GETs makes at most one store
    ping and one (authenticated, quota-spending) Meibel call per `ttl`.
    """

    def __init__(
        self, *, store: Store, meibel: MeibelClient, probe_timeout: float, ttl: float
    ) -> None:
        self._store = store
        self._meibel = meibel
        self._timeout = probe_timeout
        self._ttl = ttl
        self._result: dict[str, str] = {}
        self._at = -float("inf")
        self._probe: asyncio.Task[dict[str, str]] | None = None

    async def checks(self) -> dict[str, str]:
        """Each part ("store", "meibel") -> "ok" or what is wrong (for operators only)."""
        loop = asyncio.get_running_loop()
        if loop.time() - self._at < self._ttl:
            return self._result
        if self._probe is None or self._probe.done():
            self._probe = asyncio.create_task(self._run())
        return await asyncio.shield(self._probe)

    async def _run(self) -> dict[str, str]:
        checks: dict[str, str] = {}
        try:
            await asyncio.wait_for(self._store.ping(), self._timeout)
            checks["store"] = "ok"
        except (StoreError, TimeoutError) as exc:
            checks["store"] = f"unreachable: {type(exc).__name__}"
        try:
            await asyncio.wait_for(self._meibel.list_agents(limit=1), self._timeout)
            checks["meibel"] = "ok"
        except MeibelAuthError:
            checks["meibel"] = "API key refused"
        except (MeibelError, TimeoutError) as exc:
            checks["meibel"] = f"unreachable: {type(exc).__name__}"
        if checks != self._result:
            level = logging.INFO if all(v == "ok" for v in checks.values()) else logging.WARNING
            log.log(level, "readiness: %s", ", ".join(f"{k} {v}" for k, v in checks.items()))
        self._result, self._at = checks, asyncio.get_running_loop().time()
        return checks


def authorized(request: Request, token: str | None) -> bool:
    """The request carries `Authorization: Bearer <OPS_TOKEN>` (compared in constant time)."""
    if not token:
        return False
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip(), token)


def ops_routes(
    *,
    store: Store,
    meibel: MeibelClient,
    metrics: Metrics,
    refresh: StatsHook | None = None,
    token: str | None = None,
    probe_timeout: float = 3.0,
    ready_ttl: float = READY_TTL_SECONDS,
) -> list[Route]:
    """The three routes; `refresh` updates gauges (queue depth, ...) right before a scrape.

    /healthz does no I/O. /readyz answers from the cached `Readiness`: anonymous callers
    get only {"ready": ...}; with `token` (OPS_TOKEN) set, a caller presenting it also gets
    what is down. /metrics needs the token when one is set.
    """
    readiness = Readiness(store=store, meibel=meibel, probe_timeout=probe_timeout, ttl=ready_ttl)

    async def healthz(_: Request) -> Response:
        return PlainTextResponse("ok")

    async def readyz(request: Request) -> Response:
        checks = await readiness.checks()
        ready = all(value == "ok" for value in checks.values())
        body: dict[str, object] = {"ready": ready}
        if authorized(request, token):
            body |= checks
        return JSONResponse(body, status_code=200 if ready else 503)

    async def metrics_endpoint(request: Request) -> Response:
        if token and not authorized(request, token):
            return PlainTextResponse(
                "unauthorized", status_code=401, headers={"WWW-Authenticate": "Bearer"}
            )
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
    *,
    store: Store,
    meibel: MeibelClient,
    metrics: Metrics,
    refresh: StatsHook | None = None,
    token: str | None = None,
) -> Starlette:
    """A Starlette app with just the ops routes (for processes without an HTTP server)."""
    return Starlette(
        routes=ops_routes(store=store, meibel=meibel, metrics=metrics, refresh=refresh, token=token)
    )
