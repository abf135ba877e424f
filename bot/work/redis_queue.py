"""Durable work on a Redis Stream, shared by every process of a deployment.

Guarantees, and what they rest on:

- Accepted means kept. `submit` returns once the job is in the stream (one script: dedupe
  by job id, the thread's sequence number, XADD). That survives a Redis restart only if
  Redis persists every write before answering: run it with `appendonly yes` and
  `appendfsync always` (`everysec` may lose the last second of accepted work on a crash).
  A Redis that comes back empty has lost the queue; workers recreate the group and go on.
- Nothing is dropped. Workers read through the consumer group `workers`; a job is
  acknowledged (XACK) only after its handler returned. A worker renews its claim on the
  jobs it holds every third of `visibility_timeout`; jobs of a dead worker go idle and are
  taken over (XAUTOCLAIM) by any worker after `visibility_timeout`.
- Nothing runs forever. A job is handed to a handler at most `max_deliveries` times, then
  moved to the dead-letter stream (`...:dead`), acknowledged and logged.
- At most one answer. Re-runs happen (a worker dies after answering, before XACK), so
  the handler consults the posted log (bot.work.posted) and the worker skips jobs the
  log marks done.
- One run acts at a time. Each run of a job carries a fence, (this consumer, the entry's
  delivery count), issued by the claim itself (bot.work.redis_keys). FINISH, DEAD, the
  claim renewals and the posted records change nothing for a run that is fenced out, and
  the handler's `guard()` raises FenceLost once the run lost its job: it checks without
  I/O while the run's last renewal is less than half the visibility timeout old, asks
  Redis after that. A run found lost (by its own check, or by the heartbeat, which then
  cancels its handler even mid-answer) is dropped here: not acknowledged, retried, nor
  dead-lettered; its new owner finishes the job.
- Every run ends. `fenced(..., deadline=start + job_deadline)` tells the handler its
  deadline; past it plus `deadline_grace` the handler is cancelled, the job acknowledged
  (dead-lettered at `max_deliveries`) and the thread freed. A watchdog logs each run held
  past its deadline, with what it awaits, and counts them (QueueStats.overdue).
- One thread, in order. Each job carries its thread's sequence number; a worker starts
  job n only after n-1 is done (or dead), for at most `order_timeout` (then it runs
  anyway, logged).
- Fair across threads. The jobs of one thread held by a process form a line, run one
  at a time, lowest sequence number first, by one task. Only the head of the line waits
  for its turn (polling Redis); the others are parked: a small record (the entry) and no
  task. Neither waiting nor parked jobs hold a slot or stop reading (bot.work.worker's
  Capacity): a backlog in one thread never keeps another thread's job from being read and
  run. Memory is bounded by `max_idle` jobs held idle per process, far above what a
  thread's backlog fills; an earlier job of a thread arriving later (taken over from a
  dead worker) moves to the head of its line.
- The stream does not grow without bound, and finished jobs' texts (and Discord tokens)
  do not linger. Entries every worker is done with are trimmed exactly at housekeeping
  (XTRIM MINID the oldest pending one, about every 30 s); unread or unacknowledged
  entries never are. Dead letters are kept without secrets (Job.without_secrets), at
  most about `dead_letter_max` of them and for `dead_letter_ttl_seconds`.
  A fixed MAXLEN would silently drop accepted work when workers fall behind; instead
  `submit` refuses beyond `max_backlog` entries, so the user is told.

Cluster: every key of a queue shares one hash tag, see bot.work.redis_keys.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import os
import secrets
import socket
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

from redis.exceptions import RedisError

from bot.store.base import StoreError
from bot.store.redis import RedisStore
from bot.work.fence import FenceLost, fenced
from bot.work.job import Handler, Job
from bot.work.posted import PostedLog
from bot.work.queue import QueueStats, QueueUnavailable, WorkConfig
from bot.work.redis_keys import QueueKeys
from bot.work.redis_posted import RedisPostedLog
from bot.work.redis_stream import BacklogFull, Entry, EntryLease, Stream, is_nogroup
from bot.work.turns import Turns
from bot.work.worker import (
    Capacity,
    Outage,
    Outcome,
    Tasks,
    Watchdog,
    call_handler,
    reraise_cancellation,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

REDIS_ERRORS = (RedisError, OSError)
HOUSEKEEPING_SECONDS = 30.0
FORGET_CONSUMERS_AFTER_MS = 3600 * 1000
LEASE_SHARE = 0.5  # a run trusts its claim for this share of the visibility timeout


def consumer_name() -> str:
    """Unique per process, readable in XINFO: host, pid and a random part (pids repeat)."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


