"""The posted log is read once per job run: the worker's check and the handler's re-run
check share that read, and a new run of the job reads the store afresh."""

from __future__ import annotations

from bot.store import RedisStore
from bot.store.base import Store
from bot.work import Job, PostedLog, RedisWorkQueue
from tests.work.helpers import FAST, eventually, job, running


class CountingStore:
    """The real store, counting the posted-log reads it serves."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.reads = 0

    def __getattr__(self, name: str) -> object:
        return getattr(self._store, name)

    async def get_value(self, tenant: object, name: str) -> str | None:
        if name.startswith("posted:"):
            self.reads += 1
        return await self._store.get_value(tenant, name)  # type: ignore[arg-type]


async def test_one_store_read_per_job_run(redis_store: RedisStore) -> None:
    queue = RedisWorkQueue(redis_store, name="reads", config=FAST)
    counting = CountingStore(redis_store)
    queue.posted = PostedLog(counting)  # type: ignore[arg-type]
    seen: list[str] = []

    async def handle(work: Job) -> None:
        before = await queue.posted.get(work)  # what an adapter does to detect a re-run
        assert before is None
        await queue.posted.record(work, {"ts": "1.0"})
        again = await queue.posted.get(work)
        assert again is not None and again.info == {"ts": "1.0"}
        seen.append(work.id)

    for n in range(5):
        await queue.submit(job(n))
    async with running(queue, handle):

        async def all_done() -> bool:
            return len(seen) == 5

        await eventually(all_done)
    assert counting.reads == 5  # one per job, not three (worker, handler, finish)
    fresh = PostedLog(redis_store)
    for n in range(5):
        record = await fresh.get(job(n))
        assert record is not None and record.done and record.info == {"ts": "1.0"}
