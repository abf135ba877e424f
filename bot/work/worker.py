"""What both queues share when running jobs: capacity, the handler call under its fence
and deadline, the watchdog, outage backoff."""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import os
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable
from types import FrameType
from typing import Any

from bot.work.fence import Fence, FenceLost, fenced
from bot.work.job import Handler, Job, JobRejected

log = logging.getLogger(__name__)


class Outcome(enum.Enum):
    DONE = "done"
    RETRY = "retry"
    REJECTED = "rejected"
    LOST = "lost"  # the run lost its job (fenced out): not ours to ack, retry or bury
    OVERDUE = "overdue"  # cancelled past its deadline and the hard grace


async def call_handler(
    handler: Handler, job: Job, *, fence: Fence, deadline: float, grace: float
) -> Outcome:
    """Run the handler inside its fence, `deadline` (the loop's time) set for `time_left()`
    and a hard stop `grace` seconds after it; its failure is logged here and becomes an
    outcome, never a crash. A run that lost its fence is LOST whatever it raised."""
    hard_stop = asyncio.timeout_at(deadline + grace)
    try:
        with fenced(fence, deadline=deadline):
            async with hard_stop:
                await handler(job)
    except FenceLost:
        log.warning("%s: this run lost its job to another worker; dropped here", job.describe())
        return Outcome.LOST
    except JobRejected as exc:
        if _lost(fence):
            return Outcome.LOST
        log.error("job rejected by its handler: %s: %s", job.describe(), exc)
        return Outcome.REJECTED
    except TimeoutError:
        if hard_stop.expired():
            log.error(
                "%s still ran %.0fs past its deadline: cancelled, and its thread freed",
                job.describe(),
                grace,
            )
            return Outcome.OVERDUE
        return _failed(fence, job)
    except Exception:
        return _failed(fence, job)
    return Outcome.LOST if _lost(fence) else Outcome.DONE


def _lost(fence: Fence) -> bool:
    return bool(getattr(fence, "lost", False))


def _failed(fence: Fence, job: Job) -> Outcome:
    if _lost(fence):
        log.warning("%s failed after its run lost the job; dropped here", job.describe())
        return Outcome.LOST
    log.exception("handler failed for %s (delivery will be retried)", job.describe())
    return Outcome.RETRY


def awaiting(task: asyncio.Task[Any]) -> str:
    """What a task is waiting on: its innermost coroutine frame, and the innermost one
    outside asyncio (the code that waits), for the watchdog's log."""
    frames = []
    awaited: Any = task.get_coro()
    while awaited is not None:
        frame = getattr(awaited, "cr_frame", None) or getattr(awaited, "ag_frame", None)
        if frame is not None:
            frames.append(frame)
        awaited = getattr(awaited, "cr_await", None) or getattr(awaited, "ag_await", None)
    if not frames:
        return "nothing (not started or finishing)"
    where = _describe(frames[-1])
    ours = [f for f in frames if not f.f_code.co_filename.startswith(_ASYNCIO)]
    if ours and ours[-1] is not frames[-1]:
        where += f" in {_describe(ours[-1])}"
    return where


_ASYNCIO = os.path.dirname(asyncio.__file__)


def _describe(frame: FrameType) -> str:
    return f"{frame.f_code.co_name} ({frame.f_code.co_filename}:{frame.f_lineno})"


class Watchdog:
    """Logs every run still held past its deadline, once, with its thread and what it
    awaits, and counts them (`overdue`, in QueueStats and /metrics)."""

    def __init__(self, *, deadline_seconds: float) -> None:
        self._deadline = deadline_seconds
        self.overdue = 0
        self._reported: set[tuple[int, str]] = set()

    def scan(self, runs: Iterable[tuple[Job, float, asyncio.Task[Any] | None]]) -> None:
        """`runs`: (job, the loop time its handler started, its task) of each run held."""
        now = asyncio.get_running_loop().time()
        current: set[tuple[int, str]] = set()
        for job, started_at, task in runs:
            run = (id(task), job.id)
            current.add(run)
            if now - started_at <= self._deadline or run in self._reported:
                continue
            self._reported.add(run)
            self.overdue += 1
            log.error(
                "watchdog: %s in thread %s has run %.1fs, past its %.1fs deadline; it awaits %s",
                job.describe(),
                job.thread_key,
                now - started_at,
                self._deadline,
                awaiting(task) if task is not None else "nothing",
            )
        self._reported &= current

    async def run(
        self, runs: Callable[[], Iterable[tuple[Job, float, asyncio.Task[Any] | None]]]
    ) -> None:
        """Scan `runs()` forever, a few times per deadline (at most every second)."""
        interval = min(1.0, self._deadline / 4)
        while True:
            await asyncio.sleep(interval)
            self.scan(runs())


# Admission control. Intake (the platform's acks) and answers share one event loop; a burst
# read all at once would queue hundreds of answers' work ahead of the next ack. So new work
# is read one job at a time, and only while the loop keeps up: each job's first steps then
# interleave with the acks (bench.fleet, 300 questions: ack p99 80-100 ms instead of
# 170-280 ms with batches of 16, and more answers a second). The stream holds the rest
# durably, so reading it a little later loses nothing.
MAX_BATCH = 1
MAX_LOOP_LAG = 0.010
MAX_LAG_CHECKS = 50  # never starve reading: after this many busy checks, read anyway


