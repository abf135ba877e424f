"""POST /sessions/{id}/chat (JSON, per the OpenAPI spec) and /chat/stream (multipart, SSE)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

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
from bot.devserver.app import RECORD, SERVER, DevServer, error_response
from bot.devserver.faults import default_error_body
from bot.devserver.recording import RecordedRequest
from bot.devserver.state import SessionInfo, Turn
from bot.devserver.streaming import EventWriter
from bot.devserver.validation import (
    parse_json_body,
    pydantic_errors,
    session_not_found,
    validation_response,
)
from bot.meibel.models import ChatMessageRequest, ChatMessageResponse


def _fault_response(server: DevServer, session_id: str) -> web.Response | None:
    """Apply the random faults; lose_session only forgets, the 404 comes from the lookup."""
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
        )
    elif fault == "error":
        body = default_error_body(503)
        return error_response(503, str(body["code"]), str(body["message"]))
    return None


async def chat(request: web.Request) -> web.Response:
    server, session_id = request.app[SERVER], request.match_info["session_id"]
    faulted = _fault_response(server, session_id)
    if faulted is not None:
        return faulted
    body = parse_json_body(request, ChatMessageRequest, required=True)
    if isinstance(body, web.Response):
        return body
    session = server.sessions.get(session_id)
    if session is None:
        return session_not_found()
    await server._enter_chat(session_id)
    try:
        await asyncio.sleep(server.faults.latency_seconds)
        turn = len(session.turns) + 1
        answer = build_chat_response(
            body.user_message,
            turn,
            include_thinking=body.include_thinking,
            include_tool_activity=body.include_tool_activity,
        )
        _add_turn(session, body.user_message, answer.assistant_response, answer.signal_id)
    finally:
        server._leave_chat(session_id)
    return web.json_response(answer.model_dump(mode="json"))


def _add_turn(
    session: SessionInfo, question: str, answer: str, signal_id: str, **extra: Any
) -> Turn:
    turn = Turn(
        number=len(session.turns) + 1,
        user_message=question,
        answer=answer,
        signal_id=signal_id,
        streamed=extra.get("streamed", False),
        timestamp=now_iso(),
        files=extra.get("files", []),
    )
    session.turns.append(turn)
    return turn


async def chat_stream(request: web.Request) -> web.StreamResponse:
    server, session_id = request.app[SERVER], request.match_info["session_id"]
    faulted = _fault_response(server, session_id)
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

    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
    )
    await response.prepare(request)
    events = EventWriter(response)
    signal_id = new_signal_id()
    await events.send("connected", {"signal_id": signal_id, "session_id": session_id})
    await server._enter_chat(session_id)
    try:
        await asyncio.sleep(server.faults.latency_seconds)
        answer = build_chat_response(
            body.user_message,
            len(session.turns) + 1,
            include_thinking=body.include_thinking,
            include_tool_activity=True,
            signal_id=signal_id,
        )
        # Claim the turn number now: streams take many awaits, and a second chat into the
        # same session must not be handed the same number meanwhile.
        turn = _add_turn(
            session,
            body.user_message,
            answer.assistant_response,
            signal_id,
            streamed=True,
            files=record.files,
        )
        completed = False
        try:
            completed = await _send_answer(record, request, events, body, answer, turn.number)
        except ConnectionResetError:
            pass  # the client went away; nobody is left to tell
        finally:
            if not completed and turn in session.turns:
                session.turns.remove(turn)
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
    """Send status, tool, partial and completion events; False if a queued failure hit."""
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
    for chunk in split_chunks(answer.assistant_response):
        if failure is not None and events.partials_sent >= failure.after_partials:
            if failure.abort:
                if request.transport is not None:
                    request.transport.abort()
                return False
            await events.send("error", {"code": "stream_failed", "message": "Agent failed"})
            await events.response.write_eof()
            return False
        so_far += chunk
        message = so_far if server.stream_mode == "cumulative" else chunk
        if record.first_partial_at is None:
            record.first_partial_at = time.monotonic()
        await events.send("partial_response", {"data": _payload(message)})
        if server.stream_chunk_delay_seconds:
            await asyncio.sleep(server.stream_chunk_delay_seconds)
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
