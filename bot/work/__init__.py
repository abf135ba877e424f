"""Accepted work, kept until it is done: Redis Streams for a fleet, in-process otherwise.

An adapter, for each event it accepts:

    job = Job.accept(id=f"slack:{team}:{event_id}", kind="slack.question", question=q,
                     data={"channel": ..., "ts": ...})
    try:
        await queue.submit(job)          # durable once it returns
    except QueueUnavailable:
        ...                              # tell the user "temporarily unavailable"

A process, once:

    queue = open_queue(store, config=WorkConfig(...))
    task = asyncio.create_task(queue.run(dispatch({"slack.question": answer}), concurrency=64))
    ...                                  # on SIGTERM:
    await queue.stop(grace_seconds=settings.shutdown_grace_seconds)

A handler may run twice for one job (a worker died before acknowledging it): it records
what it posted in `queue.posted` (a PostedLog) and checks it before posting.

Each run of a job is fenced (bot.work.fence): the worker calls the handler inside
`fenced(fence, deadline=start + config.job_deadline)`. The handler calls `await guard()`
before anything a user or a service would see (FenceLost: another worker owns the job
now; stop, post nothing), reads `time_left()` to end with a notice before its deadline,
and builds its thread locks with the same visibility timeout
(`ThreadLocks(store, ttl_seconds=config.visibility_timeout)`). The posted log's reads
and writes check the fence too.
"""

from __future__ import annotations

from bot.store.base import Store
from bot.store.redis import RedisStore
from bot.work.job import Handler, Job, JobRejected, dispatch
from bot.work.local_queue import LocalWorkQueue
from bot.work.posted import Posted, PostedLog
from bot.work.queue import QueueStats, QueueUnavailable, WorkConfig, WorkQueue
from bot.work.redis_queue import RedisWorkQueue

__all__ = [
    "Handler",
    "Job",
    "JobRejected",
    "LocalWorkQueue",
    "Posted",
    "PostedLog",
    "QueueStats",
    "QueueUnavailable",
    "RedisWorkQueue",
    "WorkConfig",
    "WorkQueue",
    "dispatch",
    "open_queue",
]


def open_queue(store: Store, *, name: str = "work", config: WorkConfig | None = None) -> WorkQueue:
    """The Redis queue on a Redis store (shared by the fleet), else the in-process one."""
    if isinstance(store, RedisStore):
        return RedisWorkQueue(store, name=name, config=config)
    return LocalWorkQueue(store, config=config)
