"""Waiting for a thread's previous job, across processes, without holding a slot."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from redis.exceptions import RedisError

from bot.work.job import Job
from bot.work.redis_stream import Stream
from bot.work.worker import reraise_cancellation

log = logging.getLogger(__name__)


class Turns:
    """Job n of a thread waits until the thread's "done" mark (in Redis) reaches n-1.

    Only the head of a thread's line in a process waits here (see bot.work.redis_queue:
    the later jobs of the thread are parked behind it), so one process polls Redis at
    most once per thread, backing off from 10 ms to 200 ms. `wake` cuts a pause short
    (a job of the thread arrived here). After `timeout_seconds` a job runs anyway
    (logged): a lost predecessor may delay a thread, never stop it. Nothing is kept per
    thread between waits.
    """

    def __init__(self, stream: Stream, *, timeout_seconds: float) -> None:
        self._stream = stream
        self._timeout = timeout_seconds

    async def wait(self, job: Job, *, wake: asyncio.Event, preempted: Callable[[], bool]) -> bool:
        """True once the job before `job` in its thread is done (or dead, or too late);
        False as soon as `preempted()` holds (an earlier job of the thread came here)."""
        if job.seq <= 1:
            return True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout
        delay = 0.01
        while True:
            if preempted():
                return False
            try:
                known, done = await self._stream.turn(job)
            except (RedisError, OSError):
                reraise_cancellation()
                known, done = True, -1  # keep waiting; the readers log the outage
            if not known or done >= job.seq - 1:
                # Unknown: the order record expired or Redis lost it; nothing to wait for.
                return True
            if loop.time() >= deadline:
                log.warning(
                    "%s runs out of order: job #%d of its thread is still not done after %.0fs",
                    job.describe(),
                    job.seq - 1,
                    self._timeout,
                )
                return True
            wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await wake.wait()
            delay = min(delay * 2, 0.2)
