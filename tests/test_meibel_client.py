"""The Meibel client against the dev server over real HTTP: calls, retries, typed errors."""

from __future__ import annotations

import asyncio
import socket

import pytest

from bot.devserver import DevServer
from bot.meibel.client import MeibelClient
from bot.meibel.errors import (
    MeibelAgentNotFound,
    MeibelAuthError,
    MeibelInvalidRequest,
    MeibelRateLimited,
    MeibelServerError,
    MeibelSessionGone,
    MeibelStreamingUnsupported,
    MeibelTurnUncertain,
    MeibelUnavailable,
)
from bot.meibel.retry import RetryPolicy, parse_retry_after
from bot.meibel.stream import MeibelStreamBroken, StreamDone
from bot.routing import AgentRef
from tests.fixtures.meibel import DEV_KEY

FAST = RetryPolicy(max_attempts=4, base_delay=0.01, max_delay=0.05, max_total_wait=5.0)


def client_for(server: DevServer, *, key: str = DEV_KEY, **kwargs: object) -> MeibelClient:
    options: dict[str, object] = {"timeout_seconds": 30, "retry": FAST, **kwargs}
    return MeibelClient(base_url=server.base_url, api_key=key, **options)  # type: ignore[arg-type]


async def test_session_by_id_and_by_name_then_chat(meibel_server: DevServer) -> None:
    client = client_for(meibel_server)
    try:
        by_id = await client.start_session(AgentRef("id", "agt_dev_helpdesk"))
        by_name = await client.start_session(AgentRef("name", "support-agent"))
        reply = await client.chat(by_name, "How do I reset my password?")
    finally:
        await client.aclose()
    paths = [r.path for r in meibel_server.requests]
    assert "/v2/agents/agt_dev_helpdesk/sessions" in paths
    assert "/v2/agents/name/support-agent/sessions" in paths
    assert meibel_server.sessions[by_name].agent.name == "support-agent"
    assert by_id != by_name
    chat = meibel_server.chat_requests()[0]
    assert chat.path == f"/v2/sessions/{by_name}/chat"
    assert chat.json == {"user_message": "How do I reset my password?", "timeout_seconds": 30}
    assert 'You asked: "How do I reset my password?"' in (reply.response.message or "")
    assert reply.response.sources and reply.response.follow_up_questions
    assert reply.signal_id


async def test_a_chat_is_sent_again_only_after_429_and_503(meibel_server: DevServer) -> None:
    session = meibel_server.create_session()
    meibel_server.queue_responses(429, times=1, headers={"Retry-After": "0"})
    meibel_server.queue_responses(503, times=1)
    client = client_for(meibel_server)
    try:
        reply = await client.chat(session, "still there?")
    finally:
        await client.aclose()
    assert len(meibel_server.chat_requests()) == 3
    assert meibel_server.received["still there?"] == 1
    assert 'You asked: "still there?"' in (reply.response.message or "")


@pytest.mark.parametrize("status", [408, 500, 502, 504])
async def test_a_chat_that_may_have_been_taken_is_never_sent_again(
    meibel_server: DevServer, status: int
) -> None:
    session = meibel_server.create_session()
    meibel_server.queue_responses(status, times=3)
    client = client_for(meibel_server)
    with pytest.raises(MeibelTurnUncertain) as caught:
        await client.chat(session, "hello")
    await client.aclose()
    assert (caught.value.status, caught.value.reason) == (status, "server_error")
    assert len(meibel_server.chat_requests()) == 1


async def test_other_calls_keep_their_retries(meibel_server: DevServer) -> None:
    session = meibel_server.create_session()
    meibel_server.queue_responses(502, times=1, path_contains="/sessions/", method="GET")
    meibel_server.queue_responses(504, times=1, path_contains="/messages", method="GET")
    client = client_for(meibel_server)
    try:
        detail = await client.get_session(session)
        listing = await client.get_messages(session)
    finally:
        await client.aclose()
    assert detail.status == "COMPLETED" and listing.messages == []
    assert [r.status for r in meibel_server.requests] == [502, 200, 504, 200]


