"""Durable intake: a question is queued before Discord is acknowledged, once per event,
and answered by the worker; with the embedded store the queue lives in the process."""

from __future__ import annotations

import asyncio
import logging

import pytest

from adapters.discord import texts
from adapters.discord.jobs import job_id
from bot.devserver import DevServer
from bot.store import SqliteStore
from bot.work import LocalWorkQueue, RedisWorkQueue
from tests.discord.fakes.server import FakeDiscord
from tests.discord.helpers import (
    FOLLOW_UP,
    answer_in,
    custom_ids,
    interaction_replies,
    session_with,
    text_of,
    thread_opened_in,
)
from tests.fixtures.discord import StartBot
from tests.work.helpers import eventually

QUESTION = "Where are the audit logs?"
CALLBACK = r"/interactions/\d+/[^/]+/callback"
WAIT = 10.0


async def test_a_question_is_queued_before_the_deferral_and_answered_after_it(
    fake_discord: FakeDiscord,
    start_discord_bot: StartBot,
    meibel_server: DevServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    bot = await start_discord_bot()
    assert isinstance(bot.process.queue, RedisWorkQueue)
    meibel_server.hold_chats()
    deferral = fake_discord.recorder.hold("POST", CALLBACK)
    w = fake_discord.world
    payload = await fake_discord.slash(
        "ask", user=w.alice, channel_id=w.general_id, options={"question": QUESTION}
    )

    # The deferral has reached Discord but is not acknowledged yet: the job is already
    # in the stream, so an acknowledged question cannot be lost.
    async with asyncio.timeout(WAIT):
        await deferral.arrived.wait()
    stats = await bot.process.queue.stats()
    assert stats.waiting + stats.pending == 1
    deferral.release()
    [callback] = await fake_discord.recorder.wait_for(lambda c: c.matches("POST", CALLBACK))
    assert callback.json == {"type": 5} and callback.status == 200  # "thinking..."

    # A worker holds it while the agent works; nothing is answered yet.
    async with asyncio.timeout(WAIT):
        await meibel_server.wait_for_in_flight(1)
    stats = await bot.process.queue.stats()
    assert (stats.waiting, stats.pending, stats.in_flight) == (0, 1, 1)
    assert not [c for c in fake_discord.message_calls() if (c.json or {}).get("components")]

    meibel_server.release_chats()
    thread_id, _ = await thread_opened_in(fake_discord, w.general_id)
    answer = await answer_in(fake_discord, thread_id)
    assert "Answer 1: Where are the audit logs" in text_of(answer)
    assert custom_ids(answer.json, FOLLOW_UP)

    async def settled() -> bool:
        stats = await bot.process.queue.stats()
        return stats.waiting == stats.pending == 0

    await eventually(settled)
    # Logs follow the job (its id, thread and Meibel signal) and never show the token.
    answered = [r for r in caplog.records if getattr(r, "signal_id", None)]
    assert [r.__dict__["job_id"] for r in answered] == [job_id(w.guild_id, int(payload["id"]))]
    assert str(thread_id) in answered[0].__dict__["thread_key"]
    assert payload["token"] not in caplog.text


async def test_an_interaction_delivered_twice_is_queued_and_answered_once(
    fake_discord: FakeDiscord, start_discord_bot: StartBot, meibel_server: DevServer
) -> None:
    await start_discord_bot()
    w = fake_discord.world
    dm_id = int(fake_discord.dm_with(w.alice_id)["id"])
    payload = await fake_discord.slash(
        "ask", user=w.alice, channel_id=dm_id, options={"question": QUESTION}
    )
    await fake_discord.gateway.dispatch("INTERACTION_CREATE", payload)
    await interaction_replies(fake_discord, payload)
    # The next question of the conversation comes after anything queued before it: had
    # the second delivery been queued, it would be answered (and asked) first.
    last = "And the retention period?"
    second = await fake_discord.slash(
        "ask", user=w.alice, channel_id=dm_id, options={"question": last}
    )
    [answer] = await interaction_replies(fake_discord, second)
    assert "Answer 2:" in text_of(answer)
    assert session_with(meibel_server, QUESTION).user_messages == [QUESTION, last]
    callbacks = [c.status for c in fake_discord.recorder.find("POST", CALLBACK)]
    assert sorted(callbacks) == [200, 200, 400]  # the repeat's deferral was refused


async def test_with_the_embedded_store_the_queue_runs_in_the_process(
    fake_discord: FakeDiscord,
    start_discord_bot: StartBot,
    meibel_server: DevServer,
    sqlite_store: SqliteStore,
) -> None:
    bot = await start_discord_bot(store=sqlite_store)
    assert isinstance(bot.process.queue, LocalWorkQueue)
    w = fake_discord.world
    said = await fake_discord.say(QUESTION, user=w.alice, channel_id=w.general_id, mention_bot=True)
    thread_id = int(said["id"])
    await answer_in(fake_discord, thread_id)
    follow = "Who can read them?"
    payload = await fake_discord.slash(
        "ask", user=w.bob, channel_id=thread_id, options={"question": follow}
    )
    [answer] = await interaction_replies(fake_discord, payload)
    assert "Answer 2:" in text_of(answer)
    assert session_with(meibel_server, QUESTION).user_messages == [QUESTION, follow]


async def test_a_bug_while_answering_is_apologized_for_once_not_retried(
    fake_discord: FakeDiscord,
    start_discord_bot: StartBot,
    meibel_server: DevServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a secret detail that must not reach the user")

    bot = await start_discord_bot()
    monkeypatch.setattr(bot.process.work.answerer, "answer", broken)
    w = fake_discord.world
    said = await fake_discord.say(QUESTION, user=w.alice, channel_id=w.general_id, mention_bot=True)
    thread_id = int(said["id"])
    [note] = await fake_discord.recorder.wait_for(
        lambda c: c.matches("POST", r"/channels/\d+/messages") and text_of(c) == texts.INTERNAL
    )
    assert note.path == f"/channels/{thread_id}/messages"  # in the thread it opened

    async def settled() -> bool:
        stats = await bot.process.queue.stats()
        return stats.waiting == stats.pending == 0

    await eventually(settled)  # done: not handed to another worker to hit the same bug
    assert len([c for c in fake_discord.message_calls() if text_of(c) == texts.INTERNAL]) == 1
    assert "secret" not in str([c.json for c in fake_discord.message_calls()])
