"""Waiting for a thread's previous job, across processes, without holding a slot."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from redis.exceptions import RedisError

from bot.work.job import Job
from bot.work.redis_stream import Stream
from bot.work.worker import reraise_cancellation

log = logging.getLogger(__name__)


class Turns:
    """Job n of a thread waits until the thread's "done" mark (in Redis) reaches n-1.

    A job finishing in this process wakes its successors here at once; one finishing in
    another process is seen by polling, backing off from 10 ms to 200 ms. After
    `timeout_seconds` a job runs anyway (logged): a lost predecessor may delay a thread,
    never stop it.
    """

    def __init__(self, stream: Stream, *, timeout_seconds: float) -> None:
        self._stream = stream
        self._timeout = timeout_seconds
        self._events: dict[str, asyncio.Event] = {}

    async def wait(self, job: Job) -> None:
        """Return once the job before `job` in its thread is done (or dead, or too late)."""
        if job.seq <= 1:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout
        key = self._stream.keys.order(job.thread_key)
        delay = 0.01
        while True:
            try:
                known, done = await self._stream.turn(job)
            except (RedisError, OSError):
                reraise_cancellation()
                known, done = True, -1  # keep waiting; the readers log the outage
            if not known or done >= job.seq - 1:
                # Unknown: the order record expired or Redis lost it; nothing to wait for.
                return
            if loop.time() >= deadline:
                log.warning(
                    "%s runs out of order: job #%d of its thread is still not done after %.0fs",
                    job.describe(),
                    job.seq - 1,
                    self._timeout,
                )
                return
            event = self._events.setdefault(key, asyncio.Event())
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await event.wait()
            delay = min(delay * 2, 0.2)

    def finished(self, job: Job) -> None:
        """`job` is done (or dead) here: wake the jobs of its thread waiting in this process."""
        event = self._events.pop(self._stream.keys.order(job.thread_key), None)
        if event is not None:
            event.set()