async def test_retries_are_bounded_in_count(meibel_server: DevServer) -> None:
    session = meibel_server.create_session()
    meibel_server.queue_responses(503, times=10)
    client = client_for(meibel_server)
    with pytest.raises(MeibelServerError) as caught:
        await client.chat(session, "hello")
    await client.aclose()
    assert caught.value.status == 503
    assert len(meibel_server.chat_requests()) == FAST.max_attempts


async def test_retry_after_longer_than_the_budget_gives_up_at_once(
    meibel_server: DevServer,
) -> None:
    session = meibel_server.create_session()
    meibel_server.queue_responses(429, times=5, headers={"Retry-After": "120"})
    client = client_for(meibel_server)
    with pytest.raises(MeibelRateLimited) as caught:
        await client.chat(session, "hello")
    await client.aclose()
    assert caught.value.retry_after == 120
    assert len(meibel_server.chat_requests()) == 1


@pytest.mark.parametrize("status", [400, 409])
async def test_other_errors_are_not_retried(meibel_server: DevServer, status: int) -> None:
    session = meibel_server.create_session()
    meibel_server.queue_responses(status, times=3)
    client = client_for(meibel_server)
    with pytest.raises(MeibelInvalidRequest):
        await client.chat(session, "hello")
    await client.aclose()
    assert len(meibel_server.chat_requests()) == 1


async def test_bad_key_is_typed_and_never_echoed(meibel_server: DevServer) -> None:
    # The server echoes the key it was sent (some gateways do): it must not reach our text.
    secret = DEV_KEY
    meibel_server.queue_responses(
        403, body={"code": "forbidden", "message": f"key {secret} lacks access"}, path_contains=""
    )
    client = client_for(meibel_server, key=secret)
    with pytest.raises(MeibelAuthError) as caught:
        await client.start_session(AgentRef("name", "helper"))
    await client.aclose()
    assert secret not in str(caught.value)
    assert "[redacted]" in str(caught.value)


async def test_wrong_key_is_refused_without_retry(meibel_server: DevServer) -> None:
    client = client_for(meibel_server, key="not-the-key")
    with pytest.raises(MeibelAuthError):
        await client.start_session(AgentRef("name", "helper"))
    await client.aclose()
    assert len(meibel_server.requests) == 1


async def test_lost_session_and_missing_agent(meibel_server: DevServer) -> None:
    client = client_for(meibel_server)
    try:
        session = await client.start_session(AgentRef("name", "helper"))
        meibel_server.forget_sessions()
        with pytest.raises(MeibelSessionGone):
            await client.chat(session, "hello")
        with pytest.raises(MeibelAgentNotFound):
            await client.start_session(AgentRef("name", "missing-agent"))
    finally:
        await client.aclose()


async def test_422_detail_is_kept(meibel_server: DevServer) -> None:
    session = meibel_server.create_session()
    meibel_server.queue_responses(
        422,
        body={"detail": [{"loc": ["body", "user_message"], "msg": "too long", "type": "value"}]},
    )
    client = client_for(meibel_server)
    with pytest.raises(MeibelInvalidRequest) as caught:
        await client.chat(session, "hello")
    await client.aclose()
    assert caught.value.detail == "body.user_message: too long"


async def test_read_timeout_outlasts_timeout_seconds(meibel_server: DevServer) -> None:
    session = meibel_server.create_session()
    meibel_server.hold_chats()
    client = client_for(meibel_server, timeout_seconds=1, read_timeout_margin=0.2)
    with pytest.raises(MeibelTurnUncertain) as caught:
        await client.chat(session, "hello")
    await client.aclose()
    assert caught.value.reason == "timed_out"
    # A timed-out chat is not retried: the agent may still be answering it.
    assert len(meibel_server.chat_requests()) == 1
    assert meibel_server.chat_requests()[0].json["timeout_seconds"] == 1  # type: ignore[index]


async def test_unreachable_meibel_is_retried_then_typed() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = MeibelClient(
        base_url=f"http://127.0.0.1:{port}/v2", api_key="k", timeout_seconds=5, retry=FAST
    )
    with pytest.raises(MeibelUnavailable):
        await client.start_session(AgentRef("name", "helper"))
    # Refused before a byte was sent: a chat may be tried again, and says "unavailable".
    with pytest.raises(MeibelUnavailable):
        await client.chat("ses_1", "hello")
    await client.aclose()


