"""The Meibel dev server, over real HTTP: auth, validation, answers, faults, streaming, and a
schemathesis run against the OpenAPI contract so the stand-in cannot drift from it."""

from __future__ import annotations

import argparse
import asyncio
import io
import itertools
import json
import os
import signal
import socket
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import settings
from schemathesis.core.failures import FailureGroup

from bot.devserver import API_KEY_HEADER, DevServer, Faults
from bot.devserver.cli import add_arguments, run_from_args, serve, server_from_args
from bot.meibel.models import ChatMessageResponse, HTTPValidationError
from tests.fixtures.meibel import DEV_KEY, serve_in_thread

REPO = Path(__file__).parents[1]
SPEC = REPO / "tests" / "contract" / "send-chat-message.openapi.yaml"
SEED_SPEC = Path(__file__).parents[2] / "shared" / "meibel-api" / "send-chat-message.openapi.yaml"
CONTRACT_SESSION = "ses_contract"

Events = list[tuple[str, dict[str, Any]]]


# -- helpers ------------------------------------------------------------------------------
@pytest.fixture
async def http(meibel_server: DevServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=meibel_server.base_url + "/", headers={API_KEY_HEADER: DEV_KEY}
    ) as client:
        yield client


@pytest.fixture
async def session_id(http: httpx.AsyncClient) -> str:
    response = await http.post("agents/name/helpdesk/sessions")
    assert response.status_code == 200
    return str(response.json()["session_id"])


async def ask(http: httpx.AsyncClient, sid: str, question: str, **extra: Any) -> httpx.Response:
    return await http.post(f"sessions/{sid}/chat", json={"user_message": question, **extra})


def parse_sse(text: str) -> Events:
    events: Events = []
    for block in text.split("\n\n"):
        if not block.strip():
            continue
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((lines["event"], json.loads(lines["data"])))
    return events


async def stream(http: httpx.AsyncClient, sid: str, question: str, **fields: str) -> Events:
    response = await http.post(
        f"sessions/{sid}/chat/stream", data={"user_message": question, **fields}
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    return parse_sse(response.text)


# -- auth ---------------------------------------------------------------------------------
ENDPOINTS = [
    ("GET", "agents"),
    ("GET", "agents/agt_dev_helpdesk"),
    ("POST", "agents/agt_dev_helpdesk/sessions"),
    ("POST", "agents/name/helpdesk/sessions"),
    ("GET", "sessions/whatever"),
    ("POST", "sessions/whatever/chat"),
    ("POST", "sessions/whatever/chat/stream"),
]


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
async def test_every_endpoint_requires_the_key(
    meibel_server: DevServer, method: str, path: str
) -> None:
    async with httpx.AsyncClient(base_url=meibel_server.base_url + "/") as client:
        missing = await client.request(method, path)
        wrong = await client.request(method, path, headers={API_KEY_HEADER: "not-the-key"})
    assert missing.status_code == 401
    assert missing.json() == {"code": "unauthorized", "message": "Missing API key"}
    assert wrong.status_code == 401
    assert wrong.json() == {"code": "unauthorized", "message": "Invalid API key"}
    first, second = meibel_server.requests
    assert (first.key_present, first.key_valid) == (False, False)
    assert (second.key_present, second.key_valid) == (True, False)
    assert second.status == 401


async def test_recorded_headers_never_hold_the_key(
    meibel_server: DevServer, http: httpx.AsyncClient
) -> None:
    await http.get("agents", headers={"X-Trace": "t1"})
    (record,) = meibel_server.requests
    assert record.key_valid
    assert record.headers["X-Trace"] == "t1"
    assert DEV_KEY not in json.dumps(record.headers)
    assert DEV_KEY not in repr(record)


async def test_without_a_configured_key_any_key_works_but_one_is_needed() -> None:
    async with (
        DevServer(api_key=None) as server,
        httpx.AsyncClient(base_url=server.base_url + "/") as client,
    ):
        ok = await client.get("agents", headers={API_KEY_HEADER: "anything"})
        missing = await client.get("agents")
        empty = await client.get("agents", headers={API_KEY_HEADER: ""})
    assert ok.status_code == 200
    assert missing.json()["message"] == "Missing API key"
    assert empty.status_code == 401


# -- validation and 404 -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "loc", "error_type"),
    [
        ({}, ["body", "user_message"], "missing"),
        ({"user_message": 42}, ["body", "user_message"], "string_type"),
        ({"user_message": None}, ["body", "user_message"], "string_type"),
        ({"user_message": "hi", "timeout_seconds": "30"}, ["body", "timeout_seconds"], "int_type"),
        (
            {"user_message": "hi", "include_thinking": "yes"},
            ["body", "include_thinking"],
            "bool_type",
        ),
        ([], ["body"], "model_type"),
    ],
)
async def test_invalid_chat_body_is_422_in_fastapi_shape(
    http: httpx.AsyncClient, session_id: str, body: Any, loc: list[Any], error_type: str
) -> None:
    response = await http.post(f"sessions/{session_id}/chat", json=body)
    assert response.status_code == 422
    detail = HTTPValidationError.model_validate(response.json()).detail
    assert detail is not None
    assert detail[0].loc == loc
    assert detail[0].type == error_type


