"""Accepted means queued: Slack's ack comes only once the question is in the work queue, the
same post is queued once, and fair use is checked before anything is queued."""

from __future__ import annotations

import asyncio
from typing import Any

from adapters.slack.fleet import FleetOptions
from adapters.slack.inbound import Post
from adapters.slack.jobs import post_job
from bot.ratelimit import RateLimit
from bot.store.base import Store
from bot.work import LocalWorkQueue
from tests.fixtures.slack import BOT_USER, TEAM
from tests.slack.conftest import CHANNEL, OTHER_USER, USER, Harness, mention, message_event

ACK_BUDGET = 2.0  # well inside Slack's 3 s


async def test_an_event_is_in_the_queue_when_slack_gets_its_ack(start_bot: Any) -> None:
    harness: Harness = await start_bot(worker=False)  # nobody takes jobs yet
    ts = "1710000010.000100"
    async with asyncio.timeout(ACK_BUDGET):
        response = await harness.event(mention("Queued first?", ts=ts))
    assert response.status_code == 200
    stats = await harness.bot.queue.stats()
    assert (stats.waiting, stats.pending) == (1, 0)  # kept, though no worker runs
    assert harness.meibel.chat_requests() == []
    # a worker (here the same process's) picks it up and answers
    harness.worker = asyncio.create_task(harness.bot.work.run())
    [answer] = await harness.answers(1, thread_ts=ts)
    assert "Queued first?" in str(answer["blocks"])
    await harness.settle()
    assert (await harness.bot.queue.stats()).waiting == 0


async def test_while_the_agent_thinks_the_acked_question_is_pending(harness: Harness) -> None:
    harness.meibel.hold_chats()
    ts = "1710000010.000200"
    async with asyncio.timeout(ACK_BUDGET):
        response = await harness.event(mention("Still thinking?", ts=ts))
    assert response.status_code == 200
    stats = await harness.bot.queue.stats()
    assert stats.waiting + stats.pending == 1
    await harness.meibel.wait_for_in_flight(1)
    assert (await harness.bot.queue.stats()).pending == 1
    harness.meibel.release_chats()
    await harness.answers(1, thread_ts=ts)
    await harness.settle()


async def test_the_same_post_from_two_events_and_retries_is_queued_once(
    start_bot: Any,
) -> None:
    harness: Harness = await start_bot(worker=False)
    ts = "1710000010.000300"
    text = f"<@{BOT_USER}> Once"
    await harness.event(mention("Once", ts=ts), event_id="EvA")
    await harness.event(message_event(text, ts=ts), event_id="EvB")
    await harness.event(mention("Once", ts=ts), event_id="EvA", retry_num=1)
    await harness.event(message_event(text, ts=ts), event_id="EvB", retry_num=3)
    assert (await harness.bot.queue.stats()).waiting == 1


def fair_use(count: int) -> dict[str, Any]:
    return {"fleet": FleetOptions(rate_limit=RateLimit(count=count, window_seconds=60))}


async def test_over_the_rate_limit_a_user_is_told_privately_and_meibel_is_not_called(
    start_bot: Any,
) -> None:
    harness: Harness = await start_bot(bot_options=fair_use(2))
    roots = ["1710000010.000400", "1710000010.000500", "1710000010.000600"]
    for root in roots:
        # each post arrives twice (app_mention and message), as in a real channel: a
        # question counts once
        await harness.event(mention(f"Question {root}", ts=root))
        await harness.event(message_event(f"<@{BOT_USER}> Question {root}", ts=root))
    [refusal] = await harness.slack.wait_for("chat.postEphemeral")
    assert refusal["user"] == USER
    assert "limit of 2 questions per minute" in refusal["text"]
    assert "wait up to a minute" in refusal["text"]
    for root in roots[:2]:
        await harness.answers(1, thread_ts=root)
    # someone else is not held back by it
    await harness.event(mention("My turn", ts="1710000010.000700", user=OTHER_USER))
    await harness.answers(1, thread_ts="1710000010.000700")
    await harness.settle()
    asked = sorted(str(r.user_message) for r in harness.meibel.chat_requests())
    assert asked == ["My turn", f"Question {roots[0]}", f"Question {roots[1]}"]
    assert harness.slack.messages(roots[2]) == []
    assert len(harness.slack.calls_to("chat.postEphemeral")) == 1
    # /ask over the limit: the refusal comes with the ack, seen only by the asker
    response, _ = await harness.command("One more?")
    assert "limit of 2 questions per minute" in response.text
    await harness.settle()
    assert len(harness.meibel.chat_requests()) == 3
    metrics = (await harness.http.get("/metrics")).text
    assert 'meibel_bot_errors_total{kind="rate_limited",platform="slack"} 2.0' in metrics


async def test_with_the_embedded_store_the_queue_lives_in_the_process(
    start_bot: Any, sqlite_store: Store
) -> None:
    harness: Harness = await start_bot(store=sqlite_store)
    assert isinstance(harness.bot.queue, LocalWorkQueue)
    ts = "1710000010.000800"
    await harness.event(mention("Single process?", ts=ts), event_id="EvL1")
    await harness.event(message_event(f"<@{BOT_USER}> Single process?", ts=ts), event_id="EvL2")
    [answer] = await harness.answers(1, thread_ts=ts)
    assert "Single process?" in str(answer["blocks"])
    await harness.settle()
    assert len(harness.meibel.chat_requests()) == 1


async def test_slacks_retry_is_queued_when_the_first_delivery_died_before_queueing(
    start_bot: Any,
) -> None:
    harness: Harness = await start_bot(worker=False, bot_options=fair_use(5))
    ts = "1710000010.000900"
    post = Post(
        workspace=TEAM,
        channel=CHANNEL,
        channel_type="channel",
        ts=ts,
        thread_ts=None,
        user=USER,
        text=f"<@{BOT_USER}> Lost?",
    )
    # a process saw the post first (and counted it), then died before queueing it
    assert await harness.bot.intake.first_sighting(
        post_job(post, bot_user=BOT_USER, assistant=False)
    )
    # the same post through the other event type: a repeat, dropped
    await harness.event(message_event(f"<@{BOT_USER}> Lost?", ts=ts), event_id="EvM")
    assert (await harness.bot.queue.stats()).waiting == 0
    # no ack came, so Slack retries: this time it is queued and answered
    await harness.event(mention("Lost?", ts=ts), event_id="EvA", retry_num=1)
    assert (await harness.bot.queue.stats()).waiting == 1
    harness.worker = asyncio.create_task(harness.bot.work.run())
    [answer] = await harness.answers(1, thread_ts=ts)
    assert "Lost?" in str(answer["blocks"])
    await harness.settle()
    assert len(harness.meibel.chat_requests()) == 1
