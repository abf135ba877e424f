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
- One thread, in order. Each job carries its thread's sequence number; a worker starts
  job n only after n-1 is done (or dead), waiting without holding a slot, for at most
  `order_timeout` (then it runs anyway, logged).
- The stream does not grow without bound. Entries every worker is done with are trimmed
  (XTRIM MINID ~ the oldest pending one); unread or unacknowledged entries never are.
  A fixed MAXLEN would silently drop accepted work when workers fall behind; instead
  `submit` refuses beyond `max_backlog` entries, so the user is told.

Cluster: every key of a queue shares one hash tag, see bot.work.redis_keys.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from redis.exceptions import RedisError

from bot.store.base import StoreError
from bot.store.redis import RedisStore
from bot.work.job import Handler, Job
from bot.work.posted import PostedLog
from bot.work.queue import QueueStats, QueueUnavailable, WorkConfig
from bot.work.redis_keys import QueueKeys
from bot.work.redis_stream import BacklogFull, Entry, Stream, is_nogroup
from bot.work.turns import Turns
from bot.work.worker import (
    Capacity,
    Outage,
    Outcome,
    Tasks,
    call_handler,
    reraise_cancellation,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

REDIS_ERRORS = (RedisError, OSError)
HOUSEKEEPING_SECONDS = 30.0
FORGET_CONSUMERS_AFTER_MS = 3600 * 1000


def consumer_name() -> str:
    """Unique per process, readable in XINFO: host, pid and a random part (pids repeat)."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


@dataclass(slots=True)
class _Held:
    """A stream entry this process holds, and the task working on it."""

    entry: Entry
    task: asyncio.Task[None] | None = None
    started: bool = False  # the handler was called (a stop lets it finish, up to the grace)


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
        self.posted = PostedLog(store)
        self.consumer = consumer or consumer_name()
        self.keys = QueueKeys.of(store.prefix, name)
        self._stream = Stream(store.client, self.keys, consumer=self.consumer, config=self.config)
        self._held: dict[str, _Held] = {}
        self._turns = Turns(self._stream, timeout_seconds=self.config.order_timeout)
        self._capacity: Capacity | None = None
        self._outage = Outage(f"worker {self.consumer}", max_backoff=self.config.max_backoff)
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
        return QueueStats(waiting=waiting, pending=pending, in_flight=running, dead=dead)

    async def trim(self, *, approximate: bool = True) -> None:
        """Drop the entries every worker is done with (workers do this every 30 s)."""
        await self._stream.trim(approximate=approximate)

    # -- running ------------------------------------------------------------------------
    async def run(self, handler: Handler, *, concurrency: int) -> None:
        if self._running:
            raise RuntimeError("this queue is already running")
        self._running = True
        self._stopped.clear()
        capacity = Capacity(concurrency, max_waiting=concurrency * 4)
        self._capacity = capacity
        jobs, loops, heartbeat = Tasks(), Tasks(), Tasks()
        log.info("worker %s takes jobs from %s", self.consumer, self.keys.stream)
        try:
            loops.spawn(self._read_loop(handler, capacity, jobs), name="work-read")
            loops.spawn(self._reclaim_loop(handler, capacity, jobs), name="work-reclaim")
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
        while not self._stopping.is_set():
            count = await capacity.room()
            try:
                entries = await self._stream.read(count, block_ms=block_ms)
            except REDIS_ERRORS as exc:
                await self._recover(exc, outage)
                continue
            outage.ok()
            self._start(entries, handler, capacity, jobs)

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
                    free = capacity.free()
                    if not free:
                        break
                    entries, wrapped = await self._stream.reclaim(free, min_idle_ms=min_idle_ms)
                    if entries:
                        log.info("took over %d job(s) from stopped or slow workers", len(entries))
                    self._start(entries, handler, capacity, jobs)
                    if wrapped:
                        break
                if loop.time() >= housekeeping_at:
                    housekeeping_at = loop.time() + HOUSEKEEPING_SECONDS
                    await self._stream.trim()
                    await self._stream.forget_idle_consumers(idle_ms=FORGET_CONSUMERS_AFTER_MS)
                outage.ok()
            except REDIS_ERRORS as exc:
                await self._recover(exc, outage)
                continue
            await asyncio.sleep(self.config.reclaim_interval)

    async def _heartbeat_loop(self) -> None:
        """Renews this worker's claim on every job it holds, so none is taken over while
        it waits for its turn or its (slow) answer."""
        while True:
            await asyncio.sleep(self.config.visibility_timeout / 3)
            held = list(self._held)
            if not held:
                continue
            try:
                lost = await self._stream.touch(held, idle_ms=0)
            except REDIS_ERRORS as exc:
                reraise_cancellation()
                # No pause: the next beat comes soon anyway; the outage was logged elsewhere.
                log.debug("could not renew claims: %s", type(exc).__name__)
                continue
            for entry_id in lost:
                self._lose(entry_id)

    def _start(self, entries: list[Entry], handler: Handler, cap: Capacity, jobs: Tasks) -> None:
        for entry in entries:
            if entry.entry_id in self._held:
                continue  # our own, idle while Redis was away: it is being worked on
            cap.take(1)
            held = _Held(entry)
            self._held[entry.entry_id] = held
            held.task = jobs.spawn(self._process(held, handler, cap), name=f"job {entry.entry_id}")

    def _lose(self, entry_id: str) -> None:
        held = self._held.get(entry_id)
        if held is None:
            return
        if held.started:
            log.warning("entry %s was taken over while its handler runs", entry_id)
            return
        log.warning("entry %s was taken over by another worker; dropping it here", entry_id)
        del self._held[entry_id]
        if held.task is not None:
            held.task.cancel()

    # -- one job ------------------------------------------------------------------------
    async def _process(self, held: _Held, handler: Handler, capacity: Capacity) -> None:
        entry, job = held.entry, held.entry.job
        try:
            if job is None:
                await self._dead(held, reason="unreadable entry")
                return
            if entry.deliveries > self.config.max_deliveries:
                await self._dead(held, reason=f"delivered {entry.deliveries} times")
                return
            with self.posted.held(job):
                await self._run_job(held, handler, capacity, job)
        except Exception:
            # A bug of ours, not the handler's: stop renewing the claim so that the entry
            # is retried (after the visibility timeout) instead of held forever.
            log.exception("worker error on entry %s; it will be retried", entry.entry_id)
            self._held.pop(entry.entry_id, None)
        finally:
            capacity.give_back()

    async def _run_job(self, held: _Held, handler: Handler, capacity: Capacity, job: Job) -> None:
        entry = held.entry
        posted = await self._persist(lambda: self.posted.get(job))
        if posted is not None and posted.done:
            log.info("%s was done before; acknowledging it", job.describe())
            await self._settle(held, self._stream.finish)
            return
        if job.seq > 1:
            async with capacity.waiting():
                await self._turns.wait(job)
        async with capacity.slot():
            held.started = True
            outcome = await call_handler(handler, job)
        if outcome is Outcome.DONE:
            await self._persist(lambda: self.posted.finish(job))
            await self._settle(held, self._stream.finish)
        elif outcome is Outcome.REJECTED:
            await self._dead(held, reason="rejected by its handler")
        elif entry.deliveries >= self.config.max_deliveries:
            await self._dead(held, reason=f"failed {entry.deliveries} times")
        else:
            await self._retry_later(held)

    async def _dead(self, held: _Held, *, reason: str) -> None:
        entry = held.entry
        what = entry.job.describe() if entry.job else f"entry {entry.entry_id}"
        log.error("dead letter: %s (%s) -> %s", what, reason, self.keys.dead)

        async def move(e: Entry) -> None:
            await self._stream.dead(e, reason=reason)

        await self._settle(held, move)

    async def _settle(self, held: _Held, op: Callable[[Entry], Awaitable[None]]) -> None:
        """Acknowledge (or dead-letter) the entry, retrying through an outage."""
        try:
            await self._persist(lambda: op(held.entry))
        except RedisError as exc:
            if not is_nogroup(exc):
                raise
            log.warning("entry %s vanished: redis restarted without its data", held.entry.entry_id)
        self._held.pop(held.entry.entry_id, None)
        if held.entry.job is not None:
            self._turns.finished(held.entry.job)

    async def _retry_later(self, held: _Held) -> None:
        """Hand the entry back so that it is taken over after `retry_delay`, not after the
        whole visibility timeout; the delivery count (kept by Redis) bounds the retries."""
        self._held.pop(held.entry.entry_id, None)
        vis, delay = self.config.visibility_timeout, self.config.retry_delay
        idle_ms = int(max(0.0, vis - delay) * 1000)
        try:
            await self._stream.touch([held.entry.entry_id], idle_ms=idle_ms)
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
        for held in list(self._held.values()):
            if not held.started and held.task is not None:
                held.task.cancel()
        running = [h.task for h in self._held.values() if h.started and h.task is not None]
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
        held, self._held = list(self._held), {}
        if not held:
            return
        idle_ms = int(self.config.visibility_timeout * 1000)
        try:
            async with asyncio.timeout(2.0):
                await self._stream.touch(held, idle_ms=idle_ms)
            log.info("handed back %d unfinished job(s)", len(held))
        except (*REDIS_ERRORS, TimeoutError) as exc:
            log.warning(
                "could not hand back %d job(s) (%s); others take them after the visibility timeout",
                len(held),
                type(exc).__name__,
            )