async def test_missing_user_message_has_exactly_the_documented_shape(
    http: httpx.AsyncClient, session_id: str
) -> None:
    response = await http.post(f"sessions/{session_id}/chat", json={"timeout_seconds": 5})
    assert response.json() == {
        "detail": [{"loc": ["body", "user_message"], "msg": "Field required", "type": "missing"}]
    }


@pytest.mark.parametrize("raw", [b"{not json", b"", b"   "])
async def test_malformed_or_empty_json_is_422(
    http: httpx.AsyncClient, session_id: str, raw: bytes
) -> None:
    response = await http.post(
        f"sessions/{session_id}/chat", content=raw, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"][0] == "body"
    assert error["type"] in ("json_invalid", "missing")


@pytest.mark.parametrize("path", ["sessions/nope/chat", "sessions/nope/chat/stream"])
async def test_unknown_session_is_404(http: httpx.AsyncClient, path: str) -> None:
    if path.endswith("stream"):
        response = await http.post(path, data={"user_message": "hi"})
    else:
        response = await http.post(path, json={"user_message": "hi"})
    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "message": "Session not found"}
    assert (await http.get("sessions/nope")).status_code == 404


async def test_unknown_routes_and_methods_answer_json(
    http: httpx.AsyncClient, session_id: str
) -> None:
    not_found = await http.get("no/such/thing")
    wrong_method = await http.get(f"sessions/{session_id}/chat")
    assert not_found.status_code == 404
    assert not_found.json()["code"] == "not_found"
    assert wrong_method.status_code == 405
    assert wrong_method.headers["Allow"] == "POST"


# -- agents and sessions ------------------------------------------------------------------
async def test_sessions_start_by_id_or_name_and_missing_agents_404(
    meibel_server: DevServer, http: httpx.AsyncClient
) -> None:
    by_id = await http.post("agents/agt_dev_research/sessions", json={"prompt": "Be brief"})
    by_name = await http.post("agents/name/helpdesk/sessions")
    brand_new = await http.post("agents/name/my-new-agent/sessions")
    assert {by_id.status_code, by_name.status_code, brand_new.status_code} == {200}
    first = meibel_server.sessions[by_id.json()["session_id"]]
    assert first.agent.id == "agt_dev_research"
    assert first.request == {"prompt": "Be brief"}
    assert meibel_server.sessions[by_name.json()["session_id"]].agent.id == "agt_dev_helpdesk"

    for path in ("agents/missing/sessions", "agents/name/missing-bot/sessions"):
        response = await http.post(path)
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"
    unpublished = await http.post("agents/name/draft/sessions")
    assert unpublished.status_code == 404
    assert "published" in unpublished.json()["message"]
    bad = await http.post("agents/agt_dev_helpdesk/sessions", json={"execution_policy_ids": "x"})
    assert bad.status_code == 422
    assert len(meibel_server.sessions) == 3


