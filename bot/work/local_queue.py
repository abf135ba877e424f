"""Work kept in this process: the single-process mode that goes with the embedded store.

Same interface and the same behaviour as the Redis queue while the process lives: jobs
run in submit order, one thread's jobs one after another, failures retried up to
`max_deliveries` times and then kept as dead letters (logged). It is *not* durable: jobs
still queued when the process exits are lost, and two processes do not share work. A
deployment that needs either runs Redis (REDIS_URL), which switches to RedisWorkQueue.

Fair across threads: the jobs of one thread taken from the queue form a line, run one at
a time in order by one task; the rest of the line is parked (no task, no slot). A thread's
backlog never stops reading, so another thread's job runs in the next free slot. Nobody
else can take a job over here, so a run's fence (bot.work.fence) is lost only when the
worker gives the run up; deadlines and the watchdog work as in the Redis queue.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field

from bot.domain import ThreadKey
from bot.store.base import Store, StoreError
from bot.work.fence import Unfenced, fenced
from bot.work.job import Handler, Job
from bot.work.posted import PostedLog
from bot.work.queue import QueueStats, QueueUnavailable, WorkConfig
from bot.work.worker import Capacity, Outcome, Tasks, Watchdog, call_handler

log = logging.getLogger(__name__)

SEEN_IDS = 100_000


@dataclass(slots=True)
class _Thread:
    """Order bookkeeping of one thread with work outstanding."""

    last: int = 0  # seq given to its latest job
    done: int = 0  # seq of its latest finished job


@dataclass(slots=True, eq=False)
class _Taken:
    arrival: int
    job: Job
    fence: Unfenced = field(default_factory=Unfenced)
    task: asyncio.Task[None] | None = None  # its line's task, while it runs
    started: bool = False
    started_at: float = 0.0


@dataclass(slots=True, eq=False)
class _Line:
    """The jobs of one thread taken here: the head runs, the rest wait parked, in order."""

    thread: ThreadKey
    parked: collections.deque[_Taken] = field(default_factory=collections.deque)
    head: _Taken | None = None
    task: asyncio.Task[None] | None = None


class LocalWorkQueue:
    """`bot.work.queue.WorkQueue` in memory; see the module docstring."""

    def __init__(self, store: Store, *, config: WorkConfig | None = None) -> None:
        self.config = config or WorkConfig()
        self.posted = PostedLog(store)
        self.dead: collections.deque[tuple[Job, str]] = collections.deque(
            maxlen=self.config.dead_letter_max
        )
        self._queue: collections.deque[tuple[int, Job]] = collections.deque()
        self._arrivals = itertools.count()
        self._nonempty = asyncio.Event()
        self._seen: collections.OrderedDict[str, None] = collections.OrderedDict()
        self._threads: dict[ThreadKey, _Thread] = {}
        self._taken: dict[int, _Taken] = {}
        self._lines: dict[ThreadKey, _Line] = {}
        self._watchdog = Watchdog(deadline_seconds=self.config.job_deadline)
        self._capacity: Capacity | None = None
        self._stopping = asyncio.Event()
        self._stopped = asyncio.Event()
        self._grace = 0.0
        self._running = False

    async def submit(self, job: Job) -> None:
        if job.id in self._seen:
            log.info("job %s was accepted before; not added again", job.id)
            return
        if len(self._queue) >= self.config.max_backlog:
            log.error("refused %s: the work queue is full", job.describe())
            raise QueueUnavailable(f"work queue full: {self.config.max_backlog} jobs waiting")
        self._seen[job.id] = None
        if len(self._seen) > SEEN_IDS:
            self._seen.popitem(last=False)
        thread = self._threads.setdefault(job.thread_key, _Thread())
        thread.last += 1
        self._queue.append((next(self._arrivals), job.model_copy(update={"seq": thread.last})))
        self._nonempty.set()

    async def stats(self) -> QueueStats:
        running = self._capacity.running if self._capacity else 0
        return QueueStats(
            waiting=len(self._queue),
            pending=len(self._taken),
            in_flight=running,
            dead=len(self.dead),
            overdue=self._watchdog.overdue,
        )

    async def run(self, handler: Handler, *, concurrency: int) -> None:
        if self._running:
            raise RuntimeError("this queue is already running")
        self._running = True
        self._stopped.clear()
        # Parked jobs are already in memory (the queue held them), so they need no bound.
        capacity = Capacity(concurrency, max_idle=self.config.max_backlog + 1)
        self._capacity = capacity
        jobs, reader = Tasks(), Tasks()
        try:
            reader.spawn(self._read_loop(handler, capacity, jobs), name="local-work-read")
            reader.spawn(self._watchdog.run(self._runs), name="local-work-watchdog")
            await self._stopping.wait()
        finally:
            await reader.cancel_all()
            await self._drain(jobs)
            self._running = False
            self._stopping.clear()
            self._stopped.set()

    async def stop(self, *, grace_seconds: float) -> None:
        self._grace = grace_seconds
        self._stopping.set()
        if self._running:
            await self._stopped.wait()

    async def _read_loop(self, handler: Handler, capacity: Capacity, jobs: Tasks) -> None:
        while True:
            await capacity.room()
            while not self._queue:
                self._nonempty.clear()
                await self._nonempty.wait()
            arrival, job = self._queue.popleft()
            capacity.take(1)
            taken = _Taken(arrival, job)
            self._taken[arrival] = taken
            line = self._lines.get(job.thread_key)
            if line is None:
                line = self._lines[job.thread_key] = _Line(job.thread_key)
                run = self._run_line(line, taken, handler, capacity)
                line.task = jobs.spawn(run, name=job.id)
            else:
                capacity.park()
                line.parked.append(taken)

    def _runs(self) -> Iterator[tuple[Job, float, asyncio.Task[None] | None]]:
        for taken in self._taken.values():
            if taken.started:
                yield taken.job, taken.started_at, taken.task

    async def _run_line(
        self, line: _Line, first: _Taken, handler: Handler, capacity: Capacity
    ) -> None:
        """Runs `first` (busy), then each job parked behind it, until the line is empty."""
        taken = first
        try:
            while True:
                line.head, taken.task = taken, line.task
                try:
                    with fenced(taken.fence), self.posted.held(taken.job):
                        await self._run_job(taken, handler, capacity)
                finally:
                    line.head, taken.task = None, None
                if not line.parked or self._stopping.is_set():
                    break
                taken = line.parked.popleft()
                capacity.unpark()
        finally:
            if self._lines.get(line.thread) is line:
                del self._lines[line.thread]
            for _taken in line.parked:  # a stop: put back in the queue by _drain
                capacity.forget_parked()
            line.parked.clear()

    async def _run_job(self, taken: _Taken, handler: Handler, capacity: Capacity) -> None:
        job, cfg = taken.job, self.config
        loop = asyncio.get_running_loop()
        try:
            if await self._was_done(job):
                log.info("%s was done before; skipping it", job.describe())
                self._settle(taken)
                return
            # The line runs a thread's jobs in order, so the one before is done.
            for delivery in range(1, cfg.max_deliveries + 1):
                async with capacity.slot():
                    taken.started, taken.started_at = True, loop.time()
                    outcome = await call_handler(
                        handler,
                        job,
                        fence=taken.fence,
                        deadline=taken.started_at + cfg.job_deadline,
                        grace=cfg.deadline_grace,
                    )
                if outcome is Outcome.DONE:
                    await self._mark_done(job)
                    break
                if outcome in (Outcome.OVERDUE, Outcome.LOST):
                    break  # cancelled and logged; the thread goes on
                if outcome is Outcome.REJECTED or delivery == cfg.max_deliveries:
                    self._dead(
                        job,
                        "rejected by its handler"
                        if outcome is Outcome.REJECTED
                        else f"failed {delivery} times",
                    )
                    break
                taken.started = False
                async with capacity.waiting():  # a pause, not work: no reason to block reads
                    await asyncio.sleep(cfg.retry_delay)
            self._settle(taken)
        finally:
            capacity.give_back()

    async def _was_done(self, job: Job) -> bool:
        try:
            posted = await self.posted.get(job)
        except StoreError as exc:
            # Single-process: a job can only be here twice by a re-submit that the id
            # dedupe already stops, so running it beats blocking on the store.
            log.warning("posted log unreadable for %s: %s", job.describe(), exc)
            return False
        return posted is not None and posted.done

    async def _mark_done(self, job: Job) -> None:
        try:
            await self.posted.finish(job)
        except StoreError as exc:
            log.warning("could not mark %s done in the posted log: %s", job.describe(), exc)

    def _dead(self, job: Job, reason: str) -> None:
        log.error("dead letter: %s (%s)", job.describe(), reason)
        self.dead.append((job.without_secrets(), reason))

    def _settle(self, taken: _Taken) -> None:
        del self._taken[taken.arrival]
        job = taken.job
        thread = self._threads[job.thread_key]
        thread.done = max(thread.done, job.seq)
        if thread.done >= thread.last:
            del self._threads[job.thread_key]  # nothing outstanding; a new job starts at 1

    async def _drain(self, jobs: Tasks) -> None:
        """Cancel what has not started; give running handlers the grace, then cancel; put
        every unfinished job back at the front, in order, for the next `run`."""
        running = []
        for line in list(self._lines.values()):
            if line.task is None:
                continue
            if line.head is not None and line.head.started:
                running.append(line.task)  # a stop ends the line after this job
            else:
                line.task.cancel()
        if running:
            _done, late = await asyncio.wait(running, timeout=max(self._grace, 0.0))
            if late:
                log.warning("%d answer(s) cut short by the shutdown", len(late))
        await jobs.cancel_all()
        for taken in sorted(self._taken.values(), key=lambda t: t.arrival, reverse=True):
            self._queue.appendleft((taken.arrival, taken.job))
        self._taken.clear()
        if self._queue:
            self._nonempty.set()
