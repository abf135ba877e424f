"""The async Meibel client: one pooled httpx client, retries, typed errors."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from bot.meibel.errors import (
    MeibelAgentNotFound,
    MeibelAuthError,
    MeibelError,
    MeibelInvalidRequest,
    MeibelNotFound,
    MeibelProtocolError,
    MeibelRateLimited,
    MeibelServerError,
    MeibelSessionGone,
    MeibelStreamingUnsupported,
    MeibelTimeout,
    MeibelTurnUncertain,
    MeibelUnavailable,
)
from bot.meibel.models import (
    ChatMessageRequest,
    ChatMessageResponse,
    CreateSessionRequest,
    CreateSessionResponse,
    SessionDetail,
    SessionMessages,
)
from bot.meibel.pacing import Pacer, Ticket, hold_after_429
from bot.meibel.retry import RETRY_STATUSES, TURN_RETRY_STATUSES, RetryPolicy, parse_retry_after
from bot.meibel.stream import MeibelStreamBroken, SSEDecoder, StreamEvent, StreamParser
from bot.metrics import Metrics
from bot.routing import AgentRef
from bot.startup import describe
from bot.work.fence import time_left

log = logging.getLogger(__name__)
_M = TypeVar("_M", bound=BaseModel)

API_KEY_HEADER = "Meibel-API-Key"
# The HTTP read timeout must outlast the server-side timeout_seconds we send, or we would
# give up on answers Meibel is still allowed to produce.
READ_TIMEOUT_MARGIN = 15.0
# A 501 from /chat/stream means this Meibel does not stream: go straight to /chat for a while.
STREAM_UNSUPPORTED_SECONDS = 600.0
# aiohttp errors raised while connecting, before any byte of the request was written:
# refused, DNS, TLS, and (aiohttp >= 3.10) the connect timeout.
_CONNECT_FAILURES: tuple[type[BaseException], ...] = (
    aiohttp.ClientConnectorError,
    *((aiohttp.ConnectionTimeoutError,) if hasattr(aiohttp, "ConnectionTimeoutError") else ()),
)


@dataclass(frozen=True, slots=True)
class FilePart:
    """A file sent with a streamed message."""

    filename: str
    content: bytes
    mime_type: str = "application/octet-stream"


class MeibelClient:
    """Talks to one Meibel API with one key; share one instance per process."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        timeout_seconds: int,
        retry: RetryPolicy | None = None,
        max_connections: int = 256,
        read_timeout_margin: float = READ_TIMEOUT_MARGIN,
        transport: httpx.AsyncBaseTransport | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self._api_key = api_key
        # Every call with this key waits here while Meibel says the key's budget is spent.
        self._pacer = Pacer()
        self.metrics = metrics or Metrics()
        self.timeout_seconds = timeout_seconds
        self.read_timeout_margin = read_timeout_margin
        self._stream_unsupported_until = 0.0
        self.retry = retry or RetryPolicy()
        limits = httpx.Limits(
            max_connections=max_connections,
            max_keepalive_connections=max_connections,
            keepalive_expiry=60.0,
        )
        # httpcore's own pool rescans every connection for every queued request, which
        # made 200 concurrent chats take seconds of pure CPU; aiohttp's pool does not.
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/") + "/",
            headers={API_KEY_HEADER: api_key, "User-Agent": "meibel-bot"},
            timeout=httpx.Timeout(
                connect=10.0, read=timeout_seconds + read_timeout_margin, write=30.0, pool=60.0
            ),
            limits=limits,
            transport=transport or AiohttpTransport(limits=limits),
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- the calls --------------------------------------------------------------------
    async def start_session(
        self,
        agent: AgentRef,
        *,
        initial_context: dict[str, Any] | None = None,
        execution_policy_ids: Sequence[str] = (),
    ) -> str:
        """Start a session with an agent, by id or by name, with `initial_context` (who
        asks, where: bot.identity) when given; returns the session id."""
        path = (
            f"agents/{_seg(agent.value)}/sessions"
            if agent.kind == "id"
            else f"agents/name/{_seg(agent.value)}/sessions"
        )
        try:
            request = CreateSessionRequest(
                initial_context=initial_context,
                execution_policy_ids=list(execution_policy_ids) or None,
            )
            data = await self._request("POST", path, request)
        except MeibelNotFound as exc:
            raise MeibelAgentNotFound(
                f"Meibel agent {agent} not found or has no published version", status=404
            ) from exc
        return _parse(CreateSessionResponse, data).session_id

    @property
    def turn_deadline_seconds(self) -> float:
        """How long one turn (a whole stream) may take: Meibel's timeout plus the read margin."""
        return self.timeout_seconds + self.read_timeout_margin

    @property
    def streams_unsupported(self) -> bool:
        """Whether /chat/stream answered 501 lately (then chat_stream fails at once)."""
        return time.monotonic() < self._stream_unsupported_until

    async def chat(self, session_id: str, user_message: str) -> ChatMessageResponse:
        """Send one message into a session and wait for the agent's answer.

        Sent again only when Meibel said it did not take it (429, 503, connection refused);
        any other failure after sending raises MeibelTurnUncertain.
        """
        body = ChatMessageRequest(user_message=user_message, timeout_seconds=self.timeout_seconds)
        try:
            data = await self._request("POST", f"sessions/{_seg(session_id)}/chat", body, turn=True)
        except MeibelNotFound as exc:
            raise MeibelSessionGone(f"Meibel session {session_id} is gone", status=404) from exc
        return _parse(ChatMessageResponse, data)

    async def get_session(self, session_id: str) -> SessionDetail:
        """The session's status and history (`GET /sessions/{id}`)."""
        try:
            data = await self._request("GET", f"sessions/{_seg(session_id)}", None)
        except MeibelNotFound as exc:
            raise MeibelSessionGone(f"Meibel session {session_id} is gone", status=404) from exc
        return _parse(SessionDetail, data)

    async def get_messages(self, session_id: str) -> SessionMessages:
        """The session's messages (`GET /sessions/{id}/messages`)."""
        try:
            data = await self._request("GET", f"sessions/{_seg(session_id)}/messages", None)
        except MeibelNotFound as exc:
            raise MeibelSessionGone(f"Meibel session {session_id} is gone", status=404) from exc
        return _parse(SessionMessages, data)

    async def chat_stream(
        self, session_id: str, user_message: str, *, files: Sequence[FilePart] = ()
    ) -> AsyncIterator[StreamEvent]:
        """Send one message (with files) and yield the agent's progress, text and answer.

        Before Meibel accepts the stream it raises the typed errors of `chat` (never
        retrying), MeibelStreamingUnsupported on 501 (remembered for a while); after, any
        failure or an end without completion is MeibelStreamBroken, a MeibelTurnUncertain.
        The whole stream is bounded by `turn_deadline_seconds`.
        """
        path = f"sessions/{_seg(session_id)}/chat/stream"
        if self.streams_unsupported:
            raise MeibelStreamingUnsupported(f"Meibel POST /{path} does not stream (501)")
        # Multipart even without files: every field goes as a (None, value) part, which
        # makes httpx encode multipart/form-data as the endpoint requires.
        parts: list[tuple[str, tuple[str | None, bytes | str, str | None]]] = [
            ("user_message", (None, user_message, None)),
            ("timeout_seconds", (None, str(self.timeout_seconds), None)),
            ("include_tool_activity", (None, "true", None)),
        ]
        parts += [("files", (f.filename, f.content, f.mime_type)) for f in files]
        request = self._http.build_request(
            "POST",
            path,
            files=parts,
            headers={"Accept": "text/event-stream", "Cache-Control": "no-store"},
        )
        try:
            async with self._paced() as answered:
                # The turn's time starts once it may be sent, not while it waits its turn.
                deadline = asyncio.get_running_loop().time() + self.turn_deadline_seconds
                async with asyncio.timeout_at(deadline):
                    response = await self._http.send(request, stream=True)
                answered(response)
        except httpx.HTTPError as exc:
            raise self._transport_failure(exc, "POST", path, turn=True) from None
        except TimeoutError:
            raise MeibelTurnUncertain(
                f"Meibel did not start the stream in {self.turn_deadline_seconds:.0f}s",
                reason="timed_out",
            ) from None
        try:
            if not response.is_success:
                # The status is what counts; a body lost on the way only costs its detail.
                with contextlib.suppress(httpx.HTTPError):
                    await response.aread()
                raise self._stream_refusal(response, path)
            async for event in self._events(response, deadline):
                yield event
        finally:
            await response.aclose()

    async def _events(
        self, response: httpx.Response, deadline: float
    ) -> AsyncIterator[StreamEvent]:
        parser, decoder = StreamParser(), SSEDecoder()
        chunks = response.aiter_bytes()
        try:
            while not parser.done:
                try:
                    # Bounded per read, never around a yield: a timeout must not fire while
                    # the consumer is busy elsewhere.
                    async with asyncio.timeout_at(deadline):
                        chunk = await anext(chunks)
                except StopAsyncIteration:
                    break
                for event in parser.feed_many(decoder.feed(chunk)):
                    yield event
                if parser.failure is not None:
                    raise parser.failure
        except httpx.HTTPError as exc:
            reason = "timed_out" if _timed_out(exc) else "stream_cut"
            raise MeibelStreamBroken(
                f"Meibel stream failed: {type(exc).__name__}", reason=reason
            ) from None
        except TimeoutError:
            raise MeibelStreamBroken(
                f"Meibel stream passed its {self.turn_deadline_seconds:.0f}s deadline",
                reason="timed_out",
            ) from None
        if not parser.done:
            raise MeibelStreamBroken("Meibel stream ended before its completion event")

    def _stream_refusal(self, response: httpx.Response, path: str) -> MeibelError:
        status = response.status_code
        failure = self._error_for(response, "POST", path)
        if status == 404:
            return MeibelSessionGone(str(failure), status=404)
        if status == 501:
            self._stream_unsupported_until = time.monotonic() + STREAM_UNSUPPORTED_SECONDS
            return MeibelStreamingUnsupported(str(failure), status=501)
        if (status >= 500 and status != 503) or status == 408:
            return MeibelTurnUncertain(str(failure), status=status, reason="server_error")
        return failure

    async def list_agents(self, *, limit: int = 1, offset: int = 0) -> Any:
        """The agents this key can see (used by `meibel-bot check`)."""
        params = {"limit": limit, "offset": offset}
        return await self._request("GET", "agents", None, params=params)

    async def get_agent(self, agent_id: str) -> Any:
        return await self._request("GET", f"agents/{_seg(agent_id)}", None)

    # -- the machinery ----------------------------------------------------------------
    async def _request(
        self,
        method: str,
        path: str,
        body: BaseModel | None,
        *,
        params: dict[str, Any] | None = None,
        turn: bool = False,
    ) -> Any:
        """One call with retries. A `turn` (a chat) is sent again only when Meibel said it
        did not take it; other calls also retry on dropped connections and 502/504/408."""
        payload = body.model_dump(mode="json", exclude_none=True) if body is not None else None
        deadline = time.monotonic() + self.retry.max_total_wait
        retry_statuses = TURN_RETRY_STATUSES if turn else RETRY_STATUSES
        attempt = 0
        while True:
            attempt += 1
            wait: float
            held = False
            try:
                async with self._paced() as answered:
                    response = await self._http.request(method, path, json=payload, params=params)
                    answered(response)
            except httpx.HTTPError as exc:
                failure = self._transport_failure(exc, method, path, turn=turn)
                if not isinstance(failure, MeibelUnavailable):
                    raise failure from None
                wait = self.retry.backoff(attempt)
            else:
                if response.is_success:
                    try:
                        return response.json()
                    except ValueError:
                        raise MeibelProtocolError(
                            f"Meibel answered {method} /{path} with a body that is not JSON",
                            status=response.status_code,
                        ) from None
                failure = self._error_for(response, method, path)
                status = response.status_code
                if status not in retry_statuses:
                    if turn and (status >= 500 or status == 408):
                        raise MeibelTurnUncertain(
                            str(failure), status=status, reason="server_error"
                        )
                    raise failure
                # After a 429 the pacer holds every new call, this one included.
                held = status == 429
                wait = hold_after_429(response.headers) if held else self.retry.backoff(attempt)
            if attempt >= self.retry.max_attempts or time.monotonic() + wait > deadline:
                raise failure
            log.info(
                "meibel %s /%s failed (%s), retry %d in %.2fs",
                method,
                path,
                failure.code,
                attempt,
                wait,
            )
            if not held:
                await asyncio.sleep(wait)

    @contextlib.asynccontextmanager
    async def _paced(self) -> AsyncIterator[Callable[[httpx.Response], None]]:
        """Send inside, once the key's budget allows; call the yielded function with the
        answer, whose rate-limit headers the pacer reads (a 429 holds every new call)."""
        ticket = await self._wait_for_budget()
        answers: list[httpx.Response] = []
        try:
            yield answers.append
        finally:
            response = answers[0] if answers else None
            self._pacer.settle(ticket, None if response is None else response.headers)
            if response is not None and response.status_code == 429:
                self.metrics.meibel_rate_limited.inc()
                self._pacer.hold(hold_after_429(response.headers))

    async def _wait_for_budget(self) -> Ticket:
        """Wait while Meibel says the key's budget is spent, counted in the metrics; never
        past the job's deadline (`time_left()`), or `retry.max_total_wait` outside a job:
        then MeibelRateLimited, and nothing was sent."""
        ticket = self._pacer.take_now()
        if ticket is not None:
            return ticket
        loop = asyncio.get_running_loop()
        left = time_left()
        started = loop.time()
        give_up_at = started + (self.retry.max_total_wait if left is None else left)
        self.metrics.meibel_paced_waiting.inc()
        try:
            return await self._pacer.acquire(give_up_at=give_up_at)
        finally:
            self.metrics.meibel_paced_waiting.dec()
            self.metrics.meibel_paced_seconds.inc(loop.time() - started)

    def _transport_failure(
        self, exc: httpx.HTTPError, method: str, path: str, *, turn: bool
    ) -> MeibelError:
        """Say truthfully what a transport error means for the request.

        MeibelUnavailable (safe to send again) only when no byte of it was sent. After
        sending, a chat turn becomes MeibelTurnUncertain; another call a MeibelTimeout when
        it timed out, else MeibelUnavailable (GETs and session starts may be retried).
        """
        name = type(exc.__cause__ or exc).__name__
        if describe(exc.__cause__ or exc) == "connection refused":
            name = "connection refused"  # aiohttp's name for it says nothing to a reader
        if _sent_nothing(exc):
            return MeibelUnavailable(f"cannot reach Meibel at {self._http.base_url}: {name}")
        timed_out = _timed_out(exc)
        if turn:
            what = "did not answer in time" if timed_out else "dropped the connection"
            return MeibelTurnUncertain(
                f"Meibel {what} after {method} /{path} was sent ({name})",
                reason="timed_out" if timed_out else "dropped",
            )
        if timed_out:
            return MeibelTimeout(f"Meibel did not answer {method} /{path} in time ({name})")
        return MeibelUnavailable(f"Meibel request {method} /{path} failed: {name}")

    def _error_for(self, response: httpx.Response, method: str, path: str) -> MeibelError:
        status = response.status_code
        detail = self._redact(_error_text(response))
        where = f"Meibel {method} /{path} answered {status}"
        if status in (401, 403):
            return MeibelAuthError(f"{where}: API key refused ({detail})", status=status)
        if status == 404:
            return MeibelNotFound(f"{where}: {detail}", status=status)
        if status == 429:
            return MeibelRateLimited(
                f"{where}: rate limited ({detail})",
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
            )
        if status >= 500 or status == 408:
            return MeibelServerError(f"{where}: {detail}", status=status)
        return MeibelInvalidRequest(f"{where}: {detail}", status=status, detail=detail)

    def _redact(self, text: str) -> str:
        return text.replace(self._api_key, "[redacted]") if self._api_key else text