async def test_agents_list_page_and_get(http: httpx.AsyncClient) -> None:
    page = (await http.get("agents", params={"offset": 1, "limit": 1})).json()
    assert page["total"] == 3
    assert (page["offset"], page["limit"]) == (1, 1)
    (agent,) = page["data"]
    assert set(agent) >= {"id", "name", "display_name", "version", "type"}
    one = await http.get(f"agents/{agent['id']}")
    assert one.json() == agent
    assert (await http.get("agents/missing-agent")).status_code == 404
    assert (await http.get("agents", params={"limit": "many"})).status_code == 422


async def test_session_detail_lists_the_conversation(
    meibel_server: DevServer, http: httpx.AsyncClient, session_id: str
) -> None:
    await ask(http, session_id, "first")
    detail = (await http.get(f"sessions/{session_id}")).json()
    assert detail["agent_id"] == "agt_dev_helpdesk"
    assert detail["status"] == "COMPLETED"  # RUNNING only while a turn is in progress
    assert [m["type"] for m in detail["messages"]] == ["user", "assistant"]
    assert detail["messages"][0]["message"] == "first"
    messages = (await http.get(f"sessions/{session_id}/messages")).json()
    assert messages["messages"] == detail["messages"]
    listed = (await http.get("agents/agt_dev_helpdesk/sessions")).json()
    assert [s["session_id"] for s in listed["data"]] == [session_id]


# -- answers ------------------------------------------------------------------------------
async def test_answer_uses_every_field_of_the_contract(
    http: httpx.AsyncClient, session_id: str
) -> None:
    response = await ask(
        http, session_id, "How do I reset my password?", include_tool_activity=True
    )
    assert response.status_code == 200
    answer = ChatMessageResponse.model_validate(response.json())
    text = answer.assistant_response
    assert answer.response.message == text
    assert 'You asked: "How do I reset my password?"' in text
    assert "turn **1**" in text
    assert text.startswith("## ")
    assert "\n- " in text
    assert "```python\n" in text
    assert "[Meibel docs](https://" in text
    sources = answer.response.sources or []
    assert 2 <= len(sources) <= 3
    assert any(s.url for s in sources)
    assert any(s.url is None for s in sources)
    assert 2 <= len(answer.response.follow_up_questions or []) <= 3
    actions = answer.response.call_to_actions or []
    assert any((a.action_data or {}).get("url", "").startswith("https://") for a in actions)
    assert any("url" not in (a.action_data or {}) for a in actions)
    (artifact,) = answer.response.artifacts or []
    assert artifact.mime_type == "text/markdown"
    assert artifact.content
    assert answer.token_usage and answer.token_usage["total_tokens"] > 0
    (tool,) = answer.tool_activity or []
    assert tool.arguments["query"] == "How do I reset my password?"
    assert answer.thinking is None


async def test_answers_depend_only_on_question_and_turn(
    meibel_server: DevServer, http: httpx.AsyncClient, session_id: str
) -> None:
    first = ChatMessageResponse.model_validate((await ask(http, session_id, "Q?")).json())
    second = ChatMessageResponse.model_validate(
        (await ask(http, session_id, "Q?", include_thinking=True)).json()
    )
    other = meibel_server.create_session("agt_dev_research")
    replay = ChatMessageResponse.model_validate((await ask(http, other, "Q?")).json())
    assert "turn **2**" in second.assistant_response
    assert first.assistant_response != second.assistant_response
    assert replay.assistant_response == first.assistant_response
    assert replay.response.sources == first.response.sources
    assert len({first.signal_id, second.signal_id, replay.signal_id}) == 3
    assert second.thinking
    assert first.tool_activity is None


