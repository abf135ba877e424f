"""The Redis work queue on a real Redis: submit, run, acknowledge, order, refuse, trim."""

from __future__ import annotations

import asyncio
import collections
import dataclasses

import pytest
from redis.crc import key_slot

from bot.store import RedisStore
from bot.work import Job, QueueUnavailable, RedisWorkQueue, dispatch
from tests.fixtures.redis import free_port
from tests.work.helpers import FAST, eventually, job, running, stream_fields


async def test_each_submitted_job_is_handled_once_and_acknowledged(queue: RedisWorkQueue) -> None:
    jobs = [job(n) for n in range(20)]
    for j in jobs:
        await queue.submit(j)
    handled: list[str] = []

    async def handler(j: Job) -> None:
        handled.append(j.id)

    async with running(queue, handler):
        await eventually(lambda: _count(handled, 20))
        await eventually(lambda: _settled(queue))
    assert sorted(handled) == sorted(j.id for j in jobs)
    for j in jobs:
        posted = await queue.posted.get(j)
        assert posted is not None and posted.done


async def test_stats_show_waiting_pending_and_in_flight(queue: RedisWorkQueue) -> None:
    for n in range(5):
        await queue.submit(job(n))
    before = await queue.stats()
    assert (before.waiting, before.pending, before.in_flight, before.dead) == (5, 0, 0, 0)
    release = asyncio.Event()
    started: list[str] = []

    async def handler(j: Job) -> None:
        started.append(j.id)
        await release.wait()

    async with running(queue, handler, concurrency=3):
        await eventually(lambda: _count(started, 3))
        during = await queue.stats()
        # Only as much is read as can run: the rest stays in the stream for other workers.
        assert (during.waiting, during.pending, during.in_flight) == (2, 3, 3)
        release.set()
        await eventually(lambda: _count(started, 5))
        await eventually(lambda: _settled(queue))
    after = await queue.stats()
    assert (after.waiting, after.pending, after.in_flight) == (0, 0, 0)


async def test_submitting_an_id_again_is_ignored(
    queue: RedisWorkQueue, redis_store: RedisStore
) -> None:
    first = job(1)
    await queue.submit(first)
    await queue.submit(first)
    await queue.submit(first.model_copy(update={"accepted_at": first.accepted_at + 5}))
    assert await redis_store.client.xlen(queue.keys.stream) == 1


async def test_submit_refuses_when_redis_is_down() -> None:
    store = RedisStore.from_url(f"redis://127.0.0.1:{free_port()}/0", prefix="nobody")
    queue = RedisWorkQueue(store, config=FAST)
    try:
        async with asyncio.timeout(FAST.submit_timeout + 2):
            with pytest.raises(QueueUnavailable):
                await queue.submit(job(1))
            with pytest.raises(QueueUnavailable):
                await queue.stats()
    finally:
        await store.aclose()


async def test_submit_refuses_beyond_the_backlog(redis_store: RedisStore) -> None:
    queue = RedisWorkQueue(redis_store, config=dataclasses.replace(FAST, max_backlog=3))
    for n in range(3):
        await queue.submit(job(n))
    with pytest.raises(QueueUnavailable, match="full"):
        await queue.submit(job(3))


async def test_one_threads_jobs_run_one_at_a_time_in_order(queue: RedisWorkQueue) -> None:
    for n in range(6):
        await queue.submit(job(n, thread="same"))
    await queue.submit(job(99, thread="other"))
    events: list[str] = []

    async def handler(j: Job) -> None:
        events.append(f"start {j.data['n']}")
        await asyncio.sleep(0.01)  # a slow answer: the next must still wait for it
        events.append(f"end {j.data['n']}")

    async with running(queue, handler, concurrency=8):
        await eventually(lambda: _count(events, 14))
    same = [e for e in events if not e.endswith(" 99")]
    assert same == [f"{what} {n}" for n in range(6) for what in ("start", "end")]


async def test_a_job_marked_done_in_the_posted_log_is_not_run_again(
    queue: RedisWorkQueue,
) -> None:
    done, fresh = job(1), job(2)
    await queue.posted.record(done, {"ts": "1700.5"})
    await queue.posted.finish(done)
    await queue.submit(done)
    await queue.submit(fresh)
    handled: list[str] = []

    async def handler(j: Job) -> None:
        handled.append(j.id)

    async with running(queue, handler):
        await eventually(lambda: _settled(queue))
    assert handled == [fresh.id]
    posted = await queue.posted.get(done)
    assert posted is not None and posted.info == {"ts": "1700.5"}


async def test_unknown_kinds_and_unreadable_entries_go_to_the_dead_letters(
    queue: RedisWorkQueue, redis_store: RedisStore
) -> None:
    await queue.submit(job(1, kind="discord.question"))
    await redis_store.client.xadd(queue.keys.stream, {"job": "{not json", "seq": "1"})
    await queue.submit(job(2, kind="slack.question"))
    handled: list[str] = []

    async def answer(j: Job) -> None:
        handled.append(j.id)

    async with running(queue, dispatch({"slack.question": answer})):
        await eventually(lambda: _settled(queue))
    assert handled == [job(2).id]
    dead = await stream_fields(redis_store.client, queue.keys.dead)
    reasons = sorted(fields["reason"] for fields in dead)
    assert reasons == ["rejected by its handler", "unreadable entry"]
    assert (await queue.stats()).dead == 2


async def test_trimming_keeps_every_unread_and_pending_entry(
    queue: RedisWorkQueue, redis_store: RedisStore
) -> None:
    async def left() -> set[int]:
        entries = await stream_fields(redis_store.client, queue.keys.stream)
        return {int(Job.model_validate_json(f["job"]).data["n"]) for f in entries}

    for n in range(30):
        await queue.submit(job(n))
    handled: list[str] = []
    hold = asyncio.Event()

    async def handler(j: Job) -> None:
        if j.data["n"] == "25":
            await hold.wait()
        handled.append(j.id)

    async with running(queue, handler, concurrency=30):

        async def only_25_pending() -> bool:
            return len(handled) == 29 and (await queue.stats()).pending == 1

        await eventually(only_25_pending)
        await queue.trim(approximate=False)
        assert await left() == set(range(25, 30))  # 25 is still pending
        hold.set()
        await eventually(lambda: _settled(queue))
    for n in range(30, 33):
        await queue.submit(job(n))  # nobody has read these
    await queue.trim(approximate=False)
    assert await left() == {30, 31, 32}
    await queue.trim()  # approximate: frees whole nodes only, never more
    assert await left() == {30, 31, 32}


async def _settled(queue: RedisWorkQueue) -> bool:
    stats = await queue.stats()
    return stats.waiting == 0 and stats.pending == 0


async def _count(items: collections.abc.Sized, n: int) -> bool:
    return len(items) >= n


async def test_work_keys_share_one_cluster_slot(queue: RedisWorkQueue) -> None:
    j = job(1)
    keys = [queue.keys.stream, queue.keys.dead, queue.keys.seen(j.id)]
    keys.append(queue.keys.order(j.thread_key))
    assert len({key_slot(k.encode()) for k in keys}) == 1
