"""Answers shown as the agent writes them: Slack's chat streaming, the edited-message
fallback, the agent's activity, and the end state (the full native answer) in every case."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from adapters.slack.render import FEEDBACK_ACTION, FOLLOW_UP_ACTION
from tests.fixtures.slack import TEAM, SlackCall
from tests.fixtures.slack_messages import streamed_text, task_updates
from tests.slack.conftest import USER, Harness, mention, message_event

STREAM_METHODS = ("chat.startStream", "chat.appendStream", "chat.stopStream")
FIRST_TEXT_BUDGET = 0.5  # seconds from Meibel's first partial to Slack; the pacing is 1 s


def stream_calls(harness: Harness, ts: str | None = None) -> list[SlackCall]:
    """Successful streaming calls, in arrival order (for one streamed message)."""
    calls = [c for c in harness.slack.calls if c.method in STREAM_METHODS and c.ok]
    return [c for c in calls if ts is None or c.get("ts", c.result.get("ts")) == ts]


def the_answer(harness: Harness) -> str:
    [session] = harness.meibel.sessions.values()
    return session.turns[-1].answer


def block_types(message: dict[str, Any]) -> list[str]:
    return [b["type"] for b in message["blocks"]]


def has_native_extras(message: dict[str, Any]) -> None:
    """Sources, follow-up buttons and feedback: what a posted answer carries."""
    blocks = message["blocks"]
    assert any(b["type"] == "context" and "*Sources*" in str(b) for b in blocks)
    assert any(
        e["action_id"].startswith(FOLLOW_UP_ACTION)
        for b in blocks
        if b["type"] == "actions"
        for e in b["elements"]
    )
    assert any(
        e["action_id"] == FEEDBACK_ACTION
        for b in blocks
        if b["type"] == "context_actions"
        for e in b["elements"]
    )


@pytest.mark.parametrize("mode", ["cumulative", "delta"])
async def test_native_stream_shows_the_text_in_order_and_ends_with_the_native_answer(
    harness: Harness, mode: str
) -> None:
    harness.meibel.stream_mode = mode  # type: ignore[assignment]
    harness.meibel.stream_chunk_delay_seconds = 0.05
    ts = "1710000006.000100"
    await harness.event(mention("Stream this answer please", ts=ts))
    [message] = await harness.answers(1, thread_ts=ts)

    [start] = harness.slack.calls_to("chat.startStream")
    assert start["thread_ts"] == ts
    assert (start["recipient_user_id"], start["recipient_team_id"]) == (USER, TEAM)
    calls = stream_calls(harness, start.result["ts"])
    assert calls[-1].method == "chat.stopStream"
    # every piece appended, in order, is exactly the agent's answer
    assert "".join(streamed_text(c.args) for c in calls) == the_answer(harness)
    assert message["blocks"][0] == {"type": "markdown", "text": the_answer(harness)}
    has_native_extras(message)
    # the only message in the thread: nothing posted beside the stream
    assert harness.slack.messages(ts) == [message]
    assert not [c for c in harness.slack.posts() if c.get("thread_ts") == ts and c.get("blocks")]


async def test_the_first_text_reaches_slack_as_soon_as_the_agent_writes_it(
    harness: Harness,
) -> None:
    harness.meibel.stream_chunk_delay_seconds = 0.2
    ts = "1710000006.000200"
    await harness.event(mention("How fast is the first word?", ts=ts))
    await harness.answers(1, thread_ts=ts)
    [chat] = harness.meibel.chat_requests()
    assert chat.first_partial_at is not None
    first_text = next(c for c in stream_calls(harness) if streamed_text(c.args))
    assert first_text.method != "chat.stopStream"  # shown while the agent still writes
    assert 0 <= first_text.at - chat.first_partial_at < FIRST_TEXT_BUDGET


async def test_appends_are_paced_and_the_text_only_grows(start_bot: Any) -> None:
    harness: Harness = await start_bot(bot_options={"stream_interval": 0.3})
    harness.meibel.stream_chunk_delay_seconds = 0.12
    ts = "1710000006.000300"
    await harness.event(mention("A slowly written answer", ts=ts))
    await harness.answers(1, thread_ts=ts)
    texts = [c for c in stream_calls(harness) if streamed_text(c.args)]
    assert len(texts) >= 3  # shown while being written, not only at the end
    during = [c for c in texts if c.method != "chat.stopStream"]
    gaps = [later.at - earlier.at for earlier, later in itertools.pairwise(during)]
    assert all(gap >= 0.3 * 0.9 for gap in gaps), gaps


async def test_the_agents_activity_shows_in_the_stream_until_text_moves_on(
    harness: Harness,
) -> None:
    ts = "1710000006.000400"
    await harness.event(mention("Search for me", ts=ts))
    [message] = await harness.answers(1, thread_ts=ts)
    [start] = harness.slack.calls_to("chat.startStream")
    # the first thing shown is what the agent is doing, before any text
    [task] = task_updates(start.args)
    assert task["status"] == "in_progress"
    assert task["title"] == "Searching the knowledge base"
    assert not streamed_text(start.args)
    # once the answer is written, no activity is left running
    tasks = harness.slack.message(message["ts"]).tasks
    assert tasks and all(t["status"] == "complete" for t in tasks.values())


async def test_direct_messages_stream_without_a_recipient(harness: Harness) -> None:
    ts = "1710000006.000500"
    await harness.event(
        message_event("Hello in a DM", ts=ts, channel="D0000009", channel_type="im")
    )
    await harness.answers(1, thread_ts=ts)
    [start] = harness.slack.calls_to("chat.startStream")
    assert start["channel"] == "D0000009"
    assert "recipient_user_id" not in start.args and "recipient_team_id" not in start.args


async def test_edit_mode_edits_one_message_at_most_once_per_interval(start_bot: Any) -> None:
    harness: Harness = await start_bot(
        slack_streaming_mode="edit", bot_options={"stream_interval": 0.3}
    )
    harness.meibel.stream_chunk_delay_seconds = 0.12
    ts = "1710000006.000600"
    await harness.event(mention("Edit your way through", ts=ts))
    await harness.settle()
    assert harness.slack.calls_to("chat.startStream", ok_only=False) == []
    [placeholder] = [c for c in harness.slack.posts() if c.get("thread_ts") == ts]
    # the placeholder says what the agent is doing
    assert "Searching the knowledge base" in str(placeholder["blocks"])
    edits = [
        c for c in harness.slack.calls_to("chat.update") if c["ts"] == placeholder.result["ts"]
    ]
    assert len(edits) >= 2
    shown = [section_text(c["blocks"]) for c in edits]
    assert all(
        later.startswith(earlier.rstrip("…")) for earlier, later in itertools.pairwise(shown)
    )
    during = edits[1:-1]  # the first text goes at once, the last edit is the final answer
    gaps = [later.at - earlier.at for earlier, later in itertools.pairwise(during)]
    assert all(gap >= 0.3 * 0.9 for gap in gaps), gaps
    [message] = harness.slack.messages(ts)
    assert "Edit your way through" in section_text(message["blocks"])
    assert "Searching" not in str(message["blocks"])  # no stale activity line at the end
    has_native_extras(message)


def section_text(blocks: list[dict[str, Any]]) -> str:
    return "\n".join(b["text"]["text"] for b in blocks if b["type"] in ("section", "header"))


@pytest.mark.parametrize("error", ["unknown_method", "missing_scope", "not_allowed_token_type"])
async def test_refused_native_streaming_falls_back_to_edits_and_is_remembered(
    harness: Harness, error: str
) -> None:
    harness.slack.fail("chat.startStream", error)
    first, second = "1710000006.000700", "1710000006.000800"
    await harness.event(mention("Can you stream?", ts=first))
    await harness.settle()
    [message] = harness.slack.messages(first)
    assert "Can you stream?" in section_text(message["blocks"])
    has_native_extras(message)
    assert harness.slack.calls_to("chat.update")
    # the workspace does not get asked again for every answer
    await harness.event(mention("And now?", ts=second))
    await harness.settle()
    assert "And now?" in section_text(harness.slack.messages(second)[0]["blocks"])
    assert len(harness.slack.calls_to("chat.startStream", ok_only=False)) == 1


@pytest.mark.parametrize("status", [503, 501])
async def test_a_stream_failing_before_any_text_still_ends_in_the_whole_answer(
    harness: Harness, status: int
) -> None:
    # Meibel did not take the stream (503, or no streaming): the one case for /chat.
    harness.meibel.queue_responses(status, times=1, path_contains="/chat/stream")
    ts = "1710000006.000900"
    await harness.event(mention("Fall back quietly", ts=ts))
    [message] = await harness.answers(1, thread_ts=ts)
    assert [r.path.rsplit("/", 1)[-1] for r in harness.meibel.chat_requests()] == [
        "stream",
        "chat",
    ]
    # Nothing was streamed before /chat answered: posted as a plain answer, in mrkdwn.
    assert 'You asked: "Fall back quietly"' in str(message["blocks"][0])
    assert "cut off" not in str(message["blocks"])
    has_native_extras(message)


async def test_a_stream_breaking_midway_keeps_the_text_and_says_it_was_cut_off(
    harness: Harness,
) -> None:
    harness.meibel.queue_stream_failure(after_partials=3)
    harness.meibel.stream_chunk_delay_seconds = 0.02
    ts = "1710000006.001000"
    await harness.event(mention("Break in the middle", ts=ts))
    [message] = await harness.answers(1, thread_ts=ts)
    calls = stream_calls(harness)
    markdown = "".join(streamed_text(c.args) for c in calls)
    assert markdown == message["blocks"][0]["text"]
    assert 'You asked: "Break in the middle"' in markdown
    assert markdown.endswith(
        "_The answer was cut off: the agent's stream broke. Ask again for the rest._"
    )
    assert len(harness.meibel.chat_requests()) == 1  # no second try behind the user's back


@pytest.mark.parametrize(
    ("slack_streaming", "core_streaming", "streams"),
    [(False, True, False), (None, False, False), (True, False, True), (None, True, True)],
)
async def test_slack_streaming_overrides_the_core_setting(
    start_bot: Any, slack_streaming: bool | None, core_streaming: bool, streams: bool
) -> None:
    harness: Harness = await start_bot(
        slack_streaming=slack_streaming, bot_options={"core_streaming": core_streaming}
    )
    ts = "1710000006.001100"
    await harness.event(mention("Streamed or not?", ts=ts))
    [message] = await harness.answers(1, thread_ts=ts)
    await harness.settle()
    assert bool(harness.slack.calls_to("chat.startStream")) is streams
    paths = [r.path.rsplit("/", 1)[-1] for r in harness.meibel.chat_requests()]
    assert paths == (["stream"] if streams else ["chat"])
    if not streams:  # today's behaviour: one posted answer, no edits
        assert harness.slack.calls_to("chat.update") == []
        assert "Streamed or not?" in section_text(message["blocks"])
    has_native_extras(message)


async def test_a_bug_while_streaming_still_leaves_a_visible_notice(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(self: object, answer: object) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr("adapters.slack.live.LiveAnswer._deliver", broken)
    harness.slow_agent()  # the question gets the eyes while the agent works
    ts = "1710000006.001200"
    await harness.event(mention("Trip over something", ts=ts))
    await harness.settle()
    notices = [c for c in harness.slack.posts() if c.get("thread_ts") == ts]
    [notice] = notices
    assert "Something went wrong on my side" in str(notice["blocks"])
    assert "secret internals" not in str(notice["blocks"])
    assert harness.slack.calls_to("reactions.remove")  # the working sign goes away too
    harness.meibel.faults.latency_seconds = 0.0
    # the thread is free again: the next question is answered
    await harness.event(message_event("Again?", ts="1710000006.001300", thread_ts=ts))
    [_, answer] = await harness.answers(2, thread_ts=ts)
    assert "Again?" in str(answer["blocks"])