async def test_sessions_record_which_session_got_which_message(
    meibel_server: DevServer, http: httpx.AsyncClient
) -> None:
    a, b = meibel_server.create_session(), meibel_server.create_session()
    await ask(http, a, "for a")
    await ask(http, b, "for b")
    await ask(http, a, "again a")
    assert meibel_server.sessions[a].user_messages == ["for a", "again a"]
    assert meibel_server.sessions[b].user_messages == ["for b"]
    assert [r.session_id for r in meibel_server.chat_requests()] == [a, b, a]
    assert [r.user_message for r in meibel_server.chat_requests()] == ["for a", "for b", "again a"]


# -- faults -------------------------------------------------------------------------------
async def test_queued_errors_hit_the_next_matching_calls_only(
    meibel_server: DevServer, http: httpx.AsyncClient, session_id: str
) -> None:
    meibel_server.queue_responses(503, times=2)
    assert (await http.get("agents")).status_code == 200  # path does not match "/chat"
    statuses = [(await ask(http, session_id, f"q{i}")).status_code for i in range(3)]
    assert statuses == [503, 503, 200]
    assert meibel_server.sessions[session_id].user_messages == ["q2"]


async def test_queued_error_body_and_custom_body(
    meibel_server: DevServer, http: httpx.AsyncClient, session_id: str
) -> None:
    meibel_server.queue_responses(503)
    meibel_server.queue_responses(500, body={"error": {"message": "old shape"}})
    first, second = await ask(http, session_id, "a"), await ask(http, session_id, "b")
    assert first.json() == {"code": "service_unavailable", "message": first.json()["message"]}
    assert second.status_code == 500
    assert second.json() == {"error": {"message": "old shape"}}


async def test_queued_429_carries_retry_after(
    meibel_server: DevServer, http: httpx.AsyncClient, session_id: str
) -> None:
    meibel_server.faults.retry_after_seconds = 3
    meibel_server.queue_responses(429)
    meibel_server.queue_responses(429, headers={"Retry-After": "7"}, path_contains="/sessions")
    first, second = await ask(http, session_id, "a"), await ask(http, session_id, "b")
    assert (first.status_code, first.headers["Retry-After"]) == (429, "3")
    assert (second.status_code, second.headers["Retry-After"]) == (429, "7")
    assert first.json()["code"] == "rate_limited"


async def test_queue_can_target_a_method_and_any_path(
    meibel_server: DevServer, http: httpx.AsyncClient
) -> None:
    meibel_server.queue_responses(500, path_contains="/agents", method="POST")
    assert (await http.get("agents")).status_code == 200
    assert (await http.post("agents/name/helpdesk/sessions")).status_code == 500
    assert (await http.post("agents/name/helpdesk/sessions")).status_code == 200


@pytest.mark.parametrize(
    ("faults", "status"),
    [
        (Faults(error_rate=1.0), 503),
        (Faults(rate_limit_rate=1.0, retry_after_seconds=4), 429),
        (Faults(lose_session_rate=1.0), 404),
    ],
)
async def test_random_fault_rates(
    meibel_server: DevServer,
    http: httpx.AsyncClient,
    session_id: str,
    faults: Faults,
    status: int,
) -> None:
    meibel_server.faults = faults
    response = await ask(http, session_id, "hello")
    assert response.status_code == status
    assert set(response.json()) == {"code", "message"}
    if status == 429:
        assert response.headers["Retry-After"] == "4"
    if status == 404:
        assert session_id not in meibel_server.sessions


async def test_fault_dice_are_reproducible_with_a_seed() -> None:
    def outcomes(seed: int) -> list[str | None]:
        faults = Faults(error_rate=0.3, rate_limit_rate=0.3, lose_session_rate=0.1, seed=seed)
        return [faults.draw() for _ in range(200)]

    assert outcomes(7) == outcomes(7)
    assert outcomes(7) != outcomes(8)
    kinds = set(outcomes(7))
    assert kinds == {None, "error", "rate_limit", "lose_session"}
    with pytest.raises(ValueError, match="error_rate"):
        Faults(error_rate=1.5)


