"""A backlog in one thread never stops other threads' work: with two slots and twenty
questions queued in one thread, a question in another thread is answered before most of
the backlog. Both queues; the order of completion is asserted, not the time taken."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from bot.store import RedisStore
from bot.work import Job, LocalWorkQueue, RedisWorkQueue
from tests.work.helpers import FAST, eventually, job, running

BACKLOG = 20


@pytest.mark.parametrize("kind", ["redis", "local"])
async def test_a_busy_thread_does_not_hold_up_another_thread(
    kind: str, redis_store: RedisStore
) -> None:
    queue: RedisWorkQueue | LocalWorkQueue
    queue = (
        RedisWorkQueue(redis_store, config=FAST)
        if kind == "redis"
        else LocalWorkQueue(redis_store, config=FAST)
    )
    busy = [job(n, thread="busy") for n in range(BACKLOG)]
    other = job(1000, thread="other")
    for j in busy:
        await queue.submit(j)
    await queue.submit(other)
    done: list[str] = []

    async def handler(j: Job) -> None:
        await asyncio.sleep(0.02)  # the agent thinking
        done.append(j.id)

    async with running(queue, handler, concurrency=2):

        async def all_done() -> bool:
            return len(done) == BACKLOG + 1

        await eventually(all_done, within=20)
    assert [d for d in done if d != other.id] == [j.id for j in busy]  # order kept
    assert done.index(other.id) <= 3, done  # not behind the backlog
    print(f"{kind}: the other thread's job finished #{done.index(other.id) + 1} of {len(done)}")
    if isinstance(queue, RedisWorkQueue):
        assert queue._lines == {} and queue._held == {}  # nothing kept per thread
    else:
        assert queue._lines == {} and queue._threads == {}


async def test_many_parked_jobs_cost_no_task_and_stay_bounded(redis_store: RedisStore) -> None:
    """A process holds at most `max_idle` idle jobs; parked ones run no task of their own."""
    config = dataclasses.replace(FAST, max_idle=5)
    queue = RedisWorkQueue(redis_store, config=config)
    for n in range(30):
        await queue.submit(job(n, thread="busy"))
    release = asyncio.Event()

    async def handler(j: Job) -> None:
        await release.wait()

    async with running(queue, handler, concurrency=2):

        async def reading_stopped() -> bool:
            return len(queue._held) >= 6

        await eventually(reading_stopped)
        await asyncio.sleep(0.3)  # several read rounds: none may take more
        assert len(queue._held) == 6  # the running one and five parked
        tasks = {t.get_name() for t in asyncio.all_tasks()}
        assert (
            sum(name == queue.keys.order(job(0, thread="busy").thread_key) for name in tasks) == 1
        )
        release.set()


async def test_nothing_is_kept_for_retried_or_cancelled_waiters(redis_store: RedisStore) -> None:
    queue = RedisWorkQueue(redis_store, config=FAST)
    jobs = [job(n, thread="t") for n in range(4)]
    for j in jobs:
        await queue.submit(j)
    failed: set[str] = set()
    done: list[str] = []

    async def flaky(j: Job) -> None:
        if j.id not in failed:  # each job fails once: retried while the others wait
            failed.add(j.id)
            raise RuntimeError("agent hiccup")
        done.append(j.id)

    async with running(queue, flaky, concurrency=2):

        async def all_done() -> bool:
            return len(done) == len(jobs)

        await eventually(all_done)
    assert done == [j.id for j in jobs]
    assert queue._lines == {} and queue._held == {}

    # A stop while jobs wait their turn behind one that never ends: the waiters are
    # cancelled, and nothing is kept for them either.
    later = [job(10 + n, thread="u") for n in range(3)]
    for j in later:
        await queue.submit(j)
    started = asyncio.Event()

    async def stuck(j: Job) -> None:
        started.set()
        await asyncio.Event().wait()

    async with running(queue, stuck, concurrency=2, grace_seconds=0.1):
        await asyncio.wait_for(started.wait(), 5)
    assert queue._lines == {} and queue._held == {}
