"""Several Slack processes on one Redis: they share the work, keep each thread's order, and
a process killed (kill -9) or stopped (SIGTERM) in the middle of answers loses nothing and
answers nothing twice."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx

from adapters.slack.fleet import QUEUE_NAME, FleetOptions, work_config
from bot.devserver import DevServer
from bot.store import RedisStore
from bot.work import RedisWorkQueue
from tests.fixtures.slack import FakeSlack
from tests.slack.conftest import Harness, mention
from tests.slack.processes import BotProcess, bot_env, send_event


def finished(slack: FakeSlack, thread: str) -> list[dict[str, Any]]:
    """The answers a person sees in `thread`, oldest first (a stream still being written
    does not count)."""
    return [m for m in slack.messages(thread) if m["blocks"] and not m["streaming"]]


def questions_of(thread: int, count: int, *, root: str) -> list[tuple[str, dict[str, Any]]]:
    """`count` mentions: the first starts the thread at `root`, the others follow in it."""
    events = []
    for n in range(count):
        ts = root if n == 0 else f"{root[:-3]}{n:03d}"
        text = f"Thread {thread} question {n}"
        events.append((text, mention(text, ts=ts, thread_ts=None if n == 0 else root)))
    return events


def questions_asked(bot: Harness) -> float:
    value = bot.bot.metrics.registry.get_sample_value(
        "meibel_bot_questions_total", {"platform": "slack"}
    )
    return value or 0.0


async def test_two_processes_share_the_work_and_keep_each_threads_order(
    start_bot: Any, redis_url: str, redis_store: RedisStore
) -> None:
    other_store = RedisStore.from_url(redis_url, prefix=redis_store.prefix)
    try:
        fast = {"stream_interval": 0.05}
        bots: tuple[Harness, Harness] = (
            await start_bot(bot_options=fast),
            await start_bot(store=other_store, bot_options=fast),
        )
        roots = [f"17100000{14 + t:02d}.000000" for t in range(10)]
        threads = {root: questions_of(t, 4, root=root) for t, root in enumerate(roots)}

        async def ask_in_order(t: int, root: str) -> None:
            # a thread's questions one after another, each to either process
            for n, (_, event) in enumerate(threads[root]):
                assert (await bots[(t + n) % 2].event(event)).status_code == 200

        await asyncio.gather(*(ask_in_order(t, root) for t, root in enumerate(roots)))
        slack = bots[0].slack
        await slack.wait_until(
            lambda: all(len(finished(slack, root)) >= 4 for root in roots),
            what="40 answers",
            timeout=30,
        )
        await bots[0].settle()
        for root in roots:
            answers = finished(slack, root)
            assert len(answers) == 4, root  # each question answered once
            for (text, _), answer in zip(threads[root], answers, strict=True):
                assert text in str(answer["blocks"])  # in the order they were asked
        assert len(bots[0].meibel.chat_requests()) == 40
        assert questions_asked(bots[0]) > 0 and questions_asked(bots[1]) > 0
        assert questions_asked(bots[0]) + questions_asked(bots[1]) == 40
    finally:
        await other_store.aclose()


async def queue_settled(store: RedisStore) -> None:
    """Wait (bounded) until the Slack queue under `store`'s prefix holds nothing."""
    queue = RedisWorkQueue(store, name=QUEUE_NAME)
    async with asyncio.timeout(20):
        while True:
            stats = await queue.stats()
            if stats.waiting == 0 and stats.pending == 0:
                return
            await asyncio.sleep(0.05)


