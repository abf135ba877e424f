"""A run of a job acts only while it owns the job: the fence (consumer, delivery count) is
checked by every script that acts for a run, and a run that lost its job is cancelled and
dropped, never acknowledged. Real Redis."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from redis.asyncio import Redis

from bot.store import RedisStore
from bot.work import Job, RedisWorkQueue
from bot.work.fence import FenceLost, Lease, fenced, guard
from bot.work.redis_keys import GROUP, QueueKeys
from bot.work.redis_stream import Stream
from tests.work.helpers import FAST, eventually, job, running


async def test_a_lease_asks_nobody_while_fresh_and_the_queue_once_it_lapsed() -> None:
    calls: list[bool] = []
    owned = True

    async def verify() -> bool:
        calls.append(owned)
        return owned

    loop = asyncio.get_running_loop()
    lease = Lease(verify=verify, lease_seconds=0.2, verify_seconds=1, renewed_at=loop.time())
    for _ in range(100):
        await lease.check()
    assert calls == []  # no I/O while the lease is fresh
    await asyncio.sleep(0.25)
    await lease.check()
    assert calls == [True] and lease.epoch == 1  # verified, renewed from when it was sent
    await lease.check()
    assert calls == [True]
    await asyncio.sleep(0.25)
    owned = False
    with pytest.raises(FenceLost):
        await lease.check()
    with pytest.raises(FenceLost):  # lost for good, without asking again
        await lease.check()
    assert calls == [True, False] and lease.lost


async def test_a_lease_that_cannot_be_verified_counts_as_lost() -> None:
    async def unreachable() -> bool:
        raise ConnectionError("redis is away")

    loop = asyncio.get_running_loop()
    lease = Lease(verify=unreachable, lease_seconds=0, verify_seconds=0.3, renewed_at=loop.time())
    started = loop.time()
    with pytest.raises(FenceLost):
        await lease.check()
    assert loop.time() - started < 1.5


async def test_a_verification_answered_later_than_the_lease_proves_nothing() -> None:
    delays = [0.3, 0.0]  # the first answer comes back after the lease (0.2 s) ran out
    calls = 0

    async def slow_then_fast() -> bool:
        nonlocal calls
        calls += 1
        await asyncio.sleep(delays.pop(0) if delays else 0.3)
        return True

    loop = asyncio.get_running_loop()
    lease = Lease(verify=slow_then_fast, lease_seconds=0.2, verify_seconds=2, renewed_at=0)
    await lease.check()
    assert calls == 2 and lease.fresh()

    always_slow = Lease(verify=slow_then_fast, lease_seconds=0.2, verify_seconds=0.5, renewed_at=0)
    started = loop.time()
    with pytest.raises(FenceLost):
        await always_slow.check()
    assert loop.time() - started < 1.5


async def test_a_stale_run_acknowledges_nothing_and_moves_no_done_mark(
    redis_store: RedisStore,
) -> None:
    queue = RedisWorkQueue(redis_store, config=FAST)
    await queue.submit(job(1, thread="t"))
    client, keys = redis_store.client, queue.keys
    stale = Stream(client, keys, consumer="stale", config=FAST)
    fresh = Stream(client, keys, consumer="fresh", config=FAST)
    await stale.ensure_group()
    [entry] = await stale.read(1, block_ms=0)
    [taken], _ = await fresh.reclaim(1, min_idle_ms=0)
    assert (entry.deliveries, taken.deliveries) == (1, 2)  # the claim issued a new fence
    order = keys.order(job(1, thread="t").thread_key)

    assert not await stale.finish(entry)
    assert not await stale.dead(entry, reason="late")
    assert not await stale.put_posted(entry.job.id, "{}", ttl_seconds=60, run=entry)  # type: ignore[union-attr]
    assert await stale.touch([(entry.entry_id, 1)], idle_ms=0) == [entry.entry_id]
    [pending] = await client.xpending_range(keys.stream, GROUP, "-", "+", 10)
    assert (pending["consumer"], pending["times_delivered"]) == ("fresh", 2)
    assert await client.hget(order, "done") is None
    assert await client.xlen(keys.dead) == 0

    assert await fresh.put_posted(taken.job.id, "{}", ttl_seconds=60, run=taken)  # type: ignore[union-attr]
    assert await fresh.finish(taken)
    assert await client.xpending_range(keys.stream, GROUP, "-", "+", 10) == []
    assert await client.hget(order, "done") == "1"


async def test_a_run_whose_job_was_taken_over_is_cancelled_mid_answer_and_dropped(
    redis_store: RedisStore, caplog: pytest.LogCaptureFixture
) -> None:
    config = dataclasses.replace(FAST, visibility_timeout=0.6)
    queue = RedisWorkQueue(redis_store, config=config)
    first = job(1, thread="t")
    await queue.submit(first)
    started = asyncio.Event()
    outcome: list[str] = []

    async def handler(j: Job) -> None:
        await queue.posted.record(j, {"message": "m1"})
        started.set()
        try:
            await asyncio.sleep(30)  # the agent thinking, when the job is taken over
            outcome.append("answered")
        except asyncio.CancelledError:
            outcome.append("cancelled")
            raise

    client, keys = redis_store.client, queue.keys
    async with running(queue, handler):
        await asyncio.wait_for(started.wait(), 5)
        # Another worker takes the job over (a claim counts a delivery: a new fence) and
        # records what it posted.
        await client.xclaim(keys.stream, GROUP, "thief", 0, [await _only_entry(client, keys)])
        await client.set(keys.posted(first.id), '{"info": {"message": "m2"}, "done": false}')

        async def dropped() -> bool:
            return outcome == ["cancelled"] and not queue._held

        await eventually(dropped, within=5)
    [pending] = await client.xpending_range(keys.stream, GROUP, "-", "+", 10)
    assert (pending["consumer"], pending["times_delivered"]) == ("thief", 2)  # not acked
    assert await client.hget(keys.order(first.thread_key), "done") is None
    posted = await queue.posted.get(first)  # outside any run: read from Redis
    assert posted is not None and posted.info == {"message": "m2"} and not posted.done
    assert "cancelling its run" in caplog.text


async def test_a_run_reads_no_stale_posted_record_after_its_lease_lapsed(
    redis_store: RedisStore,
) -> None:
    config = dataclasses.replace(FAST, visibility_timeout=0.4)
    queue = RedisWorkQueue(redis_store, config=config)
    work = job(1)
    await queue.submit(work)
    stream = queue._stream
    await stream.ensure_group()
    loop = asyncio.get_running_loop()
    sent_at = loop.time()
    [entry] = await stream.read(1, block_ms=0)
    lease = queue._lease(entry, sent_at)
    with fenced(lease), queue.posted.held(work):
        await queue.posted.record(work, {"message": "m1"})
        assert (await queue.posted.get(work)).info == {"message": "m1"}  # type: ignore[union-attr]
        await redis_store.client.xclaim(queue.keys.stream, GROUP, "thief", 0, [entry.entry_id])
        await asyncio.sleep(0.25)  # past the lease (half the visibility timeout)
        with pytest.raises(FenceLost):
            await queue.posted.get(work)  # not the cached record
        with pytest.raises(FenceLost):
            await guard()


async def _only_entry(client: Redis, keys: QueueKeys) -> str:
    [(entry_id, _fields)] = await client.xrange(keys.stream)
    return str(entry_id)
