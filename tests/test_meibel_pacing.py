"""Pacing by Meibel's rate-limit headers (issue 13): the real client against the dev server
with a real limit per API key. The client waits for the budget instead of meeting 429s,
never past the job's deadline, and the waiting shows in the metrics."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from bot.devserver import DevServer
from bot.domain import AnswerKind, Question
from bot.meibel.client import MeibelClient
from bot.meibel.errors import MeibelRateLimited, turn_not_taken
from bot.meibel.pacing import parse_reset, read_rate_limit
from bot.meibel.retry import RetryPolicy
from bot.meibel.stream import StreamDone
from bot.metrics import Metrics
from bot.pipeline import Pipeline, PipelineConfig
from bot.routing import AgentRef, Router
from bot.store import Store
from bot.work.fence import fenced
from tests.fixtures.meibel import DEV_KEY

# Retries stay fast; the pacing itself may wait a few one-second windows.
RETRY = RetryPolicy(max_attempts=4, base_delay=0.01, max_delay=0.05, max_total_wait=10.0)
LIMIT = 5
WINDOW = 1.0


@pytest.fixture
async def limited_server() -> AsyncIterator[DevServer]:
    server = DevServer(api_key=DEV_KEY, rate_limit=LIMIT, rate_window_seconds=WINDOW)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def client_for(server: DevServer, metrics: Metrics, **kwargs: object) -> MeibelClient:
    options: dict[str, object] = {"timeout_seconds": 30, "retry": RETRY, **kwargs}
    return MeibelClient(
        base_url=server.base_url,
        api_key=DEV_KEY,
        metrics=metrics,
        **options,  # type: ignore[arg-type]
    )


def sample(metrics: Metrics, name: str) -> float:
    value = metrics.registry.get_sample_value(name)
    assert value is not None, f"{name} is not in /metrics"
    return value


class _Owned:
    """The fence of a job run that keeps its job."""

    async def check(self) -> None:
        return None


async def test_a_burst_beyond_the_limit_is_paced_and_never_refused(
    limited_server: DevServer,
) -> None:
    """Six threads at once, each starting a session and sending a turn (half of them
    streamed): twelve calls against five per second, from a cold client."""
    metrics = Metrics()
    client = client_for(limited_server, metrics)

    async def thread(n: int) -> str:
        session = await client.start_session(AgentRef("id", "agt_dev_helpdesk"))
        if n % 2:
            events = [e async for e in client.chat_stream(session, f"question {n}")]
            done = events[-1]
            assert isinstance(done, StreamDone)
            return done.response.assistant_response
        reply = await client.chat(session, f"question {n}")
        return reply.assistant_response

    try:
        async with asyncio.timeout(15):
            answers = await asyncio.gather(*(thread(n) for n in range(6)))
    finally:
        await client.aclose()
    for n, answer in enumerate(answers):
        assert f'You asked: "question {n}"' in answer
    assert limited_server.rate_limit is not None
    assert limited_server.rate_limit.refused == 0  # paced before, never refused
    assert all(r.status != 429 for r in limited_server.requests)
    assert len(limited_server.requests) == 12
    assert all(limited_server.received[f"question {n}"] == 1 for n in range(6))
    # Twelve calls at five a window need at least two resets: the waiting is on record.
    assert sample(metrics, "meibel_bot_meibel_paced_seconds_total") > WINDOW
    assert sample(metrics, "meibel_bot_meibel_rate_limited_total") == 0
    assert sample(metrics, "meibel_bot_meibel_paced_waiting") == 0


async def test_a_429_holds_every_new_call_for_its_retry_after(meibel_server: DevServer) -> None:
    session = meibel_server.create_session()
    meibel_server.queue_responses(429, headers={"Retry-After": "1"}, path_contains="/agents")
    metrics = Metrics()
    client = client_for(meibel_server, metrics, retry=RetryPolicy(max_attempts=1))
    try:
        with pytest.raises(MeibelRateLimited):
            await client.list_agents()
        # Another call, to another endpoint, is held too: a 429 speaks for the whole key.
        await client.chat(session, "after the 429")
    finally:
        await client.aclose()
    refused, chat = meibel_server.requests
    assert refused.status == 429
    assert chat.timestamp - refused.timestamp >= 0.9
    assert meibel_server.received["after the 429"] == 1
    assert sample(metrics, "meibel_bot_meibel_rate_limited_total") == 1
    assert sample(metrics, "meibel_bot_meibel_paced_seconds_total") >= 0.9


async def test_a_wait_past_the_jobs_deadline_gives_up_without_sending() -> None:
    server = DevServer(api_key=DEV_KEY, rate_limit=1, rate_window_seconds=30.0)
    await server.start()
    session = server.create_session()
    metrics = Metrics()
    client = client_for(server, metrics)
    loop = asyncio.get_running_loop()
    try:
        await client.list_agents()  # spends the key's budget for 30 s
        started = loop.time()
        with fenced(_Owned(), deadline=started + 2.0), pytest.raises(MeibelRateLimited) as caught:
            await client.chat(session, "too late")
        elapsed = loop.time() - started
    finally:
        await client.aclose()
        await server.stop()
    assert turn_not_taken(caught.value)  # the pipeline says so in the thread
    assert caught.value.retry_after is not None and caught.value.retry_after > 25
    assert elapsed < 1.0  # no point waiting for a reset that comes after the deadline
    assert server.received["too late"] == 0
    assert server.chat_requests() == []
    assert server.rate_limit is not None and server.rate_limit.refused == 0


async def test_the_dev_server_limit_says_where_the_key_stands(limited_server: DevServer) -> None:
    async with httpx.AsyncClient(
        base_url=limited_server.base_url + "/", headers={"Meibel-API-Key": DEV_KEY}
    ) as http:
        answers = [await http.get("agents") for _ in range(LIMIT + 1)]
    remaining = [a.headers["X-RateLimit-Remaining"] for a in answers]
    assert remaining == ["4", "3", "2", "1", "0", "0"]
    assert all(a.headers["X-RateLimit-Limit"] == str(LIMIT) for a in answers)
    assert all(0 < float(a.headers["X-RateLimit-Reset"]) <= WINDOW for a in answers)
    assert [a.status_code for a in answers] == [200] * LIMIT + [429]
    assert answers[-1].headers["Retry-After"] == "1"
    assert limited_server.rate_limit is not None and limited_server.rate_limit.refused == 1


async def test_the_dev_server_has_no_limit_by_default(meibel_server: DevServer) -> None:
    async with httpx.AsyncClient(
        base_url=meibel_server.base_url + "/", headers={"Meibel-API-Key": DEV_KEY}
    ) as http:
        answer = await http.get("agents")
    assert answer.status_code == 200
    assert "X-RateLimit-Remaining" not in answer.headers


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("30", 30.0),  # seconds from now
        ("0.25", 0.25),
        ("1700000030", 30.0),  # a Unix timestamp
        ("1700000030000", 30.0),  # the same in milliseconds
        ("1699999990", 0.0),  # a timestamp already past
        ("soon", None),
        ("-3", None),
        ("", None),
        (None, None),
    ],
)
def test_reset_is_read_as_seconds_or_a_unix_timestamp(
    value: str | None, seconds: float | None
) -> None:
    assert parse_reset(value, now=1_700_000_000.0) == seconds


def test_rate_limit_headers_are_read_whatever_their_case() -> None:
    headers = httpx.Headers(
        {"x-ratelimit-limit": "60", "X-RATELIMIT-REMAINING": "7", "X-RateLimit-Reset": "12"}
    )
    state = read_rate_limit(headers)
    assert (state.limit, state.remaining, state.reset_seconds) == (60, 7, 12.0)


async def test_a_turn_the_limit_keeps_past_the_deadline_is_a_visible_notice(
    sqlite_store: Store,
) -> None:
    server = DevServer(api_key=DEV_KEY, rate_limit=2, rate_window_seconds=30.0)
    await server.start()
    client = client_for(server, Metrics())
    router = Router(default=AgentRef("name", "default-agent"), routes={})
    pipeline = Pipeline(meibel=client, store=sqlite_store, config=PipelineConfig(router=router))
    loop = asyncio.get_running_loop()
    try:
        first = await pipeline.ask(question("first"))  # a session and a turn: the budget
        with fenced(_Owned(), deadline=loop.time() + 2.0):
            second = await pipeline.ask(question("second"))
    finally:
        await client.aclose()
        await server.stop()
    assert first.ok
    assert second.kind is AnswerKind.ERROR and second.error_code == "meibel_rate_limited"
    assert "too many requests" in second.text
    assert server.received["second"] == 0
    assert len(server.requests) == 2


def question(text: str) -> Question:
    return Question(
        platform="slack", workspace="T1", channel="C1", thread="t1", user="U1", text=text
    )
