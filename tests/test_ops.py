"""/healthz, /readyz and /metrics as an operator's scraper and probes see them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from bot.devserver import DevServer
from bot.domain import Question
from bot.meibel.client import MeibelClient
from bot.meibel.retry import RetryPolicy
from bot.metrics import Metrics
from bot.ops import ops_app
from bot.pipeline import Pipeline, PipelineConfig
from bot.routing import AgentRef, Router
from bot.store import RedisStore, Store
from tests.fixtures.meibel import DEV_KEY

TOKEN = "ops-secret-token"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
FAST = RetryPolicy(max_attempts=2, base_delay=0.01, max_delay=0.02, max_total_wait=0.5)


@pytest.fixture
async def meibel(meibel_server: DevServer) -> AsyncIterator[MeibelClient]:
    client = MeibelClient(
        base_url=meibel_server.base_url, api_key=DEV_KEY, timeout_seconds=5, retry=FAST
    )
    yield client
    await client.aclose()


def http(app: object) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ops")  # type: ignore[arg-type]


async def test_metrics_count_questions_answers_errors_and_latency(
    meibel: MeibelClient, redis_store: Store, meibel_server: DevServer
) -> None:
    metrics = Metrics()
    router = Router(default=AgentRef("name", "a"), routes={})
    pipeline = Pipeline(
        meibel=meibel, store=redis_store, config=PipelineConfig(router=router), metrics=metrics
    )

    def q(text: str) -> Question:
        return Question(
            platform="slack", workspace="T", channel="C", thread="t", user="U", text=text
        )

    await pipeline.ask(q("hello"))
    await pipeline.ask(q(" "))
    meibel_server.queue_responses(503, times=5)
    await pipeline.ask(q("again"))
    async with http(ops_app(store=redis_store, meibel=meibel, metrics=metrics)) as client:
        body = (await client.get("/metrics")).text
    assert 'meibel_bot_questions_total{platform="slack"} 3.0' in body
    assert 'meibel_bot_answers_total{kind="answer",platform="slack"} 1.0' in body
    assert 'meibel_bot_answers_total{kind="hint",platform="slack"} 1.0' in body
    assert 'meibel_bot_errors_total{kind="meibel_server_error",platform="slack"} 1.0' in body
    assert 'meibel_bot_meibel_latency_seconds_count{call="chat"} 2.0' in body
    assert "meibel_bot_in_flight 0.0" in body


async def test_ready_when_store_and_meibel_answer(
    meibel: MeibelClient, sqlite_store: Store
) -> None:
    app = ops_app(store=sqlite_store, meibel=meibel, metrics=Metrics(), token=TOKEN)
    async with http(app) as client:
        assert (await client.get("/healthz")).text == "ok"
        anonymous = await client.get("/readyz")
        operator = await client.get("/readyz", headers=BEARER)
    assert anonymous.status_code == operator.status_code == 200
    assert anonymous.json() == {"ready": True}
    assert operator.json() == {"ready": True, "store": "ok", "meibel": "ok"}


async def test_not_ready_names_what_is_down(meibel_server: DevServer) -> None:
    dead = RedisStore.from_url("redis://127.0.0.1:1/0", prefix="dead")
    wrong = MeibelClient(base_url=meibel_server.base_url, api_key="nope", timeout_seconds=5)
    try:
        app = ops_app(store=dead, meibel=wrong, metrics=Metrics(), token=TOKEN)
        async with http(app) as client:
            ready = await client.get("/readyz", headers=BEARER)
            alive = await client.get("/healthz")
    finally:
        await wrong.aclose()
        await dead.aclose()
    assert alive.status_code == 200
    assert ready.status_code == 503
    assert ready.json()["ready"] is False
    assert ready.json()["store"].startswith("unreachable")
    assert ready.json()["meibel"] == "API key refused"


async def test_a_flood_of_anonymous_readyz_makes_one_meibel_call_and_reveals_nothing(
    meibel_server: DevServer, sqlite_store: Store
) -> None:
    wrong = MeibelClient(
        base_url=meibel_server.base_url, api_key="refused-key", timeout_seconds=5, retry=FAST
    )
    try:
        async with http(ops_app(store=sqlite_store, meibel=wrong, metrics=Metrics())) as client:
            answers = await asyncio.gather(*(client.get("/readyz") for _ in range(50)))
    finally:
        await wrong.aclose()
    probes = [r for r in meibel_server.requests if r.path.endswith("/agents")]
    assert len(probes) == 1  # 50 strangers, one authenticated Meibel call
    assert {a.status_code for a in answers} == {503}
    assert all(a.json() == {"ready": False} for a in answers)
    assert not any("key" in a.text.lower() for a in answers)


async def test_healthz_touches_nothing(meibel_server: DevServer) -> None:
    dead = RedisStore.from_url("redis://127.0.0.1:1/0", prefix="dead")
    client = MeibelClient(base_url=meibel_server.base_url, api_key=DEV_KEY, timeout_seconds=5)
    try:
        async with http(ops_app(store=dead, meibel=client, metrics=Metrics())) as ops:
            answers = [await ops.get("/healthz") for _ in range(20)]
    finally:
        await client.aclose()
        await dead.aclose()
    assert [a.text for a in answers] == ["ok"] * 20
    assert meibel_server.requests == []


async def test_ops_token_guards_metrics(meibel: MeibelClient, sqlite_store: Store) -> None:
    app = ops_app(store=sqlite_store, meibel=meibel, metrics=Metrics(), token=TOKEN)
    async with http(app) as client:
        anonymous = await client.get("/metrics")
        wrong = await client.get("/metrics", headers={"Authorization": "Bearer nope"})
        operator = await client.get("/metrics", headers=BEARER)
    assert anonymous.status_code == wrong.status_code == 401
    assert "meibel_bot" not in anonymous.text + wrong.text
    assert operator.status_code == 200
    assert "meibel_bot_in_flight" in operator.text
