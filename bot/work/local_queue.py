"""Work kept in this process: the single-process mode that goes with the embedded store.

Same interface and the same behaviour as the Redis queue while the process lives: jobs
run in submit order, one thread's jobs one after another, failures retried up to
`max_deliveries` times and then kept as dead letters (logged). It is *not* durable: jobs
still queued when the process exits are lost, and two processes do not share work. A
deployment that needs either runs Redis (REDIS_URL), which switches to RedisWorkQueue.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import logging
from dataclasses import dataclass, field

from bot.domain import ThreadKey
from bot.store.base import Store, StoreError
from bot.work.job import Handler, Job
from bot.work.posted import PostedLog
from bot.work.queue import QueueStats, QueueUnavailable, WorkConfig
from bot.work.worker import Capacity, Outcome, Tasks, call_handler

log = logging.getLogger(__name__)

SEEN_IDS = 100_000


@dataclass(slots=True)
class _Thread:
    """Order bookkeeping of one thread with work outstanding."""

    last: int = 0  # seq given to its latest job
    done: int = 0  # seq of its latest finished job
    turn: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass(slots=True)
class _Taken:
    arrival: int
    job: Job
    task: asyncio.Task[None] | None = None
    started: bool = False


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
        )

    async def run(self, handler: Handler, *, concurrency: int) -> None:
        if self._running:
            raise RuntimeError("this queue is already running")
        self._running = True
        self._stopped.clear()
        capacity = Capacity(concurrency, max_waiting=concurrency * 4)
        self._capacity = capacity
        jobs, reader = Tasks(), Tasks()
        try:
            reader.spawn(self._read_loop(handler, capacity, jobs), name="local-work-read")
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
            taken.task = jobs.spawn(self._process(taken, handler, capacity), name=f"job {job.id}")

    async def _process(self, taken: _Taken, handler: Handler, capacity: Capacity) -> None:
        with self.posted.held(taken.job):
            await self._run_job(taken, handler, capacity)

    async def _run_job(self, taken: _Taken, handler: Handler, capacity: Capacity) -> None:
        job = taken.job
        try:
            if await self._was_done(job):
                log.info("%s was done before; skipping it", job.describe())
                self._settle(taken)
                return
            thread = self._threads[job.thread_key]
            if thread.done < job.seq - 1:
                # Earlier jobs of the thread were taken earlier, so they are running or
                # about to; waiting holds no slot, so they always can.
                async with capacity.waiting():
                    while thread.done < job.seq - 1:
                        thread.turn.clear()
                        await thread.turn.wait()
            for delivery in range(1, self.config.max_deliveries + 1):
                async with capacity.slot():
                    taken.started = True
                    outcome = await call_handler(handler, job)
                if outcome is Outcome.DONE:
                    await self._mark_done(job)
                    break
                if outcome is Outcome.REJECTED or delivery == self.config.max_deliveries:
                    self._dead(
                        job,
                        "rejected by its handler"
                        if outcome is Outcome.REJECTED
                        else f"failed {delivery} times",
                    )
                    break
                taken.started = False
                async with capacity.waiting():  # a pause, not work: no reason to block reads
                    await asyncio.sleep(self.config.retry_delay)
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
        self.dead.append((job, reason))

    def _settle(self, taken: _Taken) -> None:
        del self._taken[taken.arrival]
        job = taken.job
        thread = self._threads[job.thread_key]
        thread.done = max(thread.done, job.seq)
        thread.turn.set()
        if thread.done >= thread.last:
            del self._threads[job.thread_key]  # nothing outstanding; a new job starts at 1

    async def _drain(self, jobs: Tasks) -> None:
        """Cancel what has not started; give running handlers the grace, then cancel; put
        every unfinished job back at the front, in order, for the next `run`."""
        for taken in self._taken.values():
            if not taken.started and taken.task is not None:
                taken.task.cancel()
        running = [t.task for t in self._taken.values() if t.started and t.task is not None]
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