async def _until_loop_keeps_up() -> None:
    """Return once one pass of the event loop takes under MAX_LOOP_LAG (bounded wait)."""
    loop = asyncio.get_running_loop()
    for _ in range(MAX_LAG_CHECKS):
        started = loop.time()
        await asyncio.sleep(0)  # resumes after everything else that is ready has run
        if loop.time() - started < MAX_LOOP_LAG:
            return


class Capacity:
    """How much work a process holds, so that it never deadlocks nor hoards.

    Handlers running at once never exceed `concurrency` (the slots). A job waiting for
    its turn in a thread, or parked behind an earlier job of its thread held here, is
    *idle*: it holds no slot (otherwise a process whose slots were all full of waiting
    jobs could never run the predecessors they wait for) and does not stop reading. New
    work is read only while fewer than `concurrency` held jobs are busy (read, not idle),
    so one process does not take work another idle process could do now, and while fewer
    than `max_idle` are idle: a bound on memory only, far above what busy threads fill.
    """

    def __init__(self, concurrency: int, *, max_idle: int) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.concurrency = concurrency
        self._max_idle = max_idle
        self._slots = asyncio.Semaphore(concurrency)
        self._busy = 0
        self._idle = 0
        self._running = 0
        self._freed = asyncio.Event()

    @property
    def running(self) -> int:
        return self._running

    @property
    def idle(self) -> int:
        return self._idle

    def free(self) -> int:
        """How many more jobs could start now (0 when full)."""
        return max(0, self.concurrency - self._busy)

    def room_now(self) -> int:
        """How many more jobs may be taken now without waiting (0 when full)."""
        return self.free() if self._idle < self._max_idle else 0

    async def room(self) -> int:
        """Wait until new work may be read; how many jobs (at most MAX_BATCH at a time)."""
        while self.free() == 0 or self._idle >= self._max_idle:
            self._freed.clear()
            await self._freed.wait()
        await _until_loop_keeps_up()
        return min(self.free(), MAX_BATCH)

    def take(self, count: int) -> None:
        self._busy += count

    def give_back(self) -> None:
        self._busy -= 1
        self._freed.set()

    def park(self) -> None:
        """A busy job becomes idle (parked behind its thread's earlier job)."""
        self._busy -= 1
        self._idle += 1
        self._freed.set()

    def unpark(self) -> None:
        self._idle -= 1
        self._busy += 1

    def forget_parked(self) -> None:
        """A parked job was let go without running (taken over, or a stop)."""
        self._idle -= 1
        self._freed.set()

    @contextlib.asynccontextmanager
    async def waiting(self) -> AsyncIterator[None]:
        """While inside, the job counts as idle (waiting for its turn), not as busy."""
        self.park()
        try:
            yield
        finally:
            self.unpark()
            self._freed.set()

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        async with self._slots:
            self._running += 1
            try:
                yield
            finally:
                self._running -= 1


def reraise_cancellation() -> None:
    """Raise CancelledError when the current task was asked to stop.

    Call it after catching a Redis error in a retry loop: redis-py can surface a
    cancellation as a connection error (seen while Redis was down), and a loop that
    retries on those errors would then never stop.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


class Outage:
    """Pauses between attempts while the store fails: doubling up to `max_backoff`.

    Logs once when the trouble starts and once when it ends, not once per attempt, so a
    long outage does not flood the log.
    """

    def __init__(self, what: str, *, max_backoff: float, first: float = 0.05) -> None:
        self._what = what
        self._max = max_backoff
        self._first = first
        self._delay = 0.0

    @property
    def failing(self) -> bool:
        return self._delay > 0

    async def pause(self, exc: BaseException) -> None:
        reraise_cancellation()
        if not self.failing:
            log.warning("%s: redis unavailable (%s); retrying", self._what, _brief(exc))
            self._delay = self._first
        else:
            self._delay = min(self._delay * 2, self._max)
        await asyncio.sleep(self._delay)

    def ok(self) -> None:
        if self.failing:
            log.info("%s: redis is back", self._what)
            self._delay = 0.0


def _brief(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


class Tasks:
    """Tasks kept referenced (asyncio holds only weak ones) and cancelled together."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def __len__(self) -> int:
        return len(self._tasks)

    def spawn(self, work: Coroutine[Any, Any, None], *, name: str) -> asyncio.Task[None]:
        task = asyncio.create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def cancel_all(self, *, within: float = 5.0) -> None:
        """Cancel every task and wait for them, for at most `within` seconds.

        A task is cancelled again while it runs on: redis-py can swallow a cancellation
        that lands mid-command, and a loop that missed its cancel would otherwise keep
        `stop()` waiting forever.
        """
        pending = set(self._tasks)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while pending:
            for task in pending:
                task.cancel()
            _done, pending = await asyncio.wait(pending, timeout=0.2)
            if pending and loop.time() >= deadline:
                names = ", ".join(sorted(t.get_name() for t in pending))
                log.error("%d task(s) did not stop when cancelled: %s", len(pending), names)
                return
