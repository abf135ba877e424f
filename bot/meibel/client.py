"""The async Meibel client: one pooled httpx client, retries, typed errors."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from httpx_aiohttp import AiohttpTransport
from httpx_sse import SSEError, aconnect_sse
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
    MeibelTimeout,
    MeibelUnavailable,
)
from bot.meibel.models import (
    ChatMessageRequest,
    ChatMessageResponse,
    CreateSessionRequest,
    CreateSessionResponse,
)
from bot.meibel.retry import RETRY_STATUSES, RetryPolicy, parse_retry_after
from bot.meibel.stream import MeibelStreamBroken, StreamEvent, StreamParser
from bot.routing import AgentRef

log = logging.getLogger(__name__)
_M = TypeVar("_M", bound=BaseModel)

API_KEY_HEADER = "Meibel-API-Key"
# The HTTP read timeout must outlast the server-side timeout_seconds we send, or we would
# give up on answers Meibel is still allowed to produce.
READ_TIMEOUT_MARGIN = 15.0


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
    ) -> None:
        self._api_key = api_key
        self.timeout_seconds = timeout_seconds
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
    async def start_session(self, agent: AgentRef) -> str:
        """Start a session with an agent, by id or by name; returns the session id."""
        path = (
            f"agents/{_seg(agent.value)}/sessions"
            if agent.kind == "id"
            else f"agents/name/{_seg(agent.value)}/sessions"
        )
        try:
            data = await self._request("POST", path, CreateSessionRequest())
        except MeibelNotFound as exc:
            raise MeibelAgentNotFound(
                f"Meibel agent {agent} not found or has no published version", status=404
            ) from exc
        return _parse(CreateSessionResponse, data).session_id

    async def chat(self, session_id: str, user_message: str) -> ChatMessageResponse:
        """Send one message into a session and wait for the agent's answer."""
        body = ChatMessageRequest(user_message=user_message, timeout_seconds=self.timeout_seconds)
        try:
            data = await self._request("POST", f"sessions/{_seg(session_id)}/chat", body)
        except MeibelNotFound as exc:
            raise MeibelSessionGone(f"Meibel session {session_id} is gone", status=404) from exc
        return _parse(ChatMessageResponse, data)

    async def chat_stream(
        self, session_id: str, user_message: str, *, files: Sequence[FilePart] = ()
    ) -> AsyncIterator[StreamEvent]:
        """Send one message (with files) and yield the agent's progress, text and answer.

        Raises the same typed errors as `chat` before the first event, and
        MeibelStreamBroken when the stream ends or fails before its completion.
        """
        # Multipart even without files: every field goes as a (None, value) part, which
        # makes httpx encode multipart/form-data as the endpoint requires.
        parts: list[tuple[str, tuple[str | None, bytes | str, str | None]]] = [
            ("user_message", (None, user_message, None)),
            ("timeout_seconds", (None, str(self.timeout_seconds), None)),
            ("include_tool_activity", (None, "true", None)),
        ]
        parts += [("files", (f.filename, f.content, f.mime_type)) for f in files]
        path = f"sessions/{_seg(session_id)}/chat/stream"
        parser = StreamParser()
        try:
            async with aconnect_sse(self._http, "POST", path, files=parts) as source:
                response = source.response
                if not response.is_success:
                    await response.aread()
                    failure = self._error_for(response, "POST", path)
                    if response.status_code == 404:
                        raise MeibelSessionGone(str(failure), status=404)
                    raise failure
                async for sse in source.aiter_sse():
                    event = parser.feed(sse.event, sse.data)
                    if event is not None:
                        yield event
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise MeibelUnavailable(f"cannot reach Meibel: {type(exc).__name__}") from None
        except httpx.TimeoutException:
            raise MeibelTimeout("Meibel stopped sending the answer in time") from None
        except (httpx.HTTPError, SSEError) as exc:
            raise MeibelStreamBroken(f"Meibel stream failed: {type(exc).__name__}") from None
        if not parser.done:
            raise MeibelStreamBroken("Meibel stream ended before its completion event")

    async def list_agents(self, *, limit: int = 1) -> Any:
        """The agents this key can see (used by `meibel-bot check`)."""
        return await self._request("GET", "agents", None, params={"limit": limit})

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
    ) -> Any:
        payload = body.model_dump(mode="json", exclude_none=True) if body is not None else None
        deadline = time.monotonic() + self.retry.max_total_wait
        attempt = 0
        while True:
            attempt += 1
            wait: float | None
            try:
                response = await self._http.request(method, path, json=payload, params=params)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.RemoteProtocolError) as exc:
                failure: MeibelError = MeibelUnavailable(
                    f"cannot reach Meibel at {self._http.base_url}: {type(exc).__name__}"
                )
                wait = self.retry.backoff(attempt)
            except httpx.TimeoutException as exc:
                raise MeibelTimeout(
                    f"Meibel did not answer {method} /{path} in time ({type(exc).__name__})"
                ) from None
            except httpx.HTTPError as exc:
                raise MeibelUnavailable(
                    f"Meibel request {method} /{path} failed: {type(exc).__name__}"
                ) from None
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
                if response.status_code not in RETRY_STATUSES:
                    raise failure
                wait = self.retry.backoff(attempt)
                if isinstance(failure, MeibelRateLimited) and failure.retry_after is not None:
                    wait = failure.retry_after
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
            await asyncio.sleep(wait)

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
