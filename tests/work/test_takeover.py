"""When work moves between workers: slow answers stay put, dead workers' jobs move, and a
thread's order survives both without waiting for the order timeout."""

from __future__ import annotations

import asyncio
import collections
import dataclasses

from bot.store import RedisStore
from bot.work import Job, RedisWorkQueue
from bot.work.redis_keys import GROUP
from tests.work.helpers import FAST, eventually, job, running


async def test_an_answer_slower_than_the_visibility_timeout_is_not_taken_over(
    redis_url: str, redis_store: RedisStore
) -> None:
    config = dataclasses.replace(FAST, visibility_timeout=0.6)
    other_store = RedisStore.from_url(redis_url, prefix=redis_store.prefix)
    a = RedisWorkQueue(redis_store, config=config)
    b = RedisWorkQueue(other_store, config=config)
    runs: collections.Counter[str] = collections.Counter()
    done: list[str] = []

    async def handler(j: Job) -> None:
        runs[j.id] += 1
        await asyncio.sleep(2.0)  # the agent takes over three visibility timeouts
        done.append(j.id)

    try:
        async with running(a, handler), running(b, handler):
            for n in range(4):
                await a.submit(job(n))

            async def all_done() -> bool:
                return len(done) == 4

            await eventually(all_done)
    finally:
        await other_store.aclose()
    assert runs == {job(n).id: 1 for n in range(4)}  # claims were renewed while answering


async def test_a_waiting_job_does_not_block_taking_over_its_predecessor(
    redis_store: RedisStore,
) -> None:
    """One slot, and the next job of a thread read first while the previous one sits with a
    dead worker: the wait takes no slot, so the take-over can run the predecessor."""
    config = dataclasses.replace(FAST, visibility_timeout=0.3, order_timeout=30)
    queue = RedisWorkQueue(redis_store, config=config)
    first, second = job(1, thread="t"), job(2, thread="t")
    await queue.submit(first)
    await queue.submit(second)
    client = redis_store.client
    await client.xgroup_create(queue.keys.stream, GROUP, id="0")
    await client.xreadgroup(GROUP, "dead-worker", {queue.keys.stream: ">"}, count=1)
    order: list[str] = []

    async def handler(j: Job) -> None:
        order.append(j.id)

    loop = asyncio.get_running_loop()
    began = loop.time()
    async with running(queue, handler, concurrency=1):

        async def both() -> bool:
            return len(order) == 2

        await eventually(both)
    assert order == [first.id, second.id]
    assert loop.time() - began < 5  # far below the 30 s order timeout
