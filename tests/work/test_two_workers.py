"""Two worker processes on one Redis share 200 questions over 20 threads: each thread's
questions are answered in order, one at a time, and none twice."""

from __future__ import annotations

import collections
import signal
from pathlib import Path

from bot.store import RedisStore
from bot.work import RedisWorkQueue
from bot.work.redis_keys import GROUP
from tests.work.chat import FakeChat
from tests.work.helpers import FAST, eventually, job
from tests.work.test_kill import start_worker

THREADS, PER_THREAD = 20, 10


async def test_two_processes_keep_each_threads_order_and_never_answer_twice(
    redis_url: str, redis_store: RedisStore, tmp_path: Path
) -> None:
    queue = RedisWorkQueue(redis_store, config=FAST)
    chat = FakeChat(redis_store.client, redis_store.prefix)
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    workers = [
        start_worker(redis_url, redis_store.prefix, delay=0.01, log=log, tag=tag)
        for log, tag in zip(logs, ("a", "b"), strict=True)
    ]
    try:

        async def both_listening() -> bool:
            for worker, log in zip(workers, logs, strict=True):
                assert worker.poll() is None, log.read_text()
            try:
                consumers = await redis_store.client.xinfo_consumers(queue.keys.stream, GROUP)
            except Exception:  # the group does not exist before the first worker made it
                return False
            return len(consumers) == 2

        await eventually(both_listening, within=20)
        # Round robin over the threads, as a busy workspace would send them.
        jobs = [job(n, thread=f"t{n % THREADS}") for n in range(THREADS * PER_THREAD)]
        for j in jobs:
            await queue.submit(j)

        async def all_answered() -> bool:
            return int(await chat.client.llen(chat.answers)) >= len(jobs)

        await eventually(all_answered, within=40)
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            worker.wait(timeout=15)

    answers = [str(a).split("|") for a in await chat.client.lrange(chat.answers, 0, -1)]
    assert sorted(job_id for job_id, _message, _tag in answers) == sorted(j.id for j in jobs)
    by_worker = collections.Counter(tag for _job, _message, tag in answers)
    assert set(by_worker) == {"a", "b"}, by_worker  # both processes did work
    for t in range(THREADS):
        ns = [str(n) for n in range(t, THREADS * PER_THREAD, THREADS)]
        assert await chat.client.lrange(chat.thread_log(f"t{t}"), 0, -1) == ns
        # One at a time: each answer ended before the next one in the thread started.
        expected = [f"{what} {n}" for n in ns for what in ("start", "end")]
        assert await chat.client.lrange(chat.thread_events(f"t{t}"), 0, -1) == expected
    assert all(w.returncode == 0 for w in workers)  # SIGTERM: a clean, graceful stop
