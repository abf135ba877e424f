"""Handlers that fail: retried until done, never done twice; a poison job ends in the
dead letters after a bounded number of deliveries, and its thread goes on."""

from __future__ import annotations

import collections
import dataclasses
import hashlib
from typing import Any

from bot.store import RedisStore
from bot.work import Job, JobRejected, RedisWorkQueue
from bot.work.redis_keys import GROUP
from tests.work.helpers import FAST, eventually, job, running, stream_fields

FAILING = dataclasses.replace(FAST, max_deliveries=8)


def fails(job_id: str, attempt: int) -> bool:
    """One attempt in five fails, the same ones on every run (call order varies)."""
    digest = hashlib.sha256(f"{job_id}/{attempt}".encode()).digest()
    return digest[0] % 5 == 0


async def test_a_handler_failing_one_time_in_five_answers_everything_once(
    redis_store: RedisStore,
) -> None:
    queue = RedisWorkQueue(redis_store, config=FAILING)
    jobs = [job(n, thread=f"t{n % 10}") for n in range(100)]
    for j in jobs:
        await queue.submit(j)
    attempts: collections.Counter[str] = collections.Counter()
    answered: list[Job] = []

    async def handler(j: Job) -> None:
        attempts[j.id] += 1
        if fails(j.id, attempts[j.id]):
            raise RuntimeError("Meibel said 503")
        answered.append(j)

    async with running(queue, handler, concurrency=16):

        async def all_answered() -> bool:
            return len(answered) >= len(jobs)

        await eventually(all_answered, within=30)

        async def settled() -> bool:
            stats = await queue.stats()
            return stats.pending == 0 and stats.waiting == 0

        await eventually(settled)

    assert sorted(j.id for j in answered) == sorted(j.id for j in jobs)  # none twice
    assert sum(attempts.values()) > len(jobs)  # failures did happen, and were retried
    assert (await queue.stats()).dead == 0
    by_thread: dict[str, list[int]] = collections.defaultdict(list)
    for j in answered:
        by_thread[j.question.thread].append(int(j.data["n"]))
    assert all(ns == sorted(ns) for ns in by_thread.values())  # a retry keeps its place


async def test_a_poison_job_is_dead_lettered_after_max_deliveries(
    redis_store: RedisStore,
) -> None:
    config = dataclasses.replace(FAST, max_deliveries=3)
    queue = RedisWorkQueue(redis_store, config=config)
    poison, after = job(1, thread="t"), job(2, thread="t")
    await queue.submit(poison)
    await queue.submit(after)
    calls: collections.Counter[str] = collections.Counter()

    async def handler(j: Job) -> None:
        calls[j.id] += 1
        if j.id == poison.id:
            raise ValueError("this one always breaks")

    async with running(queue, handler):

        async def next_one_answered() -> bool:
            return calls[after.id] == 1

        await eventually(next_one_answered)
    assert calls[poison.id] == 3
    dead = await stream_fields(redis_store.client, queue.keys.dead)
    assert len(dead) == 1
    assert Job.model_validate_json(dead[0]["job"]).id == poison.id
    assert (dead[0]["deliveries"], dead[0]["reason"]) == ("3", "failed 3 times")
    stats = await queue.stats()
    assert (stats.pending, stats.waiting, stats.dead) == (0, 0, 1)


async def test_a_rejected_job_is_dead_lettered_at_once(redis_store: RedisStore) -> None:
    queue = RedisWorkQueue(redis_store, config=FAST)
    await queue.submit(job(1))
    calls: list[str] = []

    async def handler(j: Job) -> None:
        calls.append(j.id)
        raise JobRejected("the button payload expired")

    async with running(queue, handler):

        async def dead_lettered() -> bool:
            return (await queue.stats()).dead == 1

        await eventually(dead_lettered)
    assert calls == [job(1).id]


async def test_a_job_that_keeps_killing_its_worker_is_dead_lettered(
    redis_store: RedisStore,
) -> None:
    """Delivered more than max_deliveries times without ever finishing (each worker died
    on it): the next worker moves it to the dead letters without running it."""
    config = dataclasses.replace(FAST, max_deliveries=2, visibility_timeout=0.2)
    queue = RedisWorkQueue(redis_store, config=config)
    await queue.submit(job(1))
    client = redis_store.client
    await client.xgroup_create(queue.keys.stream, GROUP, id="0")
    # Two workers that took it and died: delivered, then claimed, never acknowledged.
    reply: Any = await client.xreadgroup(GROUP, "dead-1", {queue.keys.stream: ">"}, count=1)
    [[_stream, [(entry_id, _fields)]]] = reply
    await client.xclaim(queue.keys.stream, GROUP, "dead-2", 0, [entry_id])
    calls: list[str] = []

    async def handler(j: Job) -> None:
        calls.append(j.id)

    async with running(queue, handler):

        async def dead_lettered() -> bool:
            return (await queue.stats()).dead == 1

        await eventually(dead_lettered)
    assert calls == []
    [dead] = await stream_fields(client, queue.keys.dead)
    assert (dead["deliveries"], dead["reason"]) == ("3", "delivered 3 times")
