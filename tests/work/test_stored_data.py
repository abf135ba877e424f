"""What the Redis queue keeps once jobs are done: no question text and no Discord
interaction token past the bound (housekeeping's exact trim; dead letters without
secrets and by age)."""

from __future__ import annotations

import dataclasses
from typing import Any

from redis.asyncio import Redis

from adapters.discord.jobs import INTERACTION_JOB, InteractionWork
from bot.store import RedisStore
from bot.work import Job, RedisWorkQueue, dispatch
from tests.work.helpers import FAST, eventually, question, running

TOKEN = "aW50ZXJhY3Rpb246MTIzNDU2Nzg5MDEyMzQ1Njc4OnNlY3JldA"


def interaction_job(n: int) -> Job:
    """A Discord interaction job as intake writes it, its question text unique."""
    work = InteractionWork(application_id=1, token=TOKEN, interaction_id=n, channel_id=2, user_id=3)
    return Job.accept(
        id=f"discord:9:{n}",
        kind=INTERACTION_JOB,
        question=question(f"t{n}", f"secret question number {n}"),
        data=work.to_data(),
    )


async def everything_kept(client: Redis, base: str) -> str:
    """Every value under the queue's keys, as one text to search."""
    kept: list[Any] = []
    async for key in client.scan_iter(match=base.replace("{", "\\{").replace("}", "\\}") + "*"):
        kind = await client.type(key)
        if kind == "stream":
            kept += await client.xrange(key)
        elif kind == "hash":
            kept.append(await client.hgetall(key))
        elif kind == "string":
            kept.append(await client.get(key))
    return repr(kept)


async def settled(queue: RedisWorkQueue) -> bool:
    stats = await queue.stats()
    return stats.waiting == 0 and stats.pending == 0


async def test_finished_jobs_leave_no_question_text_and_no_token(
    redis_store: RedisStore,
) -> None:
    queue = RedisWorkQueue(redis_store, config=FAST)
    jobs = [interaction_job(n) for n in range(5)]
    assert all(j.data["token"] == TOKEN for j in jobs)  # where intake keeps it
    for j in jobs:
        await queue.submit(j)
    before = await everything_kept(redis_store.client, queue.keys.base)
    assert TOKEN in before and "secret question number 3" in before

    async def answer(j: Job) -> None:
        return None

    async with running(queue, dispatch({INTERACTION_JOB: answer})):
        await eventually(lambda: settled(queue))
    await queue.trim(approximate=False)  # what housekeeping runs every 30 s
    after = await everything_kept(redis_store.client, queue.keys.base)
    assert TOKEN not in after and "secret question number" not in after


async def test_dead_letters_keep_no_token_and_go_after_their_time(
    redis_store: RedisStore,
) -> None:
    config = dataclasses.replace(FAST, dead_letter_ttl_seconds=0)
    queue = RedisWorkQueue(redis_store, config=config)
    await queue.submit(interaction_job(1))
    async with running(queue, dispatch({})):  # nobody knows the kind: dead-lettered
        await eventually(lambda: settled(queue))
    assert (await queue.stats()).dead == 1
    dead = repr(await redis_store.client.xrange(queue.keys.dead))
    assert "secret question number 1" in dead  # for people to inspect, for a while
    assert TOKEN not in dead
    await queue.trim(approximate=False)
    assert (await queue.stats()).dead == 0
    kept = await everything_kept(redis_store.client, queue.keys.base)
    assert "secret question number" not in kept and TOKEN not in kept
