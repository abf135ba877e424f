"""A worker, or the queue's Redis, stalls past the visibility timeout in the middle of
answers (SIGSTOP), and comes back (SIGCONT): every question is answered exactly once, and
every thread's answers keep their order. Real worker processes, real redis-servers."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

from redis.asyncio import Redis

from bot.store import RedisStore
from bot.work import Job, RedisWorkQueue
from bot.work.redis_keys import GROUP
from tests.fixtures.redis import start_redis_server
from tests.work.chat import FakeChat
from tests.work.helpers import FAST, eventually, job
from tests.work.test_kill import start_worker

VISIBILITY = 2.0
THREADS, PER_THREAD = 6, 4
DELAY = 0.5  # the agent's thinking time per answer


def questions() -> list[Job]:
    """PER_THREAD questions in each of THREADS threads, submitted thread after thread."""
    return [job(t * 100 + n, thread=f"t{t}") for n in range(PER_THREAD) for t in range(THREADS)]


@contextlib.contextmanager
def stopped(process: subprocess.Popen[bytes]) -> Iterator[None]:
    """SIGSTOP `process` for the block; SIGCONT after it, whatever happens."""
    process.send_signal(signal.SIGSTOP)
    try:
        yield
    finally:
        process.send_signal(signal.SIGCONT)


async def answered(chat: FakeChat) -> list[tuple[str, str]]:
    """(job id, worker tag) of every answer posted, in order."""
    raw = await chat.client.lrange(chat.answers, 0, -1)
    return [(str(a).split("|")[0], str(a).split("|")[2]) for a in raw]


async def assert_each_once_in_order(chat: FakeChat, jobs: list[Job]) -> collections.Counter[str]:
    answers = await answered(chat)
    assert sorted(j for j, _tag in answers) == sorted(j.id for j in jobs)  # each exactly once
    for t in range(THREADS):
        expected = [str(t * 100 + n) for n in range(PER_THREAD)]
        assert await chat.client.lrange(chat.thread_log(f"t{t}"), 0, -1) == expected
    return collections.Counter(tag for _j, tag in answers)


async def second_answers_under_way(chat: FakeChat) -> bool:
    """Every thread's first answer is out and its second one started: the stall comes
    while the agent is thinking, not while an answer is being recorded. (Between an
    answer shown and its record written no fence can help; adapters edit their one
    placeholder message, so a re-run there shows nothing new.)"""
    started = int(await chat.client.get(chat.started) or 0)
    return started >= 2 * THREADS and len(await answered(chat)) >= THREADS


async def held_by(client: Redis, stream: str, consumer: str) -> int:
    """How many entries `consumer` holds (0 once it was deleted, or holds nothing)."""
    consumers = await client.xinfo_consumers(stream, GROUP)
    return sum(int(c["pending"]) for c in consumers if str(c["name"]) == consumer)


def stop(*workers: subprocess.Popen[bytes]) -> None:
    for worker in workers:
        if worker.poll() is None:
            worker.send_signal(signal.SIGCONT)
            worker.terminate()
    for worker in workers:
        try:
            worker.wait(timeout=15)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


async def test_a_worker_stalled_past_the_visibility_timeout_answers_nothing_twice(
    redis_url: str, redis_store: RedisStore, tmp_path: Path
) -> None:
    queue = RedisWorkQueue(redis_store, config=FAST)
    chat = FakeChat(redis_store.client, redis_store.prefix)
    jobs = questions()
    for j in jobs:
        await queue.submit(j)
    prefix = redis_store.prefix
    log_a, log_b = tmp_path / "a.log", tmp_path / "b.log"
    a = start_worker(redis_url, prefix, delay=DELAY, log=log_a, tag="a", visibility=VISIBILITY)
    b: subprocess.Popen[bytes] | None = None
    try:

        async def mid_answers() -> bool:
            assert a.poll() is None, log_a.read_text()
            return await second_answers_under_way(chat)

        await eventually(mid_answers, within=20)
        consumers = await redis_store.client.xinfo_consumers(queue.keys.stream, GROUP)
        [consumer_a] = [str(c["name"]) for c in consumers]
        with stopped(a):
            answers_before = len(await answered(chat))
            b = start_worker(
                redis_url, prefix, delay=DELAY, log=log_b, tag="b", visibility=VISIBILITY
            )

            async def all_taken_over() -> bool:
                assert b is not None and b.poll() is None, log_b.read_text()
                return await held_by(redis_store.client, queue.keys.stream, consumer_a) == 0

            await eventually(all_taken_over, within=20)  # a stays stopped until then

        async def all_answered() -> bool:
            return len(await answered(chat)) >= len(jobs)

        await eventually(all_answered, within=30)

        async def settled() -> bool:
            stats = await queue.stats()
            return stats.pending == 0 and stats.waiting == 0

        await eventually(settled, within=10)
    finally:
        stop(a, *([b] if b else []))
    by = await assert_each_once_in_order(chat, jobs)
    assert answers_before < len(jobs) and by["b"] > 0  # the stall hit mid-answers
    assert "lost its job" in log_a.read_text() or "taken over" in log_a.read_text()
    assert (await queue.stats()).dead == 0
    assert "ERROR" not in log_a.read_text() + log_b.read_text()
    text = log_a.read_text()
    cancelled, dropped = text.count("cancelling its run"), text.count("dropping it here")
    print(
        f"worker stall: {len(jobs)} questions, {sum(by.values())} answers {dict(by)}; "
        f"stalled worker: {cancelled} runs cancelled mid-answer, {dropped} parked dropped"
    )


async def test_the_queues_redis_stalled_past_the_visibility_timeout_answers_nothing_twice(
    redis_url: str, redis_store: RedisStore, tmp_path: Path
) -> None:
    """Two workers; the queue's own Redis (a throwaway one: never the shared one) is
    SIGSTOPped for longer than the visibility timeout while answers are under way; the
    chat platform (on the shared Redis) keeps answering, as Slack would."""
    chat = FakeChat(redis_store.client, redis_store.prefix)
    jobs = questions()
    with start_redis_server() as (queue_url, server):
        queue_store = RedisStore.from_url(queue_url, prefix=redis_store.prefix)
        queue = RedisWorkQueue(queue_store, config=FAST)
        workers: list[subprocess.Popen[bytes]] = []
        try:
            for j in jobs:
                await queue.submit(j)
            for tag in ("a", "b"):
                workers.append(
                    start_worker(
                        queue_url,
                        redis_store.prefix,
                        delay=DELAY,
                        log=tmp_path / f"{tag}.log",
                        tag=tag,
                        visibility=VISIBILITY,
                        chat_url=redis_url,
                    )
                )

            async def mid_answers() -> bool:
                for w in workers:
                    assert w.poll() is None
                return await second_answers_under_way(chat)

            await eventually(mid_answers, within=20)
            with stopped(server):
                answers_before = len(await answered(chat))
                await asyncio.sleep(VISIBILITY * 1.5)  # the fault itself: Redis is away

            async def all_answered() -> bool:
                return len(await answered(chat)) >= len(jobs)

            await eventually(all_answered, within=30)

            async def settled() -> bool:
                stats = await queue.stats()
                return stats.pending == 0 and stats.waiting == 0

            await eventually(settled, within=10)
            dead = (await queue.stats()).dead
            # The workers saw the stall, and took nothing over for it.
            assert await queue_store.client.hget(queue.keys.pulse, "quiet") is not None
        finally:
            stop(*workers)
            await queue_store.aclose()
    by = await assert_each_once_in_order(chat, jobs)
    assert answers_before < len(jobs)  # the stall hit mid-answers
    assert dead == 0
    for tag in ("a", "b"):
        assert "ERROR" not in (tmp_path / f"{tag}.log").read_text()
    logs = "".join((tmp_path / f"{tag}.log").read_text() for tag in ("a", "b"))
    print(
        f"redis stall: {len(jobs)} questions, {sum(by.values())} answers {dict(by)}; "
        f"take-overs: {logs.count('took over')}"
    )
