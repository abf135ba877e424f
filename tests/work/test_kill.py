"""kill -9 a worker process with 50 answers in flight: another worker answers all of
them, each exactly once, and keeps each thread's order."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from bot.store import RedisStore
from bot.work import RedisWorkQueue
from tests.work.chat import FakeChat, answering
from tests.work.helpers import FAST, eventually, job, running

ROOT = Path(__file__).resolve().parents[2]


def start_worker(
    url: str,
    prefix: str,
    *,
    delay: float,
    log: Path,
    tag: str = "",
    visibility: float | None = None,
    chat_url: str = "",
) -> subprocess.Popen[bytes]:
    """`tests.work.worker_proc` in a process of its own, its output in `log`."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    args = [url, prefix, f"--delay={delay}", f"--tag={tag}", f"--chat-url={chat_url}"]
    if visibility is not None:
        args.append(f"--visibility={visibility}")
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "tests.work.worker_proc", *args],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


async def test_a_killed_workers_answers_are_finished_by_another_exactly_once(
    redis_url: str, redis_store: RedisStore, tmp_path: Path
) -> None:
    queue = RedisWorkQueue(redis_store, config=FAST)
    chat = FakeChat(redis_store.client, redis_store.prefix)
    # 50 threads with one question each, and a second question in ten of them: those wait
    # for the first (not in flight) and must still come second after the take-over.
    jobs = [job(n, thread=f"t{n}") for n in range(50)]
    jobs += [job(100 + n, thread=f"t{n}") for n in range(10)]
    for j in jobs:
        await queue.submit(j)

    worker = start_worker(redis_url, redis_store.prefix, delay=60, log=tmp_path / "w1.log")
    try:

        async def fifty_in_flight() -> bool:
            # fifty answers under way, and all sixty jobs held (the worker reads one job
            # at a time, so the last ones may be read just after the fiftieth started)
            assert worker.poll() is None, (tmp_path / "w1.log").read_text()
            started = int(await chat.client.get(chat.started) or 0) >= 50
            return started and (await queue.stats()).pending == 60

        await eventually(fifty_in_flight, within=20)
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
    assert await chat.client.llen(chat.answers) == 0  # nobody got an answer yet
    assert (await queue.stats()).pending == 60  # all held by the dead worker

    handler = answering(chat, queue.posted, delay=0)
    async with running(queue, handler, concurrency=64):

        async def all_answered() -> bool:
            return int(await chat.client.llen(chat.answers)) >= 60

        await eventually(all_answered, within=20)

        async def settled() -> bool:
            stats = await queue.stats()
            return stats.pending == 0 and stats.waiting == 0

        await eventually(settled)

    answers = await chat.client.lrange(chat.answers, 0, -1)
    answered_jobs = [str(a).split("|")[0] for a in answers]
    assert sorted(answered_jobs) == sorted(j.id for j in jobs)  # each exactly once
    messages = await chat.client.hgetall(chat.messages)
    assert sorted(messages.values()) == sorted(j.id for j in jobs)  # one message per question
    for n in range(10):
        assert await chat.client.lrange(chat.thread_log(f"t{n}"), 0, -1) == [str(n), str(100 + n)]
    assert (await queue.stats()).dead == 0
