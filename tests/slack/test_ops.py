"""What an operator watches: /metrics (Prometheus), /readyz and /healthz, next to the Slack
endpoint in HTTP mode and on OPS_PORT in Socket Mode."""

from __future__ import annotations

import asyncio
import contextlib
import re

import httpx

from adapters.slack.app import SlackBot
from adapters.slack.fleet import FleetOptions
from adapters.slack.server import run_bot
from bot.devserver import DevServer
from bot.store.base import Store
from tests.fixtures.redis import free_port
from tests.fixtures.slack import APP_TOKEN, FakeSlack
from tests.slack.conftest import SESSION_TTL, Harness, make_pipeline, mention, slack_settings

TOKEN = "ops-token-for-tests"


def sample(metrics: str, name: str, labels: str = "") -> float:
    """The value of one sample in Prometheus' text format."""
    pattern = re.escape(name + (f"{{{labels}}}" if labels else "")) + r" (\S+)"
    match = re.search(rf"^{pattern}$", metrics, re.MULTILINE)
    assert match, f"{name}{{{labels}}} not in /metrics"
    return float(match.group(1))


async def test_metrics_count_questions_and_answers_and_show_the_queue(start_bot: object) -> None:
    harness: Harness = await start_bot(worker=False)  # type: ignore[operator]
    for n in range(2):
        await harness.event(mention(f"Count me {n}", ts=f"1710000012.00010{n}"))
    before = (await harness.http.get("/metrics")).text
    assert sample(before, "meibel_bot_queue_depth") == 2  # accepted, no worker yet
    assert sample(before, "meibel_bot_queue_pending") == 0

    harness.meibel.hold_chats()
    harness.worker = asyncio.create_task(harness.bot.work.run())
    await harness.meibel.wait_for_in_flight(2)
    during = (await harness.http.get("/metrics")).text
    assert sample(during, "meibel_bot_queue_depth") == 0
    assert sample(during, "meibel_bot_queue_pending") == 2
    assert sample(during, "meibel_bot_in_flight") == 2
    harness.meibel.release_chats()
    await harness.settle()

    after = (await harness.http.get("/metrics")).text
    assert sample(after, "meibel_bot_questions_total", 'platform="slack"') == 2
    assert sample(after, "meibel_bot_answers_total", 'kind="answer",platform="slack"') == 2
    assert sample(after, "meibel_bot_queue_pending") == 0
    assert sample(after, "meibel_bot_in_flight") == 0
    assert "meibel_bot_meibel_latency_seconds_bucket" in after


async def test_readyz_names_what_is_down_to_the_operator_only(start_bot: object) -> None:
    harness: Harness = await start_bot(bot_options={"fleet": FleetOptions(ops_token=TOKEN)})  # type: ignore[operator]
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    ready = await harness.http.get("/readyz", headers=bearer)
    assert ready.status_code == 200
    assert ready.json() == {"ready": True, "store": "ok", "meibel": "ok"}
    assert (await harness.http.get("/metrics")).status_code == 401
    assert (await harness.http.get("/metrics", headers=bearer)).status_code == 200
    await harness.meibel.stop()
    for _ in range(75):  # the result is cached for a few seconds
        down = await harness.http.get("/readyz", headers=bearer)
        if down.status_code != 200:
            break
        await asyncio.sleep(0.2)
    assert down.status_code == 503
    assert down.json()["store"] == "ok"
    assert down.json()["meibel"].startswith("unreachable")
    anonymous = await harness.http.get("/readyz")
    assert anonymous.status_code == 503 and anonymous.json() == {"ready": False}
    assert (await harness.http.get("/healthz")).status_code == 200  # alive all the same


async def test_socket_mode_serves_the_ops_routes_on_ops_port(
    slack_api: FakeSlack, meibel_server: DevServer, redis_store: Store
) -> None:
    port = free_port()
    settings = slack_settings(slack_api, slack_app_token=APP_TOKEN, slack_signing_secret=None)
    pipeline = make_pipeline(meibel_server, redis_store)
    bot = SlackBot(
        settings=settings,
        pipeline=pipeline,
        store=redis_store,
        session_ttl_seconds=SESSION_TTL,
        fleet=FleetOptions(ops_port=port),
    )
    running = asyncio.create_task(run_bot(bot))
    try:
        await slack_api.wait_for_socket()
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:
            async with asyncio.timeout(10):
                while True:  # the ops server starts right after the socket connects
                    with contextlib.suppress(httpx.ConnectError):
                        health = await http.get("/healthz")
                        break
                    await asyncio.sleep(0.02)
            assert health.text == "ok"
            assert (await http.get("/readyz")).status_code == 200
            metrics = (await http.get("/metrics")).text
            assert sample(metrics, "meibel_bot_queue_depth") == 0
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
        await pipeline.meibel.aclose()  # type: ignore[attr-defined]
