"""What was posted for a job, so that running a job again never posts its answer twice.

A worker can die between posting an answer and acknowledging the job; the job is then
run again elsewhere. An adapter records what it posted (`record(job, {"ts": ...})`) as it
goes; on a re-run it reads the record (`get(job)`) and updates the message it already
posted (or skips) instead of posting a second one. The worker marks a job `done` after
its handler returns; a job found done is acknowledged without running the handler again.

Records live in the store under the job's tenant, with a TTL longer than any job stays
in the queue.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field

from bot.store.base import Store
from bot.work.job import Job

log = logging.getLogger(__name__)

DEFAULT_TTL_SECONDS = 7 * 24 * 3600


@dataclass(frozen=True, slots=True)
class Posted:
    """The adapter's own notes (message ids, ...) and whether the job finished."""

    info: dict[str, str] = field(default_factory=dict)
    done: bool = False


class PostedLog:
    """`Posted` records per job id, on any `Store`."""

    def __init__(self, store: Store, *, ttl_seconds: int = DEFAULT_TTL_SECONDS) -> None:
        self._store = store
        self._ttl = ttl_seconds

    async def get(self, job: Job) -> Posted | None:
        """The record for `job`, or None when nothing was posted yet. Raises StoreError."""
        raw = await self._store.get_value(job.tenant, _name(job))
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
        """Replace the adapter's notes for `job` (not yet done). Raises StoreError."""
        await self._put(job, Posted(info=dict(info), done=False))

    async def finish(self, job: Job) -> None:
        """Mark `job` done, keeping the adapter's notes. Raises StoreError."""
        current = await self.get(job)
        await self._put(job, Posted(info=current.info if current else {}, done=True))

    async def _put(self, job: Job, posted: Posted) -> None:
        value = json.dumps({"info": posted.info, "done": posted.done})
        await self._store.put_value(job.tenant, _name(job), value, ttl_seconds=self._ttl)


def _name(job: Job) -> str:
    return f"posted:{job.id}"
