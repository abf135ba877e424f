"""Slack or Meibel refusing: the user always sees something helpful, the process keeps going."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from adapters.slack.render import RETRY_ACTION
from tests.fixtures.slack import BOT_TOKEN, BOT_USER
from tests.slack.conftest import USER, Harness, mention


@pytest.mark.parametrize(
    ("streaming", "method"),
    [
        (True, "chat.startStream"),
        (True, "chat.appendStream"),
        (True, "chat.stopStream"),
        (False, "chat.postMessage"),
    ],
)
async def test_rate_limited_calls_are_retried_and_the_answer_arrives(
    start_bot: Any, streaming: bool, method: str
) -> None:
    harness: Harness = await start_bot(slack_streaming=streaming)
    harness.slack.fail(method, "ratelimited", retry_after=0)
    ts = "1710000002.000100"
    await harness.event(mention("Busy day?", ts=ts))
    [answer] = await harness.answers(1, thread_ts=ts)
    assert "Busy day?" in str(answer["blocks"])
    assert any(b["type"] == "context_actions" for b in answer["blocks"])  # the whole answer
    refused = [c for c in harness.slack.calls_to(method, ok_only=False) if not c.ok]
    assert [c.error for c in refused] == ["ratelimited"]


@pytest.mark.parametrize("streaming", [True, False])
async def test_not_in_channel_tells_the_user_how_to_invite_the_bot(
    start_bot: Any, streaming: bool
) -> None:
    harness: Harness = await start_bot(slack_streaming=streaming)
    harness.slow_agent()  # the question gets the eyes, which go away all the same
    # Slack refuses every way of writing in a channel the bot is not in.
    harness.slack.fail("chat.startStream", "not_in_channel", times=5)
    harness.slack.fail("chat.postMessage", "not_in_channel", times=5)
    ts = "1710000002.000200"
    await harness.event(mention("Hello?", ts=ts))
    [note] = await harness.slack.wait_for("chat.postEphemeral")
    assert note["user"] == USER
    assert f"`/invite` and pick <@{BOT_USER}>" in note["text"]
    await harness.settle()
    assert harness.slack.calls_to("reactions.remove")
    assert len(harness.slack.calls_to("chat.postEphemeral")) == 1  # said once


async def test_blocks_refused_by_slack_become_a_plain_notice(start_bot: Any) -> None:
    harness: Harness = await start_bot(slack_streaming=False)
    harness.slack.fail("chat.postMessage", "invalid_blocks")
    ts = "1710000002.000300"
    await harness.event(mention("Odd answer", ts=ts))
    [notice] = await harness.answers(1, thread_ts=ts)
    assert "Slack would not let me post it" in str(notice["blocks"])
    assert any(
        e["action_id"] == RETRY_ACTION
        for b in notice["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
    )


async def test_blocks_refused_at_the_end_of_a_stream_become_a_plain_notice(
    harness: Harness,
) -> None:
    # stopping the stream with the answer's blocks, replacing the message, posting it anew:
    # each refused once; what is left is a notice with a way to ask again
    for method in ("chat.stopStream", "chat.update", "chat.postMessage"):
        harness.slack.fail(method, "invalid_blocks")
    ts = "1710000002.000350"
    await harness.event(mention("Odd answer", ts=ts))
    [notice] = await harness.answers(1, thread_ts=ts)
    assert "Slack would not let me post it" in str(notice["blocks"])
    assert any(
        e["action_id"] == RETRY_ACTION
        for b in notice["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
    )
    [streamed] = harness.slack.calls_to("chat.startStream")
    assert "Odd answer" in harness.slack.message(streamed.result["ts"]).markdown  # text kept


async def test_meibel_gateway_timeout_is_a_visible_notice(harness: Harness) -> None:
    harness.meibel.queue_responses(504, times=5)  # the stream, then /chat and its retries
    ts = "1710000002.000400"
    await harness.event(mention("Slow one", ts=ts))
    [notice] = await harness.answers(1, thread_ts=ts)
    text = str(notice["blocks"])
    assert "Try again" in text
    assert "Traceback" not in text and "504" not in text
    # the next question is answered normally
    await harness.event(mention("Fast one", ts="1710000002.000500"))
    [answer] = await harness.answers(1, thread_ts="1710000002.000500")
    assert "Fast one" in str(answer["blocks"])


async def test_every_call_carries_the_bot_token_and_no_log_line_shows_it(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    harness.slack.fail("reactions.add", "missing_scope")
    harness.slow_agent()  # slow enough for the eyes, which Slack refuses
    with caplog.at_level(logging.DEBUG):
        ts = "1710000002.000600"
        await harness.event(mention("Tokens?", ts=ts))
        await harness.answers(1, thread_ts=ts)
        await harness.settle()
    api_calls = [c for c in harness.slack.calls if c.method not in ("upload", "response_url")]
    assert api_calls and all(c.token == BOT_TOKEN for c in api_calls)
    assert any("missing_scope" in r.getMessage() for r in caplog.records)
    assert not any(BOT_TOKEN in r.getMessage() for r in caplog.records)