@dataclass(slots=True, eq=False)
class _Held:
    """A run of a stream entry this process holds."""

    entry: Entry
    fence: EntryLease
    line: _Line
    task: asyncio.Task[None] | None = None  # its line's task, while it is the line's head
    started: bool = False  # the handler was called (a stop lets it finish, up to the grace)
    started_at: float = 0.0
    settling: bool = False  # acknowledging: a lost claim no longer cancels it
    lost_seen: bool = False  # _lose ran for it


@dataclass(slots=True, eq=False)
class _Line:
    """The runs of one thread held here: the head runs (or waits for its turn), the rest
    are parked, lowest sequence number first."""

    key: str
    parked: list[tuple[int, str, _Held]] = field(default_factory=list)
    head: _Held | None = None
    task: asyncio.Task[None] | None = None
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    def earlier_parked(self, seq: int) -> bool:
        return bool(self.parked) and self.parked[0][0] < seq

    def park(self, held: _Held) -> None:
        job = held.entry.job
        heapq.heappush(self.parked, (job.seq if job else 0, held.entry.entry_id, held))
        self.wake.set()

    def unpark(self, held: _Held) -> bool:
        kept = [p for p in self.parked if p[2] is not held]
        if len(kept) == len(self.parked):
            return False
        self.parked = kept
        heapq.heapify(self.parked)
        return True


