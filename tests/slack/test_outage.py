"""Redis goes away: the process stays up, Slack still gets its ack, the user is told to try
again in a minute, and once Redis is back the bot answers again by itself."""

from __future__ import annotations

import asyncio
from typing import Any

from adapters.slack.fleet import FleetOptions, work_config
from bot.store import RedisStore
from tests.fixtures.redis import free_port, start_redis_server
from tests.slack.conftest import USER, Harness, mention

ACK_BUDGET = 2.9  # Slack's 3 s, less a little


async def test_while_redis_is_down_users_are_told_and_the_bot_recovers(start_bot: Any) -> None:
    port = free_port()
    fleet = FleetOptions(work=work_config(max_backoff=0.2, block_seconds=0.2))
    with start_redis_server(port) as (url, redis_process):
        store = RedisStore.from_url(url, prefix="slack-outage")
        harness: Harness = await start_bot(store=store, bot_options={"fleet": fleet})
        await harness.event(mention("Before", ts="1710000013.000100"))
        await harness.answers(1, thread_ts="1710000013.000100")
        await harness.settle()

        redis_process.terminate()
        redis_process.wait(timeout=10)
        async with asyncio.timeout(ACK_BUDGET):
            response = await harness.event(mention("During", ts="1710000013.000200"))
        assert response.status_code == 200
        [note] = await harness.slack.wait_for("chat.postEphemeral")
        assert note["user"] == USER
        assert note["text"] == "I'm temporarily unavailable, please try again in a minute."
        ready = await harness.http.get("/readyz")
        assert ready.status_code == 503 and ready.json() == {"ready": False}  # no detail
        assert (await harness.http.get("/healthz")).status_code == 200
        metrics = (await harness.http.get("/metrics")).text  # answers, gauges or not
        assert 'meibel_bot_errors_total{kind="queue_unavailable",platform="slack"} 1.0' in metrics

    with start_redis_server(port):  # Redis is back (empty: it kept nothing)
        try:
            response = await harness.event(mention("After", ts="1710000013.000300"))
            assert response.status_code == 200
            [answer] = await harness.answers(1, thread_ts="1710000013.000300")
            assert "After" in str(answer["blocks"])
            assert harness.slack.messages("1710000013.000200") == []  # told, not answered
            assert await ready_again(harness)
        finally:
            await harness.stop_worker()
            await store.aclose()


async def ready_again(harness: Harness) -> bool:
    """/readyz turns 200 once its cached result (a few seconds old at most) is renewed."""
    for _ in range(50):
        if (await harness.http.get("/readyz")).status_code == 200:
            return True
        await asyncio.sleep(0.2)
    return False