async def test_latency_is_added_to_chats(
    meibel_server: DevServer, http: httpx.AsyncClient, session_id: str
) -> None:
    meibel_server.faults.latency_seconds = 0.2
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert (await ask(http, session_id, "slow")).status_code == 200
    assert loop.time() - started >= 0.2


async def test_forget_sessions_makes_chats_404(
    meibel_server: DevServer, http: httpx.AsyncClient, session_id: str
) -> None:
    assert (await ask(http, session_id, "before")).status_code == 200
    meibel_server.forget_sessions()
    response = await ask(http, session_id, "after")
    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "message": "Session not found"}
    assert meibel_server.sessions == {}


async def test_held_chats_stay_in_flight_until_released(
    meibel_server: DevServer, http: httpx.AsyncClient
) -> None:
    a, b = meibel_server.create_session(), meibel_server.create_session()
    meibel_server.hold_chats()
    calls = [asyncio.create_task(ask(http, sid, "held")) for sid in (a, a, b)]
    async with asyncio.timeout(5):
        await meibel_server.wait_for_in_flight(3)
    assert not any(call.done() for call in calls)
    assert meibel_server.max_in_flight == 3
    assert meibel_server.max_in_flight_by_session == {a: 2, b: 1}
    meibel_server.release_chats()
    responses = await asyncio.gather(*calls)
    assert [r.status_code for r in responses] == [200, 200, 200]
    assert meibel_server.in_flight == 0
    turns = sorted("turn **1**" in r.text for r in responses[:2])
    assert turns == [False, True]  # the two calls into `a` became turns 1 and 2


# -- streaming ----------------------------------------------------------------------------
async def test_stream_events_in_order_with_cumulative_partials(
    meibel_server: DevServer, http: httpx.AsyncClient, session_id: str
) -> None:
    events = await stream(http, session_id, "Stream it")
    names = [name for name, _ in events]
    assert names[:4] == ["connected", "status", "tool_call", "tool_result"]
    assert names[-1] == "completion"
    partials = [data["data"]["message"] for name, data in events if name == "partial_response"]
    assert len(partials) >= 3
    assert names[4:-1] == ["partial_response"] * len(partials)
    for data, expected_sequence in zip((d for _, d in events), range(len(events)), strict=True):
        assert data["sequence"] == expected_sequence
        assert {"type", "disposition", "timestamp"} <= set(data)
    assert all(later.startswith(earlier) for earlier, later in itertools.pairwise(partials))
    connected, completion = events[0][1], events[-1][1]
    final = completion["data"]
    assert partials[-1] == final["message"]
    assert 'You asked: "Stream it"' in final["message"]
    assert set(final) >= {
        "message",
        "sources",
        "follow_up_questions",
        "call_to_actions",
        "artifacts",
        "citations",
    }
    assert connected["signal_id"] == completion["signal_id"]
    assert events[1][1]["content"]
    assert set(events[2][1]) >= {"tool_id", "tool_name", "arguments"}
    (turn,) = meibel_server.sessions[session_id].turns
    assert turn.streamed and turn.signal_id == completion["signal_id"]


async def test_stream_records_when_the_first_partial_was_written(
    meibel_server: DevServer, http: httpx.AsyncClient, session_id: str
) -> None:
    meibel_server.stream_chunk_delay_seconds = 0.05
    before = time.monotonic()
    await stream(http, session_id, "When did the text start?")
    after = time.monotonic()
    (record,) = meibel_server.chat_requests()
    assert record.first_partial_at is not None
    # written after the request arrived, and at least one paced chunk before the stream ended
    assert before <= record.timestamp <= record.first_partial_at <= after - 0.05
    await ask(http, session_id, "and a plain chat")
    assert meibel_server.chat_requests()[-1].first_partial_at is None


