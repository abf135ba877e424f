"""A job run again after its worker died: what the earlier run showed is finished in place,
never shown twice. The earlier run is played here with the real Web API client against the
fake (what a dead worker leaves behind in Slack) and the notes it would have left in the
posted log; the re-run is the real worker."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.inbound import Post, SlashCommand
from adapters.slack.jobs import ask_job, post_job
from bot.work import Job
from tests.fixtures.slack import BOT_TOKEN, BOT_USER, TEAM
from tests.slack.conftest import CHANNEL, USER, Harness


def a_post(text: str, *, ts: str) -> Job:
    post = Post(
        workspace=TEAM,
        channel=CHANNEL,
        channel_type="channel",
        ts=ts,
        thread_ts=None,
        user=USER,
        text=f"<@{BOT_USER}> {text}",
        user_team=TEAM,
    )
    return post_job(post, bot_user=BOT_USER, assistant=False)


async def rerun(harness: Harness, job: Job, notes: dict[str, str]) -> None:
    """What the dead worker noted, then the job as the queue hands it out again."""
    await harness.bot.queue.posted.record(job, notes)
    await harness.bot.queue.submit(job)
    harness.worker = asyncio.create_task(harness.bot.work.run())


@pytest.mark.parametrize("streaming", [True, False])
async def test_a_message_the_dead_worker_started_becomes_the_answer(
    start_bot: Any, streaming: bool
) -> None:
    harness: Harness = await start_bot(worker=False, slack_streaming=streaming)
    slack = AsyncWebClient(token=BOT_TOKEN, base_url=harness.slack.base_url)
    root = "1710000011.000100"
    if streaming:  # it died while streaming the answer
        started = await slack.chat_startStream(
            channel=CHANNEL,
            thread_ts=root,
            recipient_user_id=USER,
            recipient_team_id=TEAM,
            markdown_text="Half of an ans",
        )
    else:  # it died after the answer's first message, before the rest
        started = await slack.chat_postMessage(channel=CHANNEL, thread_ts=root, text="Part one")
    ts = str(started["ts"])
    job = a_post("Finish me", ts=root)
    # It had put the eyes on the question too: the re-run takes them away.
    notes = {"message": ts, "via": "stream" if streaming else "post", "reacted": "1"}
    await rerun(harness, job, notes)

    await harness.settle()  # the job is done: what the thread shows now is final
    [answer] = await harness.answers(1, thread_ts=root)
    assert answer["ts"] == ts  # the same message, now the whole answer
    assert "Finish me" in str(answer["blocks"]) and "Half of an ans" not in str(answer["blocks"])
    assert harness.slack.messages(root) == [answer]
    assert len(harness.slack.calls_to("chat.startStream")) == (1 if streaming else 0)
    assert len(harness.slack.posts()) == (0 if streaming else 1)
    assert len(harness.meibel.chat_requests()) == 1
    removed = [c["timestamp"] for c in harness.slack.calls_to("reactions.remove")]
    assert removed == [root]


async def test_an_answer_delivered_before_the_worker_died_is_not_delivered_again(
    start_bot: Any,
) -> None:
    harness: Harness = await start_bot(worker=False)
    root = "1710000011.000200"
    job = a_post("Already answered", ts=root)
    await rerun(harness, job, {"message": "1700000000.999999", "answered": "1"})
    await harness.settle()
    assert harness.meibel.chat_requests() == []
    assert harness.slack.posts() == [] and harness.slack.calls_to("chat.startStream") == []
    assert (await harness.bot.queue.posted.get(job)) is not None


async def test_ask_reuses_the_question_line_the_dead_worker_posted(start_bot: Any) -> None:
    harness: Harness = await start_bot(worker=False)
    slack = AsyncWebClient(token=BOT_TOKEN, base_url=harness.slack.base_url)
    asked = await slack.chat_postMessage(channel=CHANNEL, text=f"<@{USER}> asked: Again?")
    thread = str(asked["ts"])
    command = SlashCommand(
        workspace=TEAM,
        channel=CHANNEL,
        user=USER,
        text="Again?",
        trigger_id="trig.rerun",
        user_team=TEAM,
        response_url=harness.slack.response_url(),
    )
    await rerun(harness, ask_job(command), {"asked": thread})
    [answer] = await harness.answers(1, thread_ts=thread)
    assert "Again?" in str(answer["blocks"])
    await harness.settle()
    lines = [c for c in harness.slack.posts() if " asked: " in c.get("text", "")]
    assert len(lines) == 1  # the dead worker's, not a second one
    [session] = harness.meibel.sessions.values()
    assert session.user_messages == ["Again?"]