async def test_a_connection_dropped_after_the_request_is_an_uncertain_turn(
    meibel_server: DevServer,
) -> None:
    # httpx-aiohttp reports this drop (aiohttp's ServerDisconnectedError) as ConnectTimeout;
    # it must not pass for "cannot reach", which would send the turn again.
    session = meibel_server.create_session()
    meibel_server.queue_drop(at="request", times=3)
    client = client_for(meibel_server)
    with pytest.raises(MeibelTurnUncertain) as caught:
        await client.chat(session, "did you get this?")
    await client.aclose()
    assert caught.value.reason == "dropped"
    assert len(meibel_server.chat_requests()) == 1
    async with asyncio.timeout(5):
        await meibel_server.wait_for(lambda: meibel_server.sessions[session].status == "COMPLETED")
    assert meibel_server.received["did you get this?"] == 1


async def test_a_stream_cut_after_connected_is_broken_not_unavailable(
    meibel_server: DevServer,
) -> None:
    session = meibel_server.create_session()
    meibel_server.queue_drop(at="connected")
    client = client_for(meibel_server)
    with pytest.raises(MeibelStreamBroken) as caught:
        async for _ in client.chat_stream(session, "stream this"):
            pass
    await client.aclose()
    assert isinstance(caught.value, MeibelTurnUncertain)
    assert len(meibel_server.chat_requests()) == 1


async def test_a_501_stream_is_remembered(meibel_server: DevServer) -> None:
    session = meibel_server.create_session()
    meibel_server.queue_responses(501, times=5, path_contains="/chat/stream")
    client = client_for(meibel_server)
    for _ in range(2):
        with pytest.raises(MeibelStreamingUnsupported):
            async for _ in client.chat_stream(session, "stream this"):
                pass
    assert client.streams_unsupported
    await client.aclose()
    assert len(meibel_server.chat_requests()) == 1


async def test_a_stream_has_an_overall_deadline(meibel_server: DevServer) -> None:
    session = meibel_server.create_session()
    meibel_server.hold_chats()  # `connected` is sent, then nothing
    client = client_for(meibel_server, timeout_seconds=1, read_timeout_margin=0.3)
    started = asyncio.get_running_loop().time()
    with pytest.raises(MeibelStreamBroken) as caught:
        async for _ in client.chat_stream(session, "slow"):
            pass
    elapsed = asyncio.get_running_loop().time() - started
    meibel_server.release_chats()
    await client.aclose()
    assert caught.value.reason == "timed_out"
    assert 1.3 <= elapsed < 3.0


async def test_a_streamed_answer_comes_whole(meibel_server: DevServer) -> None:
    session = meibel_server.create_session()
    client = client_for(meibel_server)
    try:
        events = [e async for e in client.chat_stream(session, "stream this")]
    finally:
        await client.aclose()
    done = events[-1]
    assert isinstance(done, StreamDone)
    assert 'You asked: "stream this"' in done.response.assistant_response


async def test_many_concurrent_chats_share_the_pool(meibel_server: DevServer) -> None:
    client = client_for(meibel_server, max_connections=8)
    try:
        sessions = [meibel_server.create_session() for _ in range(40)]
        replies = await asyncio.gather(*(client.chat(s, f"q{i}") for i, s in enumerate(sessions)))
    finally:
        await client.aclose()
    assert [f'You asked: "q{i}"' in (r.response.message or "") for i, r in enumerate(replies)] == [
        True
    ] * 40


def test_retry_after_parses_seconds_and_dates() -> None:
    from datetime import UTC, datetime

    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("7") == 7
    assert parse_retry_after("Thu, 01 Jan 2026 12:00:30 GMT", now=now) == 30
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None


def test_backoff_grows_and_is_capped() -> None:
    import random

    policy = RetryPolicy(base_delay=0.5, max_delay=4.0)
    rng = random.Random(1)
    waits = [policy.backoff(n, rng) for n in range(1, 8)]
    assert all(0.25 <= w <= 4.0 for w in waits)
    assert waits[-1] >= 2.0  # capped at max_delay, jittered down to no less than half
