"""The posted log of the Redis queue: records beside the stream, written under the run's fence.

Each record lives under the queue's hash tag (`...:posted:<job id>`; the job id names its
workspace), so one script can check in XPENDING that the run still owns its entry and
write the record in the same atomic step: a run that lost its job never overwrites what
the new owner wrote (bot.work.redis_keys.POSTED).
"""

from __future__ import annotations

from redis.exceptions import RedisError

from bot.store.base import StoreError
from bot.work.fence import FenceLost, current_fence
from bot.work.job import Job
from bot.work.posted import DEFAULT_TTL_SECONDS, PostedLog
from bot.work.redis_stream import EntryLease, Stream


class RedisPostedLog(PostedLog):
    """`PostedLog` on the queue's own keys; writes inside a job run are fenced."""

    def __init__(self, stream: Stream, *, ttl_seconds: int = DEFAULT_TTL_SECONDS) -> None:
        super().__init__(None, ttl_seconds=ttl_seconds)
        self._stream = stream

    async def _load(self, job: Job) -> str | None:
        try:
            return await self._stream.get_posted(job.id)
        except (RedisError, OSError) as exc:
            raise StoreError(f"posted log unavailable: {type(exc).__name__}") from exc

    async def _save(self, job: Job, value: str) -> None:
        fence = current_fence()
        run = fence.entry if isinstance(fence, EntryLease) else None
        try:
            written = await self._stream.put_posted(job.id, value, ttl_seconds=self._ttl, run=run)
        except (RedisError, OSError) as exc:
            raise StoreError(f"posted log unavailable: {type(exc).__name__}") from exc
        if not written:
            if isinstance(fence, EntryLease):
                fence.lose()
            raise FenceLost(f"{job.describe()}: taken over; its posted record is not ours")
