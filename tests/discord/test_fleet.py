"""Several Discord processes on one Redis: any worker answers any job, each exactly once,
and one thread's questions in the order they were asked."""

from __future__ import annotations

import asyncio
import re

from bot.devserver import DevServer
from bot.metrics import Metrics
from tests.discord.fakes.server import FakeDiscord
from tests.discord.helpers import session_with, text_of, thread_opened_in
from tests.fixtures.discord import StartBot, fleet_options

WAIT = 10.0


def answers_in(fake: FakeDiscord, channel_id: int) -> list[str]:
    """The answers shown in a channel (their "Answer n:" titles), oldest first."""
    return [
        title
        for message in fake.posted(channel_id)
        for title in re.findall(r"Answer \d+: [^\n]*", str(message["content"]))
    ]


def questions_asked(metrics: Metrics) -> float:
    """Questions this process's pipeline asked Meibel."""
    value = metrics.registry.get_sample_value("meibel_bot_questions_total", {"platform": "discord"})
    return float(value or 0)


async def test_two_shard_processes_share_the_work_each_answered_once_in_thread_order(
    fake_discord: FakeDiscord, start_discord_bot: StartBot, meibel_server: DevServer
) -> None:
    # Two processes, one shard each, two answers at a time each: with four in flight,
    # both must be working.
    shards = {"discord_shard_count": 2}
    one = await start_discord_bot(
        fleet=fleet_options(concurrency=2), **shards, discord_shard_ids=[0]
    )
    two = await start_discord_bot(
        fleet=fleet_options(concurrency=2), **shards, discord_shard_ids=[1]
    )
    w = fake_discord.world
    meibel_server.hold_chats()
    firsts = [f"Question {n} about billing" for n in range(4)]
    threads = []
    for text in firsts:
        said = await fake_discord.say(text, user=w.alice, channel_id=w.general_id, mention_bot=True)
        threads.append(int(said["id"]))
    async with asyncio.timeout(WAIT):
        await meibel_server.wait_for_in_flight(4)
    # Follow-ups in every thread while the first answers are held: they wait their turn.
    await fake_discord.recorder.wait_for(
        lambda c: c.matches("POST", r"/channels/\d+/messages/\d+/threads"), count=4
    )
    for thread in threads:
        for n in (2, 3):
            await fake_discord.say(f"Follow-up {n} in {thread}", user=w.bob, channel_id=thread)
    meibel_server.release_chats()

    await fake_discord.recorder.wait_for(
        lambda c: c.matches("POST", r"/channels/\d+/messages") and "Answer 3:" in text_of(c),
        count=4,
    )
    for thread, first in zip(threads, firsts, strict=True):
        asked = [first, f"Follow-up 2 in {thread}", f"Follow-up 3 in {thread}"]
        assert session_with(meibel_server, first).user_messages == asked
        shown = answers_in(fake_discord, thread)
        assert [title.split(":")[0] for title in shown] == ["Answer 1", "Answer 2", "Answer 3"]
    assert len(meibel_server.chat_requests()) == 12  # none asked twice
    assert len(fake_discord.recorder.find("POST", r"/channels/\d+/messages/\d+/threads")) == 4
    # Only one process has the server's shard, yet both answered.
    assert bool(one.client.guilds) != bool(two.client.guilds)
    assert questions_asked(one.pipeline.metrics) > 0 and questions_asked(two.pipeline.metrics) > 0


async def test_a_job_taken_in_by_one_process_is_answered_by_another(
    fake_discord: FakeDiscord, start_discord_bot: StartBot, meibel_server: DevServer
) -> None:
    """A gateway-only process and a worker-only one: intake and answers split."""
    intake = await start_discord_bot(fleet=fleet_options(worker=False))
    worker = await start_discord_bot(fleet=fleet_options(gateway=False))
    w = fake_discord.world
    question = "Can another process answer this?"
    payload = await fake_discord.slash(
        "ask", user=w.alice, channel_id=w.general_id, options={"question": question}
    )
    thread_id, _ = await thread_opened_in(fake_discord, w.general_id)
    [answer] = await fake_discord.recorder.wait_for(
        lambda c: c.matches("POST", rf"/channels/{thread_id}/messages") and "Answer" in text_of(c)
    )
    assert "Answer 1: Can another process" in text_of(answer)
    assert questions_asked(intake.pipeline.metrics) == 0
    assert questions_asked(worker.pipeline.metrics) == 1
    # The header replaced "thinking" through the webhook the worker rebuilt from the job.
    [original] = fake_discord.recorder.find("PATCH", r"/webhooks/\d+/[^/]+/messages/@original")
    assert payload["token"] in original.path