def _sent_nothing(exc: httpx.HTTPError) -> bool:
    """Whether the request certainly never left this process.

    httpx-aiohttp maps every aiohttp ClientConnectionError, ServerDisconnectedError (the
    server closed the connection after reading the request) included, to ConnectTimeout,
    so its name says nothing: the aiohttp error it was raised from does.
    """
    cause = exc.__cause__
    if isinstance(cause, aiohttp.ClientError | asyncio.TimeoutError):
        return isinstance(cause, _CONNECT_FAILURES)
    return isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)


def _timed_out(exc: httpx.HTTPError) -> bool:
    """Whether the request was sent and its answer did not come in time (vs. dropped)."""
    cause = exc.__cause__
    if isinstance(cause, aiohttp.ClientError | asyncio.TimeoutError):
        return isinstance(cause, aiohttp.ServerTimeoutError | asyncio.TimeoutError)
    return isinstance(exc, httpx.TimeoutException)


def _seg(value: str) -> str:
    """One URL path segment, so an id can never climb into another path."""
    return httpx.URL("/" + value.replace("/", "%2F")).raw_path.decode("ascii").lstrip("/")


def _parse(model: type[_M], data: Any) -> _M:
    try:
        return model.model_validate(data)
    except PydanticValidationError as exc:
        raise MeibelProtocolError(
            f"Meibel answered a {model.__name__} that does not follow the contract: "
            f"{exc.error_count()} problem(s), first: {exc.errors()[0]['msg']}"
        ) from None


def _error_text(response: httpx.Response) -> str:
    """The server's own words, from any of the error shapes Meibel is known to use."""
    try:
        data = response.json()
    except httpx.ResponseNotRead:
        return response.reason_phrase
    except ValueError:
        return response.text.strip()[:300] or response.reason_phrase
    if isinstance(data, dict):
        if isinstance(data.get("detail"), list):
            parts = []
            for item in data["detail"]:
                if isinstance(item, dict):
                    loc = ".".join(str(p) for p in item.get("loc", []))
                    parts.append(f"{loc}: {item.get('msg', '')}".strip(": "))
            return "; ".join(parts)[:300] or "invalid request"
        error = data.get("error")
        inner: dict[str, Any] = error if isinstance(error, dict) else data
        message = inner.get("message") or inner.get("detail") or inner.get("code")
        if message:
            return str(message)[:300]
    return json.dumps(data)[:300]