async def test_stream_delta_mode_concatenates_to_the_answer(
    meibel_server: DevServer, http: httpx.AsyncClient, session_id: str
) -> None:
    meibel_server.stream_mode = "delta"
    events = await stream(http, session_id, "Deltas please", include_tool_activity="false")
    names = [name for name, _ in events]
    assert "tool_call" not in names and "tool_result" not in names
    pieces = [data["data"]["message"] for name, data in events if name == "partial_response"]
    assert not all(later.startswith(earlier) for earlier, later in itertools.pairwise(pieces))
    assert "".join(pieces) == events[-1][1]["data"]["message"]


async def test_stream_records_form_fields_and_files(
    meibel_server: DevServer, http: httpx.AsyncClient, session_id: str
) -> None:
    files = [
        ("files", ("notes.txt", b"hello", "text/plain")),
        ("files", ("image.png", b"\x89PNG" + b"\x00" * 2044, "image/png")),
    ]
    response = await http.post(
        f"sessions/{session_id}/chat/stream",
        data={"user_message": "see attached", "timeout_seconds": "30"},
        files=files,
    )
    assert response.status_code == 200
    (record,) = meibel_server.chat_requests()
    assert record.form == {"user_message": "see attached", "timeout_seconds": "30"}
    assert [(f.field, f.filename, f.size) for f in record.files] == [
        ("files", "notes.txt", 5),
        ("files", "image.png", 2048),
    ]
    assert meibel_server.sessions[session_id].turns[0].files == record.files


@pytest.mark.parametrize(
    "kwargs",
    [
        {"json": {"user_message": "JSON is not accepted here"}},
        {"data": {"user_message": "hi", "timeout_seconds": "soon"}},
    ],
)
async def test_stream_rejects_bad_forms_with_422(
    http: httpx.AsyncClient, session_id: str, kwargs: dict[str, Any]
) -> None:
    response = await http.post(f"sessions/{session_id}/chat/stream", **kwargs)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][0] == "body"


async def test_stream_failure_sends_error_and_no_completion(
    meibel_server: DevServer, http: httpx.AsyncClient, session_id: str
) -> None:
    meibel_server.queue_stream_failure(after_partials=2)
    events = await stream(http, session_id, "break")
    names = [name for name, _ in events]
    assert names[-1] == "error"
    assert names.count("partial_response") == 2
    assert "completion" not in names
    # The agent received the message and failed it: in the history, with no answer.
    [turn] = meibel_server.sessions[session_id].turns
    assert (turn.user_message, turn.answer, turn.failed) == ("break", None, True)
    assert [n for n, _ in await stream(http, session_id, "works")][-1] == "completion"


async def test_stream_abort_cuts_the_connection(
    meibel_server: DevServer, http: httpx.AsyncClient, session_id: str
) -> None:
    meibel_server.queue_stream_failure(after_partials=1, abort=True)
    received = ""
    with pytest.raises(httpx.TransportError):
        async with http.stream(
            "POST", f"sessions/{session_id}/chat/stream", data={"user_message": "cut"}
        ) as response:
            async for text in response.aiter_text():
                received += text
    assert "partial_response" in received
    assert "completion" not in received


async def test_streams_are_held_by_the_gate_after_connecting(
    meibel_server: DevServer, http: httpx.AsyncClient, session_id: str
) -> None:
    meibel_server.hold_chats()
    call = asyncio.create_task(stream(http, session_id, "wait"))
    async with asyncio.timeout(5):
        await meibel_server.wait_for_in_flight(1)
    assert not call.done()
    meibel_server.release_chats()
    assert (await call)[-1][0] == "completion"