async def test_a_killed_process_loses_nothing_and_answers_nothing_twice(
    slack_api: FakeSlack,
    meibel_server: DevServer,
    redis_url: str,
    redis_store: RedisStore,
    tmp_path: Path,
) -> None:
    env = bot_env(slack=slack_api, meibel=meibel_server, redis_url=redis_url, home=tmp_path)
    prefix = redis_store.prefix
    # slow enough that every first answer is still being written when the process dies
    meibel_server.stream_chunk_delay_seconds = 0.3
    roots = [f"17100001{t:02d}.000000" for t in range(10)]
    threads = {root: questions_of(t, 2, root=root) for t, root in enumerate(roots)}
    first = await BotProcess.start(env=env, prefix=prefix, log=tmp_path / "first.log")
    second: BotProcess | None = None
    try:
        async with httpx.AsyncClient(base_url=first.url, timeout=10) as http:
            for n in range(2):
                for root in roots:
                    _, event = threads[root][n]
                    assert await send_event(http, event, event_id=f"Ev{root}{n}") == 200
        # every thread's first answer is on its way into Slack
        await slack_api.wait_for("chat.startStream", count=10, timeout=20)
        await first.kill()
        assert not any(finished(slack_api, root) for root in roots)  # nobody has an answer
        meibel_server.stream_chunk_delay_seconds = 0.0

        second = await BotProcess.start(env=env, prefix=prefix, log=tmp_path / "second.log")
        await slack_api.wait_until(
            lambda: all(len(finished(slack_api, root)) >= 2 for root in roots),
            what="20 answers",
            timeout=30,
        )
        await queue_settled(redis_store)
        for root in roots:
            messages = slack_api.messages(root)
            assert len(messages) == 2, (root, messages)  # one message per question
            assert not any(m["streaming"] for m in messages)
            for (text, _), message in zip(threads[root], messages, strict=True):
                assert text in str(message["blocks"]), second.output()
        # the streams the dead process had started became the answers
        started = {c.result["ts"] for c in slack_api.calls_to("chat.startStream")[:10]}
        assert started == {slack_api.messages(root)[0]["ts"] for root in roots}
        # and the agent ran each turn once: the second process asked the sessions what
        # became of the turns the dead one had sent, instead of sending them again
        asked = {text: meibel_server.received[text] for t in threads.values() for text, _ in t}
        assert set(asked.values()) == {1}, asked
        second.process.terminate()
        assert await second.exit_code() == 0
    finally:
        for bot in (first, second):
            if bot is not None:
                await bot.ensure_stopped()


async def test_sigterm_finishes_answers_in_flight_and_leaves_the_rest_queued(
    start_bot: Any,
    slack_api: FakeSlack,
    meibel_server: DevServer,
    redis_url: str,
    redis_store: RedisStore,
    tmp_path: Path,
) -> None:
    env = bot_env(slack=slack_api, meibel=meibel_server, redis_url=redis_url, home=tmp_path)
    meibel_server.hold_chats()
    bot = await BotProcess.start(env=env, prefix=redis_store.prefix, log=tmp_path / "bot.log")
    root_a, root_b = "1710000200.000000", "1710000201.000000"
    [(_, a1), (_, a2)] = questions_of(0, 2, root=root_a)
    [(_, b1)] = questions_of(1, 1, root=root_b)
    try:
        async with httpx.AsyncClient(base_url=bot.url, timeout=10) as http:
            for n, event in enumerate((a1, b1, a2)):
                assert await send_event(http, event, event_id=f"EvTerm{n}") == 200
            await asyncio.wait_for(meibel_server.wait_for_in_flight(2), 10)  # a1 and b1
            bot.process.terminate()
            await bot.wait_for_line("stopping: no new events")
            try:
                refused = await send_event(http, b1, event_id="EvLate")
            except httpx.TransportError:
                refused = 0
            assert refused != 200  # the door is closed
        meibel_server.release_chats()
        assert await bot.exit_code() == 0, bot.output()
    finally:
        await bot.ensure_stopped()
    # the answers in flight were finished; a2, which waited for a1, was left queued
    assert [len(finished(slack_api, root)) for root in (root_a, root_b)] == [1, 1]
    assert "Thread 0 question 0" in str(finished(slack_api, root_a)[0]["blocks"])
    queue = RedisWorkQueue(redis_store, name=QUEUE_NAME)
    stats = await queue.stats()
    assert stats.waiting + stats.pending == 1
    # the next worker answers it, after a1
    store = RedisStore.from_url(redis_url, prefix=redis_store.prefix)
    try:
        fleet = FleetOptions(work=work_config(visibility_timeout=1.5, reclaim_interval=0.1))
        harness: Harness = await start_bot(store=store, bot_options={"fleet": fleet})
        answers = await harness.answers(2, thread_ts=root_a)
        assert "Thread 0 question 1" in str(answers[1]["blocks"])
        await harness.settle()
        await harness.stop_worker()
    finally:
        await store.aclose()
