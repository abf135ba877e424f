"""What was posted for a job, so that running a job again never posts its answer twice.

A worker can die between posting an answer and acknowledging the job; the job is then
run again elsewhere. An adapter records what it posted (`record(job, {"ts": ...})`) as it
goes; on a re-run it reads the record (`get(job)`) and updates the message it already
posted (or skips) instead of posting a second one. The worker marks a job `done` after
its handler returns; a job found done is acknowledged without running the handler again.

Records live with a TTL longer than any job stays in the queue: in the store under the
job's tenant for the in-process queue; beside the stream for the Redis queue
(bot.work.redis_posted), where each write checks the run's fence in the same step.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field

from bot.store.base import Store
from bot.work.fence import current_fence
from bot.work.job import Job

log = logging.getLogger(__name__)

DEFAULT_TTL_SECONDS = 7 * 24 * 3600


@dataclass(frozen=True, slots=True)
class _Cached:
    """A record read (or written) by the run that holds the job, under fence `epoch`."""

    posted: Posted | None
    epoch: int


@dataclass(frozen=True, slots=True)
class Posted:
    """The adapter's own notes (message ids, ...) and whether the job finished."""

    info: dict[str, str] = field(default_factory=dict)
    done: bool = False


class PostedLog:
    """`Posted` records per job id, on any `Store`.

    Inside a job run (bot.work.fence) every read and write first checks the run's fence,
    so a run that lost its job reads nothing stale and writes nothing: FenceLost instead.
    """

    def __init__(self, store: Store | None, *, ttl_seconds: int = DEFAULT_TTL_SECONDS) -> None:
        self._store = store
        self._ttl = ttl_seconds
        # Records of the jobs this process holds right now (see `held`); None: not read.
        self._held: dict[str, _Cached | None] = {}

    @contextlib.contextmanager
    def held(self, job: Job) -> Iterator[None]:
        """While the worker holds `job`, it alone writes its record: after the first read,
        reads come from memory (the worker and the handler both read it; that was a second
        store round trip per answer). The memory is trusted only under the fence epoch it
        was read in: once the run's lease lapsed and was verified again, it is read again.
        Dropped when the job is let go."""
        if job.id in self._held:
            yield
            return
        self._held[job.id] = None
        try:
            yield
        finally:
            self._held.pop(job.id, None)

    async def get(self, job: Job) -> Posted | None:
        """The record for `job`, or None when nothing was posted yet. Raises StoreError,
        and FenceLost inside a run that lost its job."""
        epoch = await _checked_epoch()
        known = self._held.get(job.id)
        if known is not None and known.epoch == epoch:
            return known.posted
        posted = self._parse(job, await self._load(job))
        if job.id in self._held:
            self._held[job.id] = _Cached(posted, epoch)
        return posted

    def _parse(self, job: Job, raw: str | None) -> Posted | None:
        if raw is None:
            return None
        try:
            data = json.loads(raw)
            info = {str(k): str(v) for k, v in dict(data["info"]).items()}
            return Posted(info=info, done=bool(data["done"]))
        except (ValueError, KeyError, TypeError):
            # Unreadable: treat as nothing posted. A re-run may post again, which beats
            # never answering.
            log.warning("unreadable posted record for %s; ignoring it", job.describe())
            return None

    async def record(self, job: Job, info: dict[str, str]) -> None:
        """Replace the adapter's notes for `job` (not yet done). Raises StoreError, and
        FenceLost inside a run that lost its job (nothing written)."""
        await self._put(job, Posted(info=dict(info), done=False))

    async def finish(self, job: Job) -> None:
        """Mark `job` done, keeping the adapter's notes. Raises StoreError and FenceLost."""
        current = await self.get(job)
        await self._put(job, Posted(info=current.info if current else {}, done=True))

    async def _put(self, job: Job, posted: Posted) -> None:
        epoch = await _checked_epoch()
        value = json.dumps({"info": posted.info, "done": posted.done})
        await self._save(job, value)
        if job.id in self._held:
            self._held[job.id] = _Cached(posted, epoch)

    # -- storage: the store's values here; the Redis queue keeps them beside its stream --
    async def _load(self, job: Job) -> str | None:
        assert self._store is not None
        return await self._store.get_value(job.tenant, _name(job))

    async def _save(self, job: Job, value: str) -> None:
        assert self._store is not None
        await self._store.put_value(job.tenant, _name(job), value, ttl_seconds=self._ttl)


async def _checked_epoch() -> int:
    """Check the current run's fence (FenceLost when lost); the epoch it is valid in."""
    fence = current_fence()
    if fence is None:
        return 0
    await fence.check()
    return int(getattr(fence, "epoch", 0))


def _name(job: Job) -> str:
    return f"posted:{job.id}"
