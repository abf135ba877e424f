"""POST /sessions/{id}/chat (JSON, per the OpenAPI spec) and /chat/stream (multipart, SSE)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web
from pydantic import ValidationError as PydanticValidationError

from bot.devserver.answers import (
    build_chat_response,
    citations_for,
    new_signal_id,
    now_iso,
    split_chunks,
    tool_activity_for,
)
from bot.devserver.faults import DropPoint, default_error_body
from bot.devserver.keys import RECORD, SERVER, error_response
from bot.devserver.recording import RecordedFile, RecordedRequest
from bot.devserver.state import SessionInfo, Turn
from bot.devserver.streaming import EventWriter
from bot.devserver.validation import (
    parse_json_body,
    pydantic_errors,
    session_not_found,
    validation_response,
)
from bot.meibel.models import ChatMessageRequest, ChatMessageResponse

if TYPE_CHECKING:
    from bot.devserver.app import DevServer


def _fault_response(
    server: DevServer, session_id: str
) -> tuple[web.Response | None, DropPoint | None]:
    """Apply the random faults: an answer instead of the agent's, or where to drop.

    lose_session only forgets: the 404 comes from the lookup.
    """
    fault = server.faults.draw()
    if fault == "lose_session":
        server.sessions.pop(session_id, None)
    elif fault == "rate_limit":
        retry_after = str(server.faults.retry_after_seconds)
        return error_response(
            429,
            "rate_limited",
            "Rate limit exceeded",
            **{"Retry-After": retry_after, "X-RateLimit-Remaining": "0"},
        ), None
    elif fault == "error":
        body = default_error_body(503)
        return error_response(503, str(body["code"]), str(body["message"])), None
    elif fault == "drop_after_request":
        return None, "request"
    elif fault == "drop_after_connected":
        return None, "connected"
    return None, None


def _drop(request: web.Request) -> None:
    """Cut the connection without a word; the handler (the agent) carries on."""
    if request.transport is not None:
        request.transport.abort()


async def chat(request: web.Request) -> web.Response:
    server, session_id = request.app[SERVER], request.match_info["session_id"]
    faulted, drop_at = _fault_response(server, session_id)
    if faulted is not None:
        return faulted
    body = parse_json_body(request, ChatMessageRequest, required=True)
    if isinstance(body, web.Response):
        return body
    session = server.sessions.get(session_id)
    if session is None:
        return session_not_found()
    turn = _receive(server, session, body.user_message, new_signal_id())
    # /chat has no `connected` event: a drop planned there happens after the request too.
    if drop_at is not None or server._take_drop("request", request.path):
        _drop(request)
    await server._enter_chat(session_id)
    try:
        await asyncio.sleep(server.faults.latency_seconds)
        answer = _answer(server, body, turn, include_tool_activity=body.include_tool_activity)
        turn.answer = answer.assistant_response
    finally:
        server._leave_chat(session_id)
    return server._take_gateway_error(request.path) or web.json_response(
        answer.model_dump(mode="json")
    )


def _receive(
    server: DevServer,
    session: SessionInfo,
    question: str,
    signal_id: str,
    *,
    streamed: bool = False,
    files: list[RecordedFile] | None = None,
) -> Turn:
    """The agent received a message: it is in the session at once, answered later."""
    turn = Turn(
        number=len(session.turns) + 1,
        user_message=question,
        answer=None,
        signal_id=signal_id,
        streamed=streamed,
        timestamp=now_iso(),
        files=files or [],
    )
    session.turns.append(turn)
    server.received[question] += 1
    return turn


def _answer(
    server: DevServer,
    body: ChatMessageRequest,
    turn: Turn,
    *,
    include_tool_activity: bool | None,
) -> ChatMessageResponse:
    answer = build_chat_response(
        body.user_message,
        turn.number,
        include_thinking=body.include_thinking,
        include_tool_activity=include_tool_activity,
        signal_id=turn.signal_id,
    )
    if server.answer_chars and len(answer.assistant_response) < server.answer_chars:
        text = answer.assistant_response
        padded = (text + "\n\n" + "lorem ipsum " * (server.answer_chars // 12 + 1))[
            : server.answer_chars
        ]
        answer.assistant_response = padded
        answer.response.message = padded
    return answer


async def chat_stream(request: web.Request) -> web.StreamResponse:
    server, session_id = request.app[SERVER], request.match_info["session_id"]
    faulted, drop_at = _fault_response(server, session_id)
    if faulted is not None:
        return faulted
    record = request[RECORD]
    # The endpoint takes multipart/form-data only; a JSON body has no user_message field.
    fields = dict(record.form or {})
    try:
        body = ChatMessageRequest.model_validate(fields)
    except PydanticValidationError as exc:
        return validation_response(pydantic_errors(exc))
    session = server.sessions.get(session_id)
    if session is None:
        return session_not_found()

    turn = _receive(
        server, session, body.user_message, new_signal_id(), streamed=True, files=record.files
    )
    gateway_error = server._take_gateway_error(request.path)
    if gateway_error is not None:
        turn.answer = _answer(server, body, turn, include_tool_activity=True).assistant_response
        server._notify()
        return gateway_error
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
    )
    dropped = drop_at == "request" or server._take_drop("request", request.path)
    if dropped:
        _drop(request)
    else:
        await response.prepare(request)
    events = EventWriter(response)
    if not dropped:
        await events.send("connected", {"signal_id": turn.signal_id, "session_id": session_id})
        if drop_at == "connected" or server._take_drop("connected", request.path):
            _drop(request)
            dropped = True
    await server._enter_chat(session_id)
    try:
        await asyncio.sleep(server.faults.latency_seconds)
        answer = _answer(server, body, turn, include_tool_activity=True)
        failed = False
        # The client may go away meanwhile; the agent finishes the turn all the same.
        if not dropped:
            with contextlib.suppress(ConnectionResetError):
                failed = not await _send_answer(record, request, events, body, answer, turn.number)
        # An `error` event means the agent failed the turn; a cut connection does not stop it.
        turn.failed = failed
        turn.answer = None if failed else answer.assistant_response
    finally:
        server._leave_chat(session_id)
    return response


async def _send_answer(
    record: RecordedRequest,
    request: web.Request,
    events: EventWriter,
    body: ChatMessageRequest,
    answer: ChatMessageResponse,
    turn: int,
) -> bool:
    """Send status, tool, partial and completion events.

    False when a queued failure made the agent fail (an `error` event); a queued abort
    cuts the connection, and the agent still finishes the turn (True).
    """
    server = request.app[SERVER]
    await events.send("status", {"content": "Searching the knowledge base"})
    # Tool events unless explicitly turned off: the flag's default is undocumented.
    if body.include_tool_activity is not False:
        tool = tool_activity_for(body.user_message, turn)
        call = {"tool_id": tool.tool_id, "tool_name": tool.tool_name}
        await events.send("tool_call", {**call, "arguments": tool.arguments})
        await events.send("tool_result", {**call, "result": tool.result})
    failure = server._next_stream_failure()
    so_far = ""
    text = answer.assistant_response
    pieces = (
        [
            text[i : i + server.stream_piece_chars]
            for i in range(0, len(text), server.stream_piece_chars)
        ]
        if server.stream_piece_chars
        else split_chunks(text)
    )
    for chunk in pieces:
        if failure is not None and events.partials_sent >= failure.after_partials:
            if failure.abort:
                await events.flush()
                _drop(request)
                return True
            await events.send("error", {"code": "stream_failed", "message": "Agent failed"})
            await events.response.write_eof()
            return False
        if server.stream_mode == "cumulative":
            so_far += chunk
        message = so_far if server.stream_mode == "cumulative" else chunk
        first = record.first_partial_at is None
        if first:
            record.first_partial_at = time.monotonic()
        delay = server.stream_chunk_delay_seconds
        # The first piece goes out at once, so time-to-first-text stays measurable.
        buffered = not delay and not first
        await events.send("partial_response", {"data": _payload(message)}, buffered=buffered)
        if delay:
            await asyncio.sleep(delay)
    final = answer.response.model_dump(mode="json")
    final["citations"] = citations_for(body.user_message, turn)
    await events.send(
        "completion",
        {"signal_id": answer.signal_id, "data": final, "token_usage": answer.token_usage},
    )
    await events.response.write_eof()
    return True


def _payload(message: str) -> dict[str, Any]:
    return {
        "message": message,
        "sources": [],
        "follow_up_questions": [],
        "call_to_actions": [],
        "artifacts": [],
        "citations": [],
    }
