"""The local Meibel stand-in: a real HTTP server on aiohttp, started in-process on port 0.

Tests, the demo and benchmarks point the real Meibel client at `DevServer.base_url`, then
assert on what the server received (`requests`, `sessions`) and steer it with faults, queued
answers and a gate that keeps chats in flight.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Callable
from types import TracebackType
from typing import Any

from aiohttp import web
from aiohttp.log import access_logger
from aiohttp.typedefs import Handler

from bot.devserver.answers import now_iso
from bot.devserver.faults import (
    DropPoint,
    Faults,
    QueuedDrop,
    QueuedResponse,
    StreamFailure,
    default_error_body,
)
from bot.devserver.keys import API_PREFIX, RECORD, SERVER, error_response
from bot.devserver.ratelimit import KeyRateLimit
from bot.devserver.recording import API_KEY_HEADER, RecordedRequest, new_record, read_body
from bot.devserver.state import AgentInfo, SessionInfo, default_agents, synthesize_agent
from bot.devserver.streaming import STREAM_MODES, StreamMode

DEFAULT_API_KEY = "dev-key"
# Attachments go through /chat/stream; aiohttp's default 1 MiB limit would refuse real files.
MAX_BODY_BYTES = 64 * 1024 * 1024
# The X-RateLimit-* headers of a request's answer, put on it however it is answered.
_RATE_HEADERS: web.RequestKey[dict[str, str]] = web.RequestKey("meibel_rate_headers", dict)


class DevServer:
    """A Meibel API stand-in; see the module docstring. Not thread-safe: one event loop."""

    def __init__(
        self,
        *,
        api_key: str | None = DEFAULT_API_KEY,
        faults: Faults | None = None,
        stream_mode: StreamMode = "cumulative",
        stream_chunk_delay_seconds: float = 0.0,
        stream_piece_chars: int | None = None,
        answer_chars: int | None = None,
        agents: list[AgentInfo] | None = None,
        access_log: bool = False,
        rate_limit: int | None = None,
        rate_window_seconds: float = 60.0,
    ) -> None:
        """`rate_limit` requests per API key in each `rate_window_seconds` (None: no limit),
        said in X-RateLimit-* headers on every answer, with 429 beyond it."""
        if stream_mode not in STREAM_MODES:
            raise ValueError(f"stream_mode must be one of {STREAM_MODES}, got {stream_mode!r}")
        self.api_key = api_key
        self.faults = faults or Faults()
        self.rate_limit = (
            KeyRateLimit(limit=rate_limit, window_seconds=rate_window_seconds)
            if rate_limit is not None
            else None
        )
        self.stream_mode: StreamMode = stream_mode
        self.stream_chunk_delay_seconds = stream_chunk_delay_seconds
        # Streams in pieces of this many characters (default: about six pieces per answer).
        self.stream_piece_chars = stream_piece_chars
        # Pads every answer to this many characters (for size and CPU tests).
        self.answer_chars = answer_chars
        self.agents: dict[str, AgentInfo] = {a.id: a for a in (agents or default_agents())}
        self.requests: list[RecordedRequest] = []
        # How many times the agent received each user message (chats it accepted and ran,
        # whatever became of the connection): the count an at-most-once test asserts on.
        self.received: Counter[str] = Counter()
        self.sessions: dict[str, SessionInfo] = {}
        self.host = "127.0.0.1"
        self.port = 0
        self.in_flight = 0
        self.max_in_flight = 0
        # Per session: lets tests prove the bot never sends two chats into one session at once.
        self.max_in_flight_by_session: Counter[str] = Counter()
        self._in_flight_by_session: Counter[str] = Counter()
        self._queued: list[QueuedResponse] = []
        self._stream_failures: list[StreamFailure] = []
        self._drops: list[QueuedDrop] = []
        self._gateway_errors: list[QueuedResponse] = []
        self._gate = asyncio.Event()
        self._gate.set()
        self._changed = asyncio.Event()
        self._access_log = access_log
        self._runner: web.AppRunner | None = None

    # -- lifecycle ----------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        if self._runner is None:
            raise RuntimeError("DevServer is not started")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}{API_PREFIX}"

    def make_app(self) -> web.Application:
        # Imported here: the routes need this module's request/app keys at import time.
        from bot.devserver.routes import add_routes

        app = web.Application(middlewares=[self._middleware], client_max_size=MAX_BODY_BYTES)
        app[SERVER] = self
        app.on_response_prepare.append(_add_rate_headers)
        add_routes(app)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        if self._runner is not None:
            raise RuntimeError("DevServer is already started")
        runner = web.AppRunner(
            self.make_app(),
            access_log=access_logger if self._access_log else None,
            # Held chats are released on stop, so a short grace period is enough.
            shutdown_timeout=2.0,
        )
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self.host = host
        self.port = int(runner.addresses[0][1])

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is None:
            return
        self.release_chats()
        await runner.cleanup()

    async def __aenter__(self) -> DevServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- test hooks ---------------------------------------------------------------------
    def queue_responses(
        self,
        status: int,
        *,
        times: int = 1,
        headers: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
        path_contains: str = "/chat",
        method: str | None = None,
    ) -> None:
        """Answer the next `times` matching requests (after auth) with `status`.

        The body defaults to `{"code", "message"}`; a queued 429 gets a Retry-After of
        `faults.retry_after_seconds` unless `headers` sets one.
        """
        self._queued.append(
            QueuedResponse(
                status=status,
                remaining=times,
                headers=dict(headers or {}),
                body=body,
                path_contains=path_contains,
                method=method,
            )
        )

    def queue_stream_failure(
        self, *, times: int = 1, after_partials: int = 1, abort: bool = False
    ) -> None:
        """Break the next `times` streams after some partial responses: an `error` event, or
        with `abort` a cut connection, and no `completion` either way."""
        self._stream_failures.append(StreamFailure(times, after_partials, abort))

    def queue_drop(
        self, *, at: DropPoint = "request", times: int = 1, path_contains: str = "/chat"
    ) -> None:
        """Cut the connection of the next `times` matching chats without an answer, at
        `at`: right after reading the request, or (streams) right after `connected`.

        The agent still runs each turn and records it in the session, as a real server
        would after its client went away.
        """
        self._drops.append(QueuedDrop(at=at, remaining=times, path_contains=path_contains))

    def queue_gateway_error(
        self, status: int, *, times: int = 1, path_contains: str = "/chat"
    ) -> None:
        """Answer the next `times` matching chats with `status` after the agent ran them,
        as a gateway in front of Meibel does when it gives up (502, 504)."""
        self._gateway_errors.append(
            QueuedResponse(
                status=status,
                remaining=times,
                headers={},
                body=None,
                path_contains=path_contains,
                method="POST",
            )
        )

    def forget_sessions(self) -> None:
        """Forget every session, as if they expired: chats into them now answer 404."""
        self.sessions.clear()

    def create_session(
        self, agent_id: str = "agt_dev_helpdesk", *, session_id: str | None = None
    ) -> str:
        """Start a session without HTTP, for tests that need one as a precondition.

        A chosen `session_id` lets static configuration (e.g. a contract test) name it.
        """
        agent = self.agents.get(agent_id) or synthesize_agent(agent_id)
        return self._new_session(agent, None, session_id=session_id).session_id

    def hold_chats(self) -> None:
        """Keep every chat that arrives from now on in flight until `release_chats()`."""
        self._gate.clear()

    def release_chats(self) -> None:
        self._gate.set()

    @property
    def chats_held(self) -> bool:
        return not self._gate.is_set()

    async def wait_for_in_flight(self, count: int) -> None:
        """Wait until at least `count` accepted chats are in flight (held or answering).

        Wrap it in `asyncio.timeout()` so a test that never gets there fails instead of hanging.
        """
        while self.in_flight < count:
            await self._changed.wait()

    async def wait_for(self, condition: Callable[[], bool]) -> None:
        """Wait until `condition()` holds, checked whenever a chat starts or ends.

        Wrap it in `asyncio.timeout()` so a test that never gets there fails instead of hanging.
        """
        while not condition():
            await self._changed.wait()

    def chat_requests(self) -> list[RecordedRequest]:
        """The recorded calls to /chat and /chat/stream, oldest first."""
        return [r for r in self.requests if r.method == "POST" and "/chat" in r.path]

    # -- used by the routes -------------------------------------------------------------
    def _new_session(
        self, agent: AgentInfo, request: dict[str, Any] | None, *, session_id: str | None = None
    ) -> SessionInfo:
        session = SessionInfo(
            session_id=session_id or f"ses_{uuid.uuid4().hex}",
            agent=agent,
            created_at=now_iso(),
            request=request,
        )
        self.sessions[session.session_id] = session
        return session

    def _next_stream_failure(self) -> StreamFailure | None:
        for failure in self._stream_failures:
            if failure.remaining > 0:
                failure.remaining -= 1
                return failure
        return None

    def _take_gateway_error(self, path: str) -> web.Response | None:
        for queued in self._gateway_errors:
            if queued.matches("POST", path):
                queued.remaining -= 1
                body = default_error_body(queued.status)
                return error_response(queued.status, str(body["code"]), str(body["message"]))
        return None

    def _take_drop(self, at: DropPoint, path: str) -> bool:
        for drop in self._drops:
            if drop.matches(at, path):
                drop.remaining -= 1
                return True
        return False

    def _notify(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def _enter_chat(self, session_id: str) -> None:
        """Count the chat as in flight, then wait at the gate."""
        self.in_flight += 1
        self._in_flight_by_session[session_id] += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        self.max_in_flight_by_session[session_id] = max(
            self.max_in_flight_by_session[session_id], self._in_flight_by_session[session_id]
        )
        self._notify()
        await self._gate.wait()

    def _leave_chat(self, session_id: str) -> None:
        self.in_flight -= 1
        self._in_flight_by_session[session_id] -= 1
        self._notify()

    # -- the middleware: record, authenticate, answer queued responses ------------------
    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        record = new_record(request, api_key=self.api_key)
        self.requests.append(record)
        self._notify()
        request[RECORD] = record
        try:
            await read_body(request, record)
            response = await self._dispatch(request, handler, record)
        except web.HTTPException as exc:
            # aiohttp's own 404/405 are plain text; the API answers JSON everywhere.
            body = default_error_body(exc.status)
            headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else {}
            response = web.json_response(body, status=exc.status, headers=headers)
        record.status = response.status
        return response

    async def _dispatch(
        self, request: web.Request, handler: Handler, record: RecordedRequest
    ) -> web.StreamResponse:
        if not record.key_present:
            return error_response(401, "unauthorized", "Missing API key")
        if not record.key_valid:
            return error_response(401, "unauthorized", "Invalid API key")
        if self.rate_limit is not None:
            admission = self.rate_limit.admit(request.headers.get(API_KEY_HEADER, ""))
            request[_RATE_HEADERS] = admission.headers
            if not admission.allowed:
                return error_response(429, "rate_limited", "Rate limit exceeded")
        for queued in self._queued:
            if queued.matches(request.method, request.path):
                queued.remaining -= 1
                headers = dict(queued.headers)
                if queued.status == 429 and not any(k.lower() == "retry-after" for k in headers):
                    headers["Retry-After"] = str(self.faults.retry_after_seconds)
                body = queued.body if queued.body is not None else default_error_body(queued.status)
                return web.json_response(body, status=queued.status, headers=headers)
        self._queued = [q for q in self._queued if q.remaining > 0]
        return await handler(request)


async def _add_rate_headers(request: web.Request, response: web.StreamResponse) -> None:
    """Every answer, streams and errors included, says where the key stands."""
    response.headers.update(request.get(_RATE_HEADERS, {}))
