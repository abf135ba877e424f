"""Redis going away in the middle of a burst: workers stay up, and recover by themselves."""

from __future__ import annotations

import asyncio
import collections
import contextlib
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from bot.store import RedisStore
from bot.work import Job, QueueUnavailable, RedisWorkQueue
from tests.fixtures.redis import free_port, start_redis_server
from tests.work.durable_redis import durable_redis
from tests.work.helpers import FAST, eventually, job, running

THREADS = 20


async def test_every_accepted_job_is_answered_across_a_redis_crash(tmp_path: Path) -> None:
    port = free_port()
    store = RedisStore.from_url(f"redis://127.0.0.1:{port}/0", prefix="burst")
    queue = RedisWorkQueue(store, config=FAST)
    answered: list[Job] = []
    accepted: list[str] = []
    refused = asyncio.Event()

    async def handler(j: Job) -> None:
        await asyncio.sleep(0.005)  # a quick answer, but not instant
        answered.append(j)

    async def submit(numbers: range) -> None:
        for n in numbers:
            j = job(n, thread=f"t{n % THREADS}")
            while True:
                try:
                    await queue.submit(j)
                    break
                except QueueUnavailable:
                    # The adapter tells the user; here the "user" asks again, same event id.
                    refused.set()
                    await asyncio.sleep(0.05)
            accepted.append(j.id)

    try:
        with contextlib.ExitStack() as servers:
            server = servers.enter_context(durable_redis(port, tmp_path))
            async with running(queue, handler, concurrency=16):
                await submit(range(100))

                async def some_answered() -> bool:
                    return len(answered) >= 30

                await eventually(some_answered)
                server.kill()  # mid-burst: ~70 of the 100 not answered yet
                server.wait(timeout=10)
                more = asyncio.create_task(submit(range(100, 200)))
                async with asyncio.timeout(10):
                    await refused.wait()  # a sender saw the outage
                servers.enter_context(durable_redis(port, tmp_path))  # same port, same data
                async with asyncio.timeout(30):
                    await more

                async def all_answered() -> bool:
                    return len(answered) >= 200

                await eventually(all_answered, within=30)
    finally:
        await store.aclose()

    assert len(accepted) == 200
    counts = collections.Counter(j.id for j in answered)
    assert set(counts) == set(accepted)
    assert max(counts.values()) == 1  # none twice
    by_thread: dict[str, list[int]] = collections.defaultdict(list)
    for j in answered:
        by_thread[j.question.thread].append(int(j.data["n"]))
    assert all(ns == sorted(ns) for ns in by_thread.values())  # each thread in order


async def test_a_worker_recovers_when_redis_comes_back_empty() -> None:
    """Without persistence a restart loses the queue; workers recreate its group and
    answer what is accepted from then on, without a restart of their own."""
    answered: list[str] = []

    async def handler(j: Job) -> None:
        answered.append(j.id)

    async def answered_(n: int) -> bool:
        return len(answered) >= n

    with start_redis_server() as (url, server):
        port = urlsplit(url).port
        store = RedisStore.from_url(url, prefix="empty")
        queue = RedisWorkQueue(store, config=FAST)
        try:
            async with running(queue, handler):
                await queue.submit(job(1))
                await eventually(lambda: answered_(1))
                server.terminate()
                server.wait(timeout=10)
                with pytest.raises(QueueUnavailable):
                    await queue.submit(job(2))
                with start_redis_server(port):
                    await queue.submit(job(3))
                    await eventually(lambda: answered_(2))
        finally:
            await store.aclose()
    assert answered == [job(1).id, job(3).id]