# -- what the agent received, whatever became of the connection -------------------------
async def test_a_session_is_running_while_a_turn_is_in_progress(
    meibel_server: DevServer, http: httpx.AsyncClient, session_id: str
) -> None:
    meibel_server.hold_chats()
    call = asyncio.create_task(ask(http, session_id, "working?"))
    async with asyncio.timeout(5):
        await meibel_server.wait_for_in_flight(1)
    detail = (await http.get(f"sessions/{session_id}")).json()
    assert detail["status"] == "RUNNING"
    messages = (await http.get(f"sessions/{session_id}/messages")).json()["messages"]
    assert [(m["type"], m["message"]) for m in messages] == [("user", "working?")]
    meibel_server.release_chats()
    answer = (await call).json()
    detail = (await http.get(f"sessions/{session_id}")).json()
    assert detail["status"] == "COMPLETED"
    assert [m["type"] for m in detail["messages"]] == ["user", "assistant"]
    assert detail["messages"][1]["signal_id"] == answer["signal_id"]
    assert meibel_server.received == {"working?": 1}


@pytest.mark.parametrize("path", ["chat", "chat/stream"])
async def test_a_drop_after_the_request_still_runs_the_turn(
    meibel_server: DevServer, http: httpx.AsyncClient, session_id: str, path: str
) -> None:
    meibel_server.queue_drop(at="request", path_contains=path)
    with pytest.raises(httpx.TransportError):
        body = {"user_message": "dropped"}
        if path == "chat":
            await http.post(f"sessions/{session_id}/chat", json=body)
        else:
            await http.post(f"sessions/{session_id}/chat/stream", data=body)
    async with asyncio.timeout(5):
        await meibel_server.wait_for(
            lambda: meibel_server.sessions[session_id].status == "COMPLETED"
        )
    [turn] = meibel_server.sessions[session_id].turns
    assert turn.user_message == "dropped" and turn.answer and not turn.failed
    assert meibel_server.received["dropped"] == 1
    # The drop is used up: the next chat is answered.
    assert (await ask(http, session_id, "next")).status_code == 200


async def test_a_stream_cut_after_connected_still_runs_the_turn(
    meibel_server: DevServer, http: httpx.AsyncClient, session_id: str
) -> None:
    meibel_server.queue_drop(at="connected")
    received = ""
    with pytest.raises(httpx.TransportError):
        async with http.stream(
            "POST", f"sessions/{session_id}/chat/stream", data={"user_message": "cut"}
        ) as response:
            async for text in response.aiter_text():
                received += text
    assert [name for name, _ in parse_sse(received)] == ["connected"]
    async with asyncio.timeout(5):
        await meibel_server.wait_for(
            lambda: meibel_server.sessions[session_id].status == "COMPLETED"
        )
    assert meibel_server.sessions[session_id].turns[0].answer
    assert meibel_server.received["cut"] == 1


async def test_a_gateway_error_comes_after_the_agent_ran_the_turn(
    meibel_server: DevServer, http: httpx.AsyncClient, session_id: str
) -> None:
    meibel_server.queue_gateway_error(504)
    response = await ask(http, session_id, "slow gateway")
    assert response.status_code == 504
    [turn] = meibel_server.sessions[session_id].turns
    assert turn.answer and meibel_server.received["slow gateway"] == 1


@pytest.mark.parametrize("kind", ["drop_after_request", "drop_after_connected"])
async def test_random_drops(
    meibel_server: DevServer, http: httpx.AsyncClient, session_id: str, kind: str
) -> None:
    meibel_server.faults = Faults(**{f"{kind}_rate": 1.0})  # type: ignore[arg-type]
    with pytest.raises(httpx.TransportError):
        async with http.stream(
            "POST", f"sessions/{session_id}/chat/stream", data={"user_message": "dice"}
        ) as response:
            async for _ in response.aiter_text():
                pass
    async with asyncio.timeout(5):
        await meibel_server.wait_for(lambda: meibel_server.received["dice"] == 1)


