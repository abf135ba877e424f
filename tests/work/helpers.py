"""Shared pieces of the work-queue tests: jobs, a fast configuration, waiting on conditions."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from redis.asyncio import Redis

from bot.domain import Question
from bot.work import Handler, Job, LocalWorkQueue, RedisWorkQueue, WorkConfig

# Short timeouts so that take-overs and retries happen within a test's time budget.
FAST = WorkConfig(
    visibility_timeout=1.5,
    retry_delay=0.05,
    reclaim_interval=0.05,
    block_seconds=0.2,
    max_backoff=0.3,
    job_deadline=20.0,
    deadline_grace=2.0,
    order_timeout=30.0,
    submit_timeout=2.0,
)


def question(thread: str, text: str = "how do I reset my password?") -> Question:
    return Question(
        platform="slack",
        workspace="T1",
        channel="C1",
        thread=thread,
        user="U1",
        text=text,
        reply_to={"channel": "C1", "thread_ts": thread},
    )


def job(n: int, *, thread: str | None = None, kind: str = "test.answer") -> Job:
    """Job `n`; its thread defaults to one of its own."""
    return Job.accept(
        id=f"slack:T1:Ev{n}",
        kind=kind,
        question=question(thread or f"t{n}", f"question {n}"),
        data={"n": str(n)},
    )


async def eventually(check: Callable[[], Awaitable[bool]], *, within: float = 10.0) -> None:
    """Poll `check` until it holds; TimeoutError after `within` seconds.

    Polling, because what we wait for happens in Redis or in another process.
    """
    async with asyncio.timeout(within):
        while True:
            if await check():
                return
            await asyncio.sleep(0.02)


async def stream_fields(client: Redis, key: str) -> list[dict[str, str]]:
    """The fields of every entry of a stream, oldest first (the client decodes replies)."""
    entries: list[Any] = list(await client.xrange(key) or [])
    return [dict(fields) for _id, fields in entries]


@contextlib.asynccontextmanager
async def running(
    queue: RedisWorkQueue | LocalWorkQueue,
    handler: Handler,
    *,
    concurrency: int = 8,
    grace_seconds: float = 5.0,
) -> AsyncIterator[asyncio.Task[None]]:
    """The queue's `run` in a task for the block; stopped (gracefully) after it."""
    task = asyncio.create_task(queue.run(handler, concurrency=concurrency))
    try:
        yield task
    finally:
        async with asyncio.timeout(grace_seconds + 10):
            await queue.stop(grace_seconds=grace_seconds)
            await task