class RedisWorkQueue:
    """`bot.work.queue.WorkQueue` on a Redis Stream; see the module docstring."""

    def __init__(
        self,
        store: RedisStore,
        *,
        name: str = "work",
        config: WorkConfig | None = None,
        consumer: str | None = None,
    ) -> None:
        self.config = config or WorkConfig()
        self.consumer = consumer or consumer_name()
        self.keys = QueueKeys.of(store.prefix, name)
        self._stream = Stream(store.client, self.keys, consumer=self.consumer, config=self.config)
        self.posted: PostedLog = RedisPostedLog(self._stream)
        self._held: dict[str, _Held] = {}
        self._lines: dict[str, _Line] = {}
        self._turns = Turns(self._stream, timeout_seconds=self.config.order_timeout)
        self._capacity: Capacity | None = None
        self._outage = Outage(f"worker {self.consumer}", max_backoff=self.config.max_backoff)
        self._watchdog = Watchdog(deadline_seconds=self.config.job_deadline)
        self._stopping = asyncio.Event()
        self._stopped = asyncio.Event()
        self._grace = 0.0
        self._running = False

    # -- accepting work -----------------------------------------------------------------
    async def submit(self, job: Job) -> None:
        try:
            async with asyncio.timeout(self.config.submit_timeout):
                added, entry_id = await self._stream.add(job)
        except BacklogFull as exc:
            log.error("refused %s: the work queue is full (%s)", job.describe(), exc)
            raise QueueUnavailable(f"work queue full: {exc}") from exc
        except (*REDIS_ERRORS, TimeoutError) as exc:
            reraise_cancellation()
            raise QueueUnavailable(f"work queue unavailable: {type(exc).__name__}") from exc
        if not added:
            log.info("job %s was accepted before (entry %s); not added again", job.id, entry_id)

    async def stats(self) -> QueueStats:
        try:
            async with asyncio.timeout(self.config.submit_timeout):
                waiting, pending, dead = await self._stream.counts()
        except (*REDIS_ERRORS, TimeoutError) as exc:
            reraise_cancellation()
            raise QueueUnavailable(f"work queue unavailable: {type(exc).__name__}") from exc
        running = self._capacity.running if self._capacity else 0
        return QueueStats(
            waiting=waiting,
            pending=pending,
            in_flight=running,
            dead=dead,
            overdue=self._watchdog.overdue,
        )

    async def trim(self, *, approximate: bool = True) -> None:
        """Drop the entries every worker is done with (workers do this every 30 s)."""
        await self._stream.trim(approximate=approximate)

    # -- running ------------------------------------------------------------------------
    async def run(self, handler: Handler, *, concurrency: int) -> None:
        if self._running:
            raise RuntimeError("this queue is already running")
        self._running = True
        self._stopped.clear()
        capacity = Capacity(concurrency, max_idle=self.config.max_idle)
        self._capacity = capacity
        jobs, loops, heartbeat = Tasks(), Tasks(), Tasks()
        log.info("worker %s takes jobs from %s", self.consumer, self.keys.stream)
        try:
            loops.spawn(self._read_loop(handler, capacity, jobs), name="work-read")
            loops.spawn(self._reclaim_loop(handler, capacity, jobs), name="work-reclaim")
            loops.spawn(self._watchdog.run(self._runs), name="work-watchdog")
            heartbeat.spawn(self._heartbeat_loop(), name="work-heartbeat")
            await self._stopping.wait()
        finally:
            await loops.cancel_all()
            await self._drain(jobs)
            await heartbeat.cancel_all()
            await self._hand_back()
            self._running = False
            self._stopping.clear()
            self._stopped.set()
            log.info("worker %s stopped", self.consumer)

    async def stop(self, *, grace_seconds: float) -> None:
        self._grace = grace_seconds
        self._stopping.set()
        if self._running:
            await self._stopped.wait()

    async def _read_loop(self, handler: Handler, capacity: Capacity, jobs: Tasks) -> None:
        outage = Outage(f"work reader {self.consumer}", max_backoff=self.config.max_backoff)
        await self._persist(self._stream.ensure_group)
        block_ms = int(self.config.block_seconds * 1000)
        loop = asyncio.get_running_loop()
        while not self._stopping.is_set():
            count = await capacity.room()
            sent_at = loop.time()
            try:
                entries = await self._stream.read(count, block_ms=block_ms)
            except REDIS_ERRORS as exc:
                await self._recover(exc, outage)
                continue
            outage.ok()
            self._start(entries, sent_at, handler, capacity, jobs)

    async def _reclaim_loop(self, handler: Handler, capacity: Capacity, jobs: Tasks) -> None:
        """Takes over idle entries; runs beside the reader so it works even when the
        reader waits, and needs only a free slot, never a waiting job to finish."""
        outage = Outage(f"work reclaimer {self.consumer}", max_backoff=self.config.max_backoff)
        min_idle_ms = int(self.config.visibility_timeout * 1000)
        loop = asyncio.get_running_loop()
        housekeeping_at = loop.time()
        while not self._stopping.is_set():
            try:
                for _ in range(10):  # a bounded walk through a long pending list per pass
                    free = capacity.room_now()
                    if not free:
                        break
                    sent_at = loop.time()
                    entries, wrapped = await self._stream.reclaim(free, min_idle_ms=min_idle_ms)
                    if entries:
                        log.info("took over %d job(s) from stopped or slow workers", len(entries))
                    self._start(entries, sent_at, handler, capacity, jobs)
                    if wrapped:
                        break
                if loop.time() >= housekeeping_at:
                    housekeeping_at = loop.time() + HOUSEKEEPING_SECONDS
                    # Exact: approximate trimming frees whole nodes (100 entries) only,
                    # so a quiet bot would keep its last questions (and tokens) for ever.
                    await self._stream.trim(approximate=False)
                    await self._stream.forget_idle_consumers(idle_ms=FORGET_CONSUMERS_AFTER_MS)
                outage.ok()
            except REDIS_ERRORS as exc:
                await self._recover(exc, outage)
                continue
            await asyncio.sleep(self.config.reclaim_interval)

    async def _heartbeat_loop(self) -> None:
        """Renews this worker's claim on every run it holds, so none is taken over while
        it waits for its turn or its (slow) answer; cancels the runs found fenced out."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.config.visibility_timeout / 3)
            held = list(self._held.values())
            if not held:
                continue
            sent_at = loop.time()
            try:
                runs = [(h.entry.entry_id, h.entry.deliveries) for h in held]
                lost = set(await self._stream.touch(runs, idle_ms=0))
            except REDIS_ERRORS as exc:
                reraise_cancellation()
                # No pause: the next beat comes soon anyway; the outage was logged elsewhere.
                log.debug("could not renew claims: %s", type(exc).__name__)
                continue
            for h in held:
                if h.entry.entry_id in lost:
                    self._lose(h)
                else:
                    h.fence.renewed(sent_at)

    def _lease(self, entry: Entry, sent_at: float) -> EntryLease:
        vis = self.config.visibility_timeout

        async def verify() -> bool:
            return not await self._stream.touch([(entry.entry_id, entry.deliveries)], idle_ms=0)

        return EntryLease(
            entry,
            verify=verify,
            lease_seconds=vis * LEASE_SHARE,
            verify_seconds=vis,
            renewed_at=sent_at,
        )

    def _start(
        self,
        entries: list[Entry],
        sent_at: float,
        handler: Handler,
        capacity: Capacity,
        jobs: Tasks,
    ) -> None:
        """Queue each claimed entry in its thread's line; start the line if it is new."""
        for entry in entries:
            old = self._held.get(entry.entry_id)
            if old is not None:
                if old.entry.deliveries == entry.deliveries:
                    continue
                # Our own claim lapsed (Redis stalled) and we claimed the entry again: the
                # old run is fenced out; the new claim is a new run, behind it in its line.
                log.warning("entry %s claimed again here; its earlier run ends", entry.entry_id)
                self._lose(old)
            job = entry.job
            key = self.keys.order(job.thread_key) if job else f"entry:{entry.entry_id}"
            line = self._lines.get(key)
            fresh = line is None
            if line is None:
                line = self._lines[key] = _Line(key)
            held = _Held(entry, fence=self._lease(entry, sent_at), line=line)
            self._held[entry.entry_id] = held
            capacity.take(1)
            if fresh:
                line.task = jobs.spawn(self._run_line(line, held, handler, capacity), name=key)
            else:
                capacity.park()
                line.park(held)

    def _lose(self, held: _Held) -> None:
        """The run is fenced out (the heartbeat or a new claim says so): stop it here.
        Once: a second cancel would outlive the run and end its whole line."""
        if held.lost_seen:
            return
        held.lost_seen = True
        held.fence.lose()
        entry_id = held.entry.entry_id
        if self._held.get(entry_id) is held:
            del self._held[entry_id]
        if held.settling:
            return
        line = held.line
        if line.head is held and line.task is not None:
            log.warning("entry %s was taken over by another worker; cancelling its run", entry_id)
            line.task.cancel()
        elif line.unpark(held) and self._capacity is not None:
            log.warning("entry %s was taken over by another worker; dropping it here", entry_id)
            self._capacity.forget_parked()

    def _runs(self) -> Iterator[tuple[Job, float, asyncio.Task[None] | None]]:
        """The runs whose handler was called, for the watchdog."""
        for held in self._held.values():
            if held.started and held.entry.job is not None:
                yield held.entry.job, held.started_at, held.task

    # -- one thread's line ----------------------------------------------------------------
    async def _run_line(
        self, line: _Line, first: _Held, handler: Handler, capacity: Capacity
    ) -> None:
        """Runs `first` (busy), then the lowest parked run, until the line is empty."""
        held = first
        try:
            while True:
                if held.fence.lost:  # taken over while parked, just before it came up
                    capacity.give_back()
                else:
                    line.head, held.task = held, line.task
                    try:
                        await self._process(held, handler, capacity)
                    finally:
                        line.head, held.task = None, None
                if not line.parked or self._stopping.is_set():
                    break
                _seq, _id, held = heapq.heappop(line.parked)
                capacity.unpark()
        finally:
            if self._lines.get(line.key) is line:
                del self._lines[line.key]
            stopping = self._stopping.is_set()
            if line.parked and not stopping:
                log.error("line %s ended with %d job(s) parked", line.key, len(line.parked))
            for _seq, _id, parked in line.parked:
                capacity.forget_parked()
                if not stopping:  # not renewed any more: others take them over
                    self._forget(parked)
            line.parked.clear()  # on a stop, _hand_back hands them back

    # -- one job ------------------------------------------------------------------------
    async def _process(self, held: _Held, handler: Handler, capacity: Capacity) -> None:
        """One run; busy on the way in, and gives its capacity back on the way out, unless
        it was parked again (an earlier job of its thread arrived)."""
        entry, job = held.entry, held.entry.job
        parked_again = False
        try:
            with fenced(held.fence):
                if job is None:
                    await self._dead(held, reason="unreadable entry")
                    return
                if entry.deliveries > self.config.max_deliveries:
                    await self._dead(held, reason=f"delivered {entry.deliveries} times")
                    return
                with self.posted.held(job):
                    parked_again = await self._run_job(held, handler, capacity, job)
        except FenceLost:
            self._dropped(held)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if held.fence.lost and task is not None and task.uncancel() == 0:
                self._dropped(held)  # cancelled by _lose: this run is over, the line goes on
                return
            raise
        except Exception:
            # A bug of ours, not the handler's: stop renewing the claim so that the entry
            # is retried (after the visibility timeout) instead of held forever.
            log.exception("worker error on entry %s; it will be retried", entry.entry_id)
            self._forget(held)
        finally:
            if not parked_again:
                capacity.give_back()

    async def _run_job(self, held: _Held, handler: Handler, capacity: Capacity, job: Job) -> bool:
        """Wait for the job's turn, run it, settle it; True when it was parked again."""
        entry, line, cfg = held.entry, held.line, self.config
        posted = await self._persist(lambda: self.posted.get(job))
        if posted is not None and posted.done:
            log.info("%s was done before; acknowledging it", job.describe())
            await self._settle(held, self._stream.finish)
            return False
        if job.seq > 1:
            async with capacity.waiting():
                in_turn = await self._turns.wait(
                    job, wake=line.wake, preempted=lambda: line.earlier_parked(job.seq)
                )
            if not in_turn:
                capacity.park()
                line.park(held)
                return True
        loop = asyncio.get_running_loop()
        async with capacity.slot():
            held.started, held.started_at = True, loop.time()
            outcome = await call_handler(
                handler,
                job,
                fence=held.fence,
                deadline=held.started_at + cfg.job_deadline,
                grace=cfg.deadline_grace,
            )
        if outcome is Outcome.LOST:
            raise FenceLost(job.describe())
        if outcome is Outcome.DONE:
            await self._persist(lambda: self.posted.finish(job))
            await self._settle(held, self._stream.finish)
        elif outcome is Outcome.OVERDUE and entry.deliveries < cfg.max_deliveries:
            await self._settle(held, self._stream.finish)
        elif outcome is Outcome.OVERDUE:
            await self._dead(held, reason=f"past its deadline {entry.deliveries} times")
        elif outcome is Outcome.REJECTED:
            await self._dead(held, reason="rejected by its handler")
        elif entry.deliveries >= cfg.max_deliveries:
            await self._dead(held, reason=f"failed {entry.deliveries} times")
        else:
            await self._retry_later(held)
        return False

    async def _dead(self, held: _Held, *, reason: str) -> None:
        entry = held.entry
        what = entry.job.describe() if entry.job else f"entry {entry.entry_id}"
        log.error("dead letter: %s (%s) -> %s", what, reason, self.keys.dead)

        async def move(e: Entry) -> bool:
            return await self._stream.dead(e, reason=reason)

        await self._settle(held, move)

    async def _settle(self, held: _Held, op: Callable[[Entry], Awaitable[bool]]) -> None:
        """Acknowledge (or dead-letter) the entry, retrying through an outage; FenceLost
        when the run was fenced out (nothing changed)."""
        held.settling = True
        try:
            done = await self._persist(lambda: op(held.entry))
        except RedisError as exc:
            if not is_nogroup(exc):
                raise
            log.warning("entry %s vanished: redis restarted without its data", held.entry.entry_id)
            done = True
        self._forget(held)
        if not done:
            held.fence.lose()
            raise FenceLost(f"entry {held.entry.entry_id}")

    def _dropped(self, held: _Held) -> None:
        what = held.entry.job.describe() if held.entry.job else f"entry {held.entry.entry_id}"
        log.warning("%s: this run lost its job to another worker; dropped here", what)
        self._forget(held)

    def _forget(self, held: _Held) -> None:
        if self._held.get(held.entry.entry_id) is held:
            del self._held[held.entry.entry_id]

    async def _retry_later(self, held: _Held) -> None:
        """Hand the entry back so that it is taken over after `retry_delay`, not after the
        whole visibility timeout; the delivery count (kept by Redis) bounds the retries."""
        self._forget(held)
        vis, delay = self.config.visibility_timeout, self.config.retry_delay
        idle_ms = int(max(0.0, vis - delay) * 1000)
        try:
            run = (held.entry.entry_id, held.entry.deliveries)
            await self._stream.touch([run], idle_ms=idle_ms)
        except REDIS_ERRORS as exc:
            reraise_cancellation()
            # Not held any more, so not renewed: it is taken over after the timeout.
            log.warning("could not hand back %s: %s", held.entry.entry_id, type(exc).__name__)

    async def _persist(self, op: Callable[[], Awaitable[T]]) -> T:
        """`op()`, retried with backoff while Redis is down; NOGROUP is raised at once."""
        while True:
            try:
                result = await op()
            except (*REDIS_ERRORS, StoreError) as exc:
                if is_nogroup(exc):
                    raise
                await self._outage.pause(exc)
                continue
            self._outage.ok()
            return result

    async def _recover(self, exc: BaseException, outage: Outage) -> None:
        if is_nogroup(exc):
            log.warning("consumer group missing on %s (redis restarted empty?)", self.keys.stream)
            try:
                await self._stream.ensure_group()
                return
            except REDIS_ERRORS as again:
                exc = again
        await outage.pause(exc)

    # -- stopping -----------------------------------------------------------------------
    async def _drain(self, jobs: Tasks) -> None:
        """Cancel what has not started; give running handlers the grace, then cancel."""
        running = []
        for line in list(self._lines.values()):
            if line.task is None:
                continue
            if line.head is not None and line.head.started:
                running.append(line.task)  # a stop ends the line after this run
            else:
                line.task.cancel()
        if running:
            log.info("waiting up to %.1fs for %d answer(s) in flight", self._grace, len(running))
            _done, late = await asyncio.wait(running, timeout=max(self._grace, 0.0))
            if late:
                log.warning(
                    "%d answer(s) cut short by the shutdown; left for the next worker", len(late)
                )
        await jobs.cancel_all()

    async def _hand_back(self) -> None:
        """Make what this worker still holds available to other workers right away."""
        held, self._held = list(self._held.values()), {}
        if not held:
            return
        idle_ms = int(self.config.visibility_timeout * 1000)
        try:
            async with asyncio.timeout(2.0):
                runs = [(h.entry.entry_id, h.entry.deliveries) for h in held]
                await self._stream.touch(runs, idle_ms=idle_ms)
            log.info("handed back %d unfinished job(s)", len(held))
        except (*REDIS_ERRORS, TimeoutError) as exc:
            log.warning(
                "could not hand back %d job(s) (%s); others take them after the visibility timeout",
                len(held),
                type(exc).__name__,
            )
