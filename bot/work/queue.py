"""The work queue interface both implementations (Redis Streams, in-process) provide.

An adapter accepts an event, builds a `Job` and `submit`s it before acknowledging the
platform; a process runs `run(handler, concurrency=...)` until `stop(grace_seconds=...)`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Protocol

from bot.store.base import StoreError
from bot.work.job import Handler, Job
from bot.work.posted import PostedLog


class QueueUnavailable(StoreError):
    """The job was not accepted (store down, or the backlog is full): tell the user to retry.

    A StoreError, so code that already reports store outages reports this one too.
    """


@dataclass(frozen=True, slots=True)
class QueueStats:
    """Gauges for metrics.

    `waiting`: accepted, not yet taken by any worker. `pending`: taken by some worker and
    not yet done (across all processes for Redis). `in_flight`: handlers running in this
    process now. `dead`: jobs in the dead letters. `overdue`: runs this process saw held
    past their deadline since it started (the watchdog's count).
    """

    waiting: int
    pending: int
    in_flight: int
    dead: int
    overdue: int = 0


@dataclass(frozen=True, slots=True)
class WorkConfig:
    """Tuning shared by both queues; the defaults suit production.

    visibility_timeout: a job whose worker stopped renewing its claim this long ago is
        taken over by another worker (workers renew every third of it while they hold a
        job, so a slow answer is never taken over; a dead worker's jobs are, after this).
        A run trusts its claim without asking Redis for half of it after each renewal
        (its fence's lease, bot.work.fence); build the thread locks with the same value
        (`ThreadLocks(store, ttl_seconds=config.visibility_timeout)`).
    job_deadline: seconds from a run's start (its handler called) to its deadline, which
        the handler reads with `bot.work.fence.time_left()` to end with a notice in time.
        A watchdog logs and counts every run held past it.
    deadline_grace: a handler still running this long after its deadline is cancelled;
        the job is acknowledged (dead-lettered at `max_deliveries`) and its thread freed.
    max_deliveries: a job is given to a handler at most this many times; then it goes to
        the dead letters, so a poison job (or one that kills its worker) cannot loop.
    retry_delay: how soon a job whose handler raised is offered again.
    order_timeout: how long a job waits for the one before it in its thread; after that it
        runs anyway (logged), so a lost predecessor delays a thread but never blocks it.
        At least `job_deadline`, so that a slow predecessor does not lose its order.
    max_idle: how many jobs one process holds idle (waiting for their turn or parked
        behind an earlier job of their thread) before it stops reading; a memory bound
        only. Idle jobs never stop other threads' work from being read.
    max_backlog: submit refuses (QueueUnavailable) beyond this many entries, rather than
        growing without bound or dropping accepted work.
    submit_timeout: submit gives up (QueueUnavailable) after this long, so an adapter can
        still answer the platform in time.
    max_backoff: the longest pause between attempts while the store is down.
    reclaim_interval: how often a worker looks for jobs to take over (Redis); under half
        the visibility timeout. After Redis (or every worker) stood still for longer than
        half the visibility timeout, nobody takes jobs over for one visibility timeout,
        time for the live workers to renew their claims (see bot.work.redis_keys).
    block_seconds: how long one read waits for new work (Redis; below the socket timeout).
    dedupe_ttl_seconds: how long a job id is remembered, so a second submit is ignored.
    order_ttl_seconds: how long a quiet thread's order record lives (Redis).
    dead_letter_max: about how many dead letters are kept, newest first.
    dead_letter_ttl_seconds: how long a dead letter (the question's text) is kept (Redis:
        trimmed by age at housekeeping, about every 30 s).

    Redis timing: a job whose handler raised comes back after about `retry_delay` plus
    one `reclaim_interval`; one whose worker died, after `visibility_timeout` plus one.
    """

    visibility_timeout: float = 60.0
    max_deliveries: int = 5
    retry_delay: float = 2.0
    job_deadline: float = 300.0
    deadline_grace: float = 15.0
    order_timeout: float = 330.0
    max_idle: int = 10_000
    max_backlog: int = 100_000
    submit_timeout: float = 2.0
    max_backoff: float = 5.0
    reclaim_interval: float = 1.0
    block_seconds: float = 1.0
    dedupe_ttl_seconds: int = 24 * 3600
    order_ttl_seconds: int = 7 * 24 * 3600
    dead_letter_max: int = 10_000
    dead_letter_ttl_seconds: int = 7 * 24 * 3600

    def __post_init__(self) -> None:
        if self.max_deliveries < 1:
            raise ValueError("max_deliveries must be at least 1")
        positive = ("visibility_timeout", "reclaim_interval", "block_seconds", "submit_timeout")
        for name in (*positive, "job_deadline", "max_idle"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive")
        if self.deadline_grace < 0:
            raise ValueError("deadline_grace must not be negative")
        if self.reclaim_interval >= self.visibility_timeout / 2:
            # Each reclaim pass stamps the queue's pulse; a longer gap reads as a stall.
            raise ValueError("reclaim_interval must be under half the visibility_timeout")
        if self.order_timeout < self.job_deadline:
            raise ValueError("order_timeout must be at least job_deadline, or order breaks")


def with_deadline(config: WorkConfig, seconds: float) -> WorkConfig:
    """`config` with runs given `seconds` (Settings.job_deadline_seconds), and the order
    wait stretched to cover a predecessor that takes all of its time and grace."""
    order = max(config.order_timeout, seconds + config.deadline_grace + 15.0)
    return dataclasses.replace(config, job_deadline=seconds, order_timeout=order)


class WorkQueue(Protocol):
    """Durable (Redis) or in-process (local) work; see bot.work for the guarantees."""

    posted: PostedLog
    """What handlers posted per job, on the same store: see bot.work.posted."""

    async def submit(self, job: Job) -> None:
        """Accept `job`; once this returns it will be handled. Re-submitting an id is a no-op.

        Raises QueueUnavailable when the job could not be accepted.
        """

    async def run(self, handler: Handler, *, concurrency: int) -> None:
        """Handle jobs, at most `concurrency` at once, until `stop` is called."""

    async def stop(self, *, grace_seconds: float) -> None:
        """Take no new work, let running handlers finish for up to `grace_seconds`, then
        cancel them; everything unfinished is left for the next worker. Returns when `run`
        has returned."""

    async def stats(self) -> QueueStats:
        """Current gauges; raises QueueUnavailable when the store is down."""
