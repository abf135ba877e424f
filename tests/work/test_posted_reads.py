"""The posted log is read once per job run: the worker's check and the handler's re-run
check share that read, and a new run of the job reads the store afresh."""

from __future__ import annotations

from bot.store import RedisStore
from bot.work import Job, RedisWorkQueue
from bot.work.redis_posted import RedisPostedLog
from tests.work.helpers import FAST, eventually, job, running


class CountingLog(RedisPostedLog):
    """The queue's real posted log, counting the reads that reach Redis."""

    reads = 0

    async def _load(self, job: Job) -> str | None:
        self.reads += 1
        return await super()._load(job)


async def test_one_store_read_per_job_run(redis_store: RedisStore) -> None:
    queue = RedisWorkQueue(redis_store, name="reads", config=FAST)
    counting = CountingLog(queue._stream)
    queue.posted = counting
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
    fresh = RedisWorkQueue(redis_store, name="reads", config=FAST).posted
    for n in range(5):
        record = await fresh.get(job(n))
        assert record is not None and record.done and record.info == {"ts": "1.0"}