# -- CLI ----------------------------------------------------------------------------------
def test_cli_arguments_build_the_server() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(
        ["--port", "0", "--latency", "0.5", "--error-rate", "0.25", "--any-key", "--seed", "3"]
    )
    server = server_from_args(args)
    assert args.port == 0
    assert server.api_key is None
    assert (server.faults.latency_seconds, server.faults.error_rate) == (0.5, 0.25)
    assert server.faults.seed == 3
    faulty = server_from_args(
        parser.parse_args(
            [
                "--drop-after-request-rate",
                "0.1",
                "--drop-after-connected-rate",
                "0.2",
                "--stream-piece-chars",
                "3",
                "--answer-chars",
                "1000",
            ]
        )
    )
    assert faulty.faults.drop_after_request_rate == 0.1
    assert faulty.faults.drop_after_connected_rate == 0.2
    assert (faulty.stream_piece_chars, faulty.answer_chars) == (3, 1000)
    with pytest.raises(SystemExit):
        parser.parse_args(["--rate-limit-rate", "2"])


async def test_serve_prints_where_and_stops_on_sigterm() -> None:
    out, started = io.StringIO(), asyncio.Event()
    server = DevServer(api_key="k-123")
    task = asyncio.create_task(serve(server, port=0, started=started, out=out))
    async with asyncio.timeout(5):
        await started.wait()
    base_url = server.base_url
    async with httpx.AsyncClient() as client:
        ok = await client.get(base_url + "/agents", headers={API_KEY_HEADER: "k-123"})
    assert ok.status_code == 200
    os.kill(os.getpid(), signal.SIGTERM)
    async with asyncio.timeout(5):
        assert await task == 0
    assert f"MEIBEL_BASE_URL={base_url}" in out.getvalue()
    assert "MEIBEL_API_KEY=k-123" in out.getvalue()
    async with httpx.AsyncClient() as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(base_url + "/agents")


async def test_run_from_args_reports_a_busy_port() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        parser = argparse.ArgumentParser()
        add_arguments(parser)
        args = parser.parse_args(["--port", str(busy.getsockname()[1])])
        assert await run_from_args(args) == 1


# -- the contract -------------------------------------------------------------------------
def test_contract_copy_matches_the_seed_spec() -> None:
    if not SEED_SPEC.exists():
        pytest.skip("the shared seed spec is not beside this clone")
    assert SPEC.read_text() == SEED_SPEC.read_text()


CONTRACT = schemathesis.openapi.from_path(
    SPEC,
    config=schemathesis.Config.from_dict(
        {
            "auth": {"openapi": {"APIKeyHeader": {"api_key": DEV_KEY}}},
            "parameters": {"session_id": CONTRACT_SESSION},
        }
    ),
)


@pytest.fixture(scope="module")
def contract_server() -> Iterator[DevServer]:
    # schemathesis sends through `requests`, which would block a server on the test's loop.
    with serve_in_thread() as server:
        server.create_session(session_id=CONTRACT_SESSION)
        yield server


@CONTRACT.parametrize()
@settings(max_examples=150, deadline=None)
def test_chat_endpoint_follows_the_openapi_contract(
    case: schemathesis.Case[Any], contract_server: DevServer
) -> None:
    base_url = contract_server.base_url
    response = case.call(base_url=base_url)
    sent_key = case.headers.get(API_KEY_HEADER) if case.headers else None
    if sent_key != DEV_KEY:
        # The spec leaves 401 undocumented; the README says every call needs the key.
        assert response.status_code == 401
        assert set(response.json()) == {"code", "message"}
        return
    case.validate_response(response, transport_kwargs={"base_url": base_url})


def test_the_contract_check_catches_a_drifting_answer() -> None:
    operation = CONTRACT["/sessions/{session_id}/chat"]["POST"]
    with serve_in_thread() as server:
        server.create_session(session_id=CONTRACT_SESSION)
        server.queue_responses(200, body={"signal_id": "sig_1", "response": {}})
        case = operation.Case(
            path_parameters={"session_id": CONTRACT_SESSION},
            headers={API_KEY_HEADER: DEV_KEY},
            body={"user_message": "hi"},
        )
        response = case.call(base_url=server.base_url)
        with pytest.raises(FailureGroup, match="assistant_response"):
            case.validate_response(response, transport_kwargs={"base_url": server.base_url})
