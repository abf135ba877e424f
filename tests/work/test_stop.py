"""Graceful stop: answers in flight finish within the grace; everything else is left for
the next worker, at once, and nothing is run twice."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time

import pytest

from bot.store import RedisStore
from bot.work import Job, RedisWorkQueue
from tests.fixtures.redis import start_redis_server
from tests.work.helpers import FAST, eventually, job, running

# A long visibility timeout: work can only move on this quickly if it was handed back.
SLOW_TAKEOVER = dataclasses.replace(FAST, visibility_timeout=60.0)


async def test_in_flight_answers_finish_and_the_rest_waits_for_the_next_worker(
    redis_store: RedisStore, caplog: pytest.LogCaptureFixture
) -> None:
    first = RedisWorkQueue(redis_store, config=SLOW_TAKEOVER)
    for n in range(5):
        await first.submit(job(n))
    release = asyncio.Event()
    started: list[str] = []
    finished: list[str] = []

    async def slow(j: Job) -> None:
        started.append(j.id)
        await release.wait()
        finished.append(j.id)

    runner = asyncio.create_task(first.run(slow, concurrency=2))

    async def two_in_flight() -> bool:
        return len(started) == 2

    await eventually(two_in_flight)
    caplog.set_level(logging.INFO, logger="bot.work")
    stopping = asyncio.create_task(first.stop(grace_seconds=10))

    async def stop_is_waiting() -> bool:
        return "waiting up to 10.0s for 2 answer(s) in flight" in caplog.text

    await eventually(stop_is_waiting)
    assert not stopping.done()
    release.set()
    async with asyncio.timeout(10):
        await stopping
        await runner
    assert sorted(finished) == sorted(started)  # finished, not cut short
    stats = await first.stats()
    assert (stats.waiting, stats.pending, stats.in_flight) == (3, 0, 0)

    second = RedisWorkQueue(redis_store, config=SLOW_TAKEOVER)
    later: list[str] = []

    async def quick(j: Job) -> None:
        later.append(j.id)

    async with running(second, quick):

        async def rest_answered() -> bool:
            return len(later) == 3

        await eventually(rest_answered)
    assert sorted(later + finished) == sorted(job(n).id for n in range(5))


async def test_answers_past_the_grace_are_cut_and_handed_back(redis_store: RedisStore) -> None:
    first = RedisWorkQueue(redis_store, config=SLOW_TAKEOVER)
    await first.submit(job(1))
    started = asyncio.Event()
    cancelled = asyncio.Event()

    async def stuck(j: Job) -> None:
        started.set()
        try:
            await asyncio.Event().wait()  # an answer that never comes
        finally:
            cancelled.set()

    runner = asyncio.create_task(first.run(stuck, concurrency=2))
    async with asyncio.timeout(10):
        await started.wait()
    began = time.monotonic()
    async with asyncio.timeout(10):
        await first.stop(grace_seconds=0.3)
        await runner
    assert cancelled.is_set()
    assert time.monotonic() - began < 3  # the grace, plus a bounded hand-back
    stats = await first.stats()
    assert stats.pending == 1  # not acknowledged: left for the next worker

    second = RedisWorkQueue(redis_store, config=SLOW_TAKEOVER)
    answered: list[str] = []

    async def quick(j: Job) -> None:
        answered.append(j.id)

    async with running(second, quick):

        async def taken_over() -> bool:
            return answered == [job(1).id]

        # Far sooner than the 60 s visibility timeout: the first worker handed it back.
        await eventually(taken_over, within=5)


async def test_stop_returns_promptly_while_redis_is_down() -> None:
    with start_redis_server() as (url, server):
        store = RedisStore.from_url(url, prefix="stop-down")
        queue = RedisWorkQueue(store, config=FAST)
        try:
            started = asyncio.Event()

            async def handler(j: Job) -> None:
                started.set()
                await asyncio.Event().wait()

            for n in range(4):
                await queue.submit(job(n, thread="t"))  # one in flight, three waiting their turn
            runner = asyncio.create_task(queue.run(handler, concurrency=4))
            async with asyncio.timeout(10):
                await started.wait()
            server.kill()
            server.wait(timeout=10)
            began = time.monotonic()
            async with asyncio.timeout(10):
                await queue.stop(grace_seconds=0.5)
                await runner
            assert time.monotonic() - began < 5
        finally:
            await store.aclose()


async def test_stop_before_run_makes_run_return_at_once(queue: RedisWorkQueue) -> None:
    await queue.stop(grace_seconds=1)

    async def handler(j: Job) -> None:
        raise AssertionError("no job may start")

    await queue.submit(job(1))
    async with asyncio.timeout(5):
        await queue.run(handler, concurrency=2)
    assert (await queue.stats()).waiting == 1
