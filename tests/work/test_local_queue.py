"""The in-process queue that goes with the embedded store: the same behaviour, in memory."""

from __future__ import annotations

import asyncio
import collections
import dataclasses

import pytest

from bot.store import RedisStore, SqliteStore
from bot.work import (
    Job,
    JobRejected,
    LocalWorkQueue,
    QueueUnavailable,
    RedisWorkQueue,
    WorkQueue,
    open_queue,
)
from tests.work.helpers import FAST, eventually, job, running


@pytest.fixture
def local(sqlite_store: SqliteStore) -> LocalWorkQueue:
    return LocalWorkQueue(sqlite_store, config=FAST)


def test_open_queue_follows_the_store(sqlite_store: SqliteStore, redis_store: RedisStore) -> None:
    assert isinstance(open_queue(sqlite_store), LocalWorkQueue)
    assert isinstance(open_queue(redis_store), RedisWorkQueue)
    # Both are WorkQueues to mypy: the protocol is what adapters program against.
    queues: list[WorkQueue] = [LocalWorkQueue(sqlite_store), RedisWorkQueue(redis_store)]
    assert all(q.posted is not None for q in queues)


async def test_each_job_once_and_each_thread_in_order(local: LocalWorkQueue) -> None:
    jobs = [job(n, thread=f"t{n % 4}") for n in range(40)]
    for j in jobs:
        await local.submit(j)
    await local.submit(jobs[0])  # again: ignored
    events: list[str] = []

    async def handler(j: Job) -> None:
        events.append(f"start {j.data['n']}")
        await asyncio.sleep(0.001)  # long enough for others to interleave
        events.append(f"end {j.data['n']}")

    async with running(local, handler, concurrency=8):

        async def all_done() -> bool:
            return len(events) == 80

        await eventually(all_done)
    for t in range(4):
        ns = [str(n) for n in range(t, 40, 4)]
        mine = [e for e in events if int(e.split()[1]) % 4 == t]
        assert mine == [f"{what} {n}" for n in ns for what in ("start", "end")]
    stats = await local.stats()
    assert (stats.waiting, stats.pending, stats.in_flight, stats.dead) == (0, 0, 0, 0)
    for j in jobs:
        posted = await local.posted.get(j)
        assert posted is not None and posted.done


async def test_stats_while_running(local: LocalWorkQueue) -> None:
    for n in range(5):
        await local.submit(job(n))
    release = asyncio.Event()
    started: list[str] = []

    async def handler(j: Job) -> None:
        started.append(j.id)
        await release.wait()

    async with running(local, handler, concurrency=3):

        async def three_started() -> bool:
            return len(started) == 3

        await eventually(three_started)
        stats = await local.stats()
        assert (stats.waiting, stats.pending, stats.in_flight) == (2, 3, 3)
        release.set()


async def test_failures_are_retried_and_poison_is_dead_lettered(
    sqlite_store: SqliteStore,
) -> None:
    local = LocalWorkQueue(sqlite_store, config=dataclasses.replace(FAST, max_deliveries=3))
    flaky, poison, rejected, after = job(1, thread="t"), job(2), job(3), job(4, thread="t")
    for j in (flaky, poison, rejected, after):
        await local.submit(j)
    calls: collections.Counter[str] = collections.Counter()
    answered: list[str] = []

    async def handler(j: Job) -> None:
        calls[j.id] += 1
        if j.id == flaky.id and calls[j.id] < 3:
            raise RuntimeError("try again")
        if j.id == poison.id:
            raise RuntimeError("never works")
        if j.id == rejected.id:
            raise JobRejected("cannot ever work")
        answered.append(j.id)

    async with running(local, handler):

        async def settled() -> bool:
            return len(answered) == 2 and len(local.dead) == 2

        await eventually(settled)
    assert answered == [flaky.id, after.id]  # the retry kept its place in the thread
    assert calls == {flaky.id: 3, poison.id: 3, rejected.id: 1, after.id: 1}
    assert sorted((j.id, why) for j, why in local.dead) == [
        (poison.id, "failed 3 times"),
        (rejected.id, "rejected by its handler"),
    ]


async def test_stop_finishes_in_flight_and_keeps_the_rest(local: LocalWorkQueue) -> None:
    for n in range(5):
        await local.submit(job(n))
    release = asyncio.Event()
    started: list[str] = []
    finished: list[str] = []

    async def slow(j: Job) -> None:
        started.append(j.id)
        await release.wait()
        finished.append(j.id)

    runner = asyncio.create_task(local.run(slow, concurrency=2))

    async def two_in_flight() -> bool:
        return len(started) == 2

    await eventually(two_in_flight)
    stopping = asyncio.create_task(local.stop(grace_seconds=10))
    release.set()
    async with asyncio.timeout(10):
        await stopping
        await runner
    assert sorted(finished) == sorted(started)
    assert (await local.stats()).waiting == 3

    async with running(local, slow):  # the next run in this process takes the rest

        async def all_finished() -> bool:
            return len(finished) == 5

        await eventually(all_finished)
    assert sorted(finished) == sorted(job(n).id for n in range(5))


async def test_a_handler_past_the_grace_is_cut_and_its_job_kept(local: LocalWorkQueue) -> None:
    await local.submit(job(1))
    started = asyncio.Event()

    async def stuck(j: Job) -> None:
        started.set()
        await asyncio.Event().wait()

    runner = asyncio.create_task(local.run(stuck, concurrency=1))
    async with asyncio.timeout(10):
        await started.wait()
        await local.stop(grace_seconds=0.1)
        await runner
    assert (await local.stats()).waiting == 1


async def test_submit_refuses_beyond_the_backlog(sqlite_store: SqliteStore) -> None:
    local = LocalWorkQueue(sqlite_store, config=dataclasses.replace(FAST, max_backlog=2))
    await local.submit(job(1))
    await local.submit(job(2))
    with pytest.raises(QueueUnavailable, match="full"):
        await local.submit(job(3))
