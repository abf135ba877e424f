"""Running the Slack app: HTTP mode (uvicorn + Starlette) or Socket Mode, with its worker.

HTTP mode serves `POST /slack/events` (events, interactivity and slash commands on one URL)
and the ops routes `GET /healthz`, `/readyz` and `/metrics`. Socket Mode needs no public
URL: it dials out with the app token, and serves the ops routes on OPS_PORT when set.

Stopping (SIGTERM, or cancelling `run_bot`): first no new events (the HTTP server stops
accepting, the socket closes), then answers in flight get SHUTDOWN_GRACE_SECONDS, and
whatever is left stays in the queue for the next worker.
"""

from __future__ import annotations

import asyncio
import logging

from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from adapters.slack.app import SlackBot
from bot.asgi_server import AsgiServer
from bot.ops import ops_app, ops_routes, queue_gauges

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
# Private notes and prompts still being sent at shutdown get this long.
BACKGROUND_GRACE_SECONDS = 5.0
# Slack's payloads are a few KB; the signature can only be checked once the body is read,
# so an unsigned sender must not be able to make us hold megabytes first.
MAX_BODY_BYTES = 1024 * 1024


class _TooLarge(Exception):
    pass


class BodyLimit:
    """ASGI middleware: 413 for request bodies over `max_bytes`, declared or streamed."""

    def __init__(self, app: ASGIApp, *, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_large = PlainTextResponse("Payload too large", status_code=413)
        declared = dict(scope.get("headers") or []).get(b"content-length", b"0")
        if not declared.isdigit() or int(declared) > self.max_bytes:
            await too_large(scope, receive, send)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, limited, send)
        except _TooLarge:
            # Bolt answers only after reading the whole body, so nothing was sent yet.
            await too_large(scope, receive, send)


def build_asgi(bot: SlackBot) -> Starlette:
    handler = AsyncSlackRequestHandler(bot.app)

    async def events(request: Request) -> Response:
        return await handler.handle(request)

    return Starlette(
        routes=[Route(EVENTS_PATH, events, methods=["POST"]), *_ops_routes(bot)],
        middleware=[Middleware(BodyLimit)],
    )


def _ops_routes(bot: SlackBot) -> list[Route]:
    """/healthz (liveness only: an outage is told to users and must not get the process
    restarted in a loop), /readyz (Redis and Meibel reachable) and /metrics."""
    if bot.meibel is None:

        async def healthz(_: Request) -> Response:
            return PlainTextResponse("ok")

        return [Route("/healthz", healthz, methods=["GET"])]
    return ops_routes(
        store=bot.store,
        meibel=bot.meibel,
        metrics=bot.metrics,
        refresh=queue_gauges(bot.queue),
        token=bot.fleet.ops_token,
    )


class HttpServer(AsgiServer):
    """The Slack endpoints and the ops routes (HTTP mode)."""

    def __init__(self, bot: SlackBot, *, host: str = "0.0.0.0", port: int = 3000) -> None:
        super().__init__(build_asgi(bot), host=host, port=port)
        self.bot = bot

    async def run(self) -> None:
        log.info("Slack HTTP mode: listening on port %d at %s", self.port, EVENTS_PATH)
        await super().run()


def ops_server(bot: SlackBot, *, port: int) -> AsgiServer | None:
    """The ops routes on their own port (Socket Mode has no HTTP server of its own); None
    when the port is taken (another platform of `meibel-bot run` serves them there)."""
    if bot.meibel is None:
        return None
    app = ops_app(
        store=bot.store,
        meibel=bot.meibel,
        metrics=bot.metrics,
        refresh=queue_gauges(bot.queue),
        token=bot.fleet.ops_token,
    )
    try:
        server = AsgiServer(app, port=port)
    except OSError as exc:
        log.warning("OPS_PORT %d: cannot listen (%s); no ops routes from Slack", port, exc)
        return None
    log.info("ops routes (/healthz, /readyz, /metrics) on port %d", server.port)
    return server


async def run_socket_mode(bot: SlackBot) -> None:
    """Hold a Socket Mode connection until cancelled; closing it stops new events."""
    handler = AsyncSocketModeHandler(bot.app, bot.settings.app_token, web_client=bot.client)
    await handler.connect_async()  # type: ignore[no-untyped-call]  # bolt leaves it unannotated
    log.info("Slack Socket Mode: connected")
    ops = ops_server(bot, port=bot.fleet.ops_port) if bot.fleet.ops_port is not None else None
    try:
        if ops is not None:
            await ops.run()
            log.warning("the ops server on port %d stopped; Slack goes on", ops.port)
        await asyncio.Event().wait()
    finally:
        await handler.close_async()  # type: ignore[no-untyped-call]


async def run_bot(bot: SlackBot) -> None:
    """Take events and answer jobs until cancelled; then stop taking events, give answers
    in flight the grace, and leave the rest queued for the next worker."""
    worker = asyncio.create_task(bot.work.run(), name="slack-worker")
    bot.background.spawn(bot.learn_bot_user(), name="auth.test")
    try:
        if bot.settings.socket_mode:
            await run_socket_mode(bot)
        else:
            await HttpServer(bot, port=bot.settings.port).run()
    finally:
        log.info(
            "stopping: no new events; answers in flight get up to %.0fs",
            bot.fleet.grace_seconds,
        )
        await bot.work.stop()
        await asyncio.wait({worker})  # stop() cancels it if it outlives the grace
        if not worker.cancelled():
            worker.result()
        await bot.background.drain(grace_seconds=BACKGROUND_GRACE_SECONDS)
        await bot.aclose()
        log.info("stopped")
