"""Slack assistant threads (Agents & AI Apps): prompts, a thinking status, a title."""

from __future__ import annotations

from tests.slack.conftest import USER, Harness, message_event

DM = "D0000042"
THREAD = "1710000003.000100"


async def test_a_new_assistant_thread_gets_suggested_prompts(harness: Harness) -> None:
    await harness.event(
        {
            "type": "assistant_thread_started",
            "assistant_thread": {
                "user_id": USER,
                "context": {"channel_id": "C0000001", "team_id": "T0000001"},
                "channel_id": DM,
                "thread_ts": THREAD,
            },
            "event_ts": THREAD,
        }
    )
    [call] = await harness.slack.wait_for("assistant.threads.setSuggestedPrompts")
    assert call["channel_id"] == DM and call["thread_ts"] == THREAD
    assert 1 <= len(call["prompts"]) <= 4
    assert all(p["title"] and p["message"] for p in call["prompts"])


async def test_assistant_question_shows_status_sets_title_and_answers(harness: Harness) -> None:
    ts = "1710000003.000200"
    await harness.event(
        message_event(
            "How do I rotate my API key?", ts=ts, channel=DM, channel_type="im", thread_ts=THREAD
        )
    )
    [answer] = await harness.answers(1, thread_ts=THREAD)
    assert "rotate my API key" in str(answer["blocks"])
    [title] = harness.slack.calls_to("assistant.threads.setTitle")
    assert title["title"] == "How do I rotate my API key?"
    await harness.settle()
    statuses = [c["status"] for c in harness.slack.calls_to("assistant.threads.setStatus")]
    assert statuses[0] == "thinking..."
    # the agent's activity while it works, in the status rather than in the answer
    assert any(s.startswith("Searching") for s in statuses[1:-1]), statuses
    assert statuses[-1] == ""  # cleared once the answer is there
    assert all(not m.tasks for m in harness.slack.conversations.in_thread(THREAD))
    # the status is the progress sign here: no reaction
    assert harness.slack.calls_to("reactions.add") == []

    # a second question continues the session and keeps the title
    await harness.event(
        message_event(
            "And how often?",
            ts="1710000003.000300",
            channel=DM,
            channel_type="im",
            thread_ts=THREAD,
        )
    )
    await harness.answers(2, thread_ts=THREAD)
    assert len(harness.slack.calls_to("assistant.threads.setTitle")) == 1
    [session] = harness.meibel.sessions.values()
    assert session.user_messages == ["How do I rotate my API key?", "And how often?"]


async def test_where_the_status_is_refused_the_reaction_shows_progress(harness: Harness) -> None:
    harness.slack.fail("assistant.threads.setStatus", "not_allowed_token_type")
    harness.slow_agent()
    ts = "1710000003.000400"
    await harness.event(
        message_event("Plain DM thread", ts=ts, channel=DM, channel_type="im", thread_ts=THREAD)
    )
    await harness.answers(1, thread_ts=THREAD)
    await harness.settle()
    assert [c["timestamp"] for c in harness.slack.calls_to("reactions.add")] == [ts]
    assert [c["timestamp"] for c in harness.slack.calls_to("reactions.remove")] == [ts]
