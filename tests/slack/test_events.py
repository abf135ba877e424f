"""Mentions, thread follow-ups, DMs: signed events to the real endpoint, answers in threads."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from adapters.slack.render import FOLLOW_UP_ACTION
from bot.devserver.answers import follow_ups_for
from bot.domain import Answer, Artifact, Question
from tests.fixtures.slack import BOT_USER, TEAM
from tests.slack.conftest import (
    CHANNEL,
    USER,
    Harness,
    mention,
    message_event,
    validate_blocks,
)


async def test_url_verification_echoes_the_challenge(harness: Harness) -> None:
    challenge = "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    body = json.dumps({"token": "x", "challenge": challenge, "type": "url_verification"})
    response = await harness.send(body.encode(), content_type="application/json")
    assert response.status_code == 200
    assert response.json() == {"challenge": challenge}


async def test_mention_gets_a_threaded_answer_with_sources_and_follow_ups(harness: Harness) -> None:
    response = await harness.event(mention("How do sessions work?", ts="1710000000.000100"))
    assert response.status_code == 200

    [answer] = await harness.answers(thread_ts="1710000000.000100")
    validate_blocks(answer["blocks"])
    text = str(answer["blocks"])
    assert "How do sessions work?" in text
    assert "<https://docs.meibel.ai/sessions|Meibel documentation: Sessions>" in text
    follow_ups = [
        element
        for block in answer["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
        if element["action_id"].startswith(FOLLOW_UP_ACTION)
    ]
    assert [f["text"]["text"] for f in follow_ups] == follow_ups_for("How do sessions work?", 1)
    [chat] = harness.meibel.chat_requests()
    assert chat.user_message == "How do sessions work?"
    # a fast answer needs no sign of work: no eyes on the question
    await harness.settle()
    assert harness.slack.calls_to("reactions.add") == []
    assert harness.slack.calls_to("reactions.remove") == []
    # the short text artifact is shown in the answer, as written: no upload
    assert "Question: How do sessions work?" in text
    assert not harness.slack.calls_to("upload")


async def test_a_long_text_artifact_is_uploaded_into_the_thread(harness: Harness) -> None:
    content = "Question: all of them\n" + "a line of the report\n" * 200
    answer = Answer(
        text="The report is attached.",
        artifacts=(Artifact("art_1", "report.md", "text/markdown", content=content),),
    )
    question = Question(
        platform="slack", workspace=TEAM, channel=CHANNEL, thread="1710000000.000200",
        user=USER, text="the report?",
    )  # fmt: skip
    await harness.bot.responder.upload_artifacts(answer, question)
    [upload] = harness.slack.calls_to("upload")
    assert upload["content"] == content
    [complete] = harness.slack.calls_to("files.completeUploadExternal")
    assert complete["thread_ts"] == "1710000000.000200"
    assert complete["channel_id"] == CHANNEL


@pytest.mark.parametrize("streaming", [True, False])
async def test_a_slow_answer_gets_the_eyes_until_it_is_there(
    start_bot: Any, streaming: bool
) -> None:
    harness: Harness = await start_bot(slack_streaming=streaming)
    harness.slow_agent()
    ts = "1710000000.000150"
    await harness.event(mention("Think hard", ts=ts))
    [added] = await harness.slack.wait_for("reactions.add")
    assert (added["timestamp"], added["name"]) == (ts, "eyes")
    assert harness.slack.messages(ts) == []  # the eyes came before anything of the answer
    await harness.answers(1, thread_ts=ts)
    await harness.settle()
    [removed] = harness.slack.calls_to("reactions.remove")
    assert (removed["timestamp"], removed["name"]) == (ts, "eyes")


async def test_reply_in_the_bots_thread_continues_the_session_without_a_mention(
    harness: Harness,
) -> None:
    root = "1710000000.000200"
    await harness.event(mention("What is a session?", ts=root))
    await harness.answers(1, thread_ts=root)
    await harness.event(
        message_event("And how long does it last?", ts="1710000000.000300", thread_ts=root)
    )
    await harness.answers(2, thread_ts=root)

    [session] = harness.meibel.sessions.values()
    assert session.user_messages == ["What is a session?", "And how long does it last?"]


async def test_a_mention_in_any_thread_continues_that_thread(harness: Harness) -> None:
    root = "1710000000.000400"  # a thread between people; the bot was not in it
    await harness.event(mention("Summarize this thread", ts="1710000000.000500", thread_ts=root))
    [answer] = await harness.answers(1, thread_ts=root)
    assert answer["thread_ts"] == root
    await harness.event(
        message_event("Thanks! One more thing?", ts="1710000000.000600", thread_ts=root)
    )
    await harness.answers(2, thread_ts=root)
    [session] = harness.meibel.sessions.values()
    assert len(session.user_messages) == 2


async def test_replies_elsewhere_or_to_other_people_are_left_alone(harness: Harness) -> None:
    root = "1710000000.000700"
    # a thread the bot never answered
    await harness.event(
        message_event("just chatting", ts="1710000000.000800", thread_ts="1710000000.000001")
    )
    # a top-level message without a mention
    await harness.event(message_event("hello all", ts="1710000000.000900"))
    await harness.event(mention("First question", ts=root))
    await harness.answers(1, thread_ts=root)
    # in the bot's thread, but addressed to someone else
    await harness.event(
        message_event("<@U0000009> what do you think?", ts="1710000000.001000", thread_ts=root)
    )
    # the sentinel: a question that is answered, after which nothing else may have happened
    await harness.event(message_event("Second question", ts="1710000000.001100", thread_ts=root))
    await harness.answers(2, thread_ts=root)
    await harness.settle()
    assert [r.user_message for r in harness.meibel.chat_requests()] == [
        "First question",
        "Second question",
    ]


async def test_reply_without_mention_can_be_turned_off(start_bot: Any) -> None:
    harness: Harness = await start_bot(slack_reply_without_mention=False)
    root = "1710000000.001200"
    await harness.event(mention("First", ts=root))
    await harness.answers(1, thread_ts=root)
    await harness.event(message_event("no mention here", ts="1710000000.001300", thread_ts=root))
    await harness.event(mention("Second, with a mention", ts="1710000000.001400", thread_ts=root))
    await harness.answers(2, thread_ts=root)
    await harness.settle()
    assert [r.user_message for r in harness.meibel.chat_requests()] == [
        "First",
        "Second, with a mention",
    ]


async def test_direct_messages_get_one_session_per_thread(harness: Harness) -> None:
    dm = "D0000001"
    first = "1710000000.001500"
    await harness.event(
        message_event("Hi, what can you do?", ts=first, channel=dm, channel_type="im")
    )
    [answer] = await harness.answers(1, thread_ts=first)
    assert answer["channel"] == dm
    # a reply in that DM thread continues it; a new top-level DM starts another session
    await harness.event(
        message_event(
            "Tell me more", ts="1710000000.001600", channel=dm, channel_type="im", thread_ts=first
        )
    )
    await harness.answers(2, thread_ts=first)
    second = "1710000000.001700"
    await harness.event(message_event("New topic", ts=second, channel=dm, channel_type="im"))
    await harness.answers(1, thread_ts=second)

    by_messages = sorted(s.user_messages for s in harness.meibel.sessions.values())
    assert by_messages == [["Hi, what can you do?", "Tell me more"], ["New topic"]]


async def test_the_same_post_as_mention_message_and_retries_is_answered_once(
    harness: Harness,
) -> None:
    ts = "1710000000.001800"
    text = f"<@{BOT_USER}> Only once please"
    await harness.event(mention("Only once please", ts=ts), event_id="EvA")
    await harness.event(message_event(text, ts=ts), event_id="EvB")
    await harness.event(mention("Only once please", ts=ts), event_id="EvA", retry_num=1)
    await harness.event(message_event(text, ts=ts), event_id="EvB", retry_num=2)
    await harness.answers(1, thread_ts=ts)
    await harness.settle()
    assert len(harness.meibel.chat_requests()) == 1
    assert len(harness.slack.messages(ts)) == 1


async def test_two_processes_sharing_redis_answer_an_event_once(
    start_bot: Any, redis_url: str, redis_store: Any
) -> None:
    from bot.store import RedisStore

    first: Harness = await start_bot()
    other_store = RedisStore.from_url(redis_url, prefix=redis_store.prefix)
    try:
        second: Harness = await start_bot(store=other_store)
        ts = "1710000000.001900"
        event = mention("Who answers?", ts=ts)
        await first.event(event, event_id="EvSame")
        await second.event(event, event_id="EvSame")
        await first.answers(1, thread_ts=ts)
        await first.settle()
        await second.settle()
        assert len(first.meibel.chat_requests()) == 1
        assert len(first.slack.messages(ts)) == 1
    finally:
        await other_store.aclose()


async def test_forged_signature_is_refused_without_calling_meibel(harness: Harness) -> None:
    body = json_body(harness, mention("forged", ts="1710000000.002000"))
    response = await harness.send(body, content_type="application/json", secret="not-the-secret")
    assert response.status_code == 401
    unsigned = await harness.http.post(
        "/slack/events", content=body, headers={"Content-Type": "application/json"}
    )
    assert unsigned.status_code == 401
    await harness.settle()
    assert harness.meibel.chat_requests() == []
    assert harness.slack.posts() == []


async def test_stale_timestamp_is_refused(harness: Harness) -> None:
    import time

    body = json_body(harness, mention("replayed", ts="1710000000.002100"))
    response = await harness.send(
        body, content_type="application/json", timestamp=int(time.time()) - 600
    )
    assert response.status_code == 401
    await harness.settle()
    assert harness.meibel.chat_requests() == []


def json_body(harness: Harness, event: dict[str, Any]) -> bytes:
    return json.dumps(harness.envelope(event)).encode()


async def test_bots_edits_deletions_and_joins_are_ignored(harness: Harness) -> None:
    root = "1710000000.002200"
    await harness.event(mention("Start", ts=root))
    await harness.answers(1, thread_ts=root)
    ignored = [
        # another bot in the thread
        message_event(
            "beep", ts="1710000000.002300", thread_ts=root, bot_id="B0000099", subtype="bot_message"
        ),
        # the bot itself
        message_event(
            "my own answer",
            ts="1710000000.002400",
            thread_ts=root,
            user=BOT_USER,
            bot_id="BBOT0001",
        ),
        # an edit of a message in the thread
        {
            "type": "message",
            "subtype": "message_changed",
            "channel": CHANNEL,
            "channel_type": "channel",
            "ts": "1710000000.002500",
            "hidden": True,
            "message": {
                "type": "message",
                "user": USER,
                "text": f"<@{BOT_USER}> edited",
                "ts": root,
            },
            "previous_message": {"type": "message", "user": USER, "text": "Start", "ts": root},
        },
        # a deletion
        {
            "type": "message",
            "subtype": "message_deleted",
            "channel": CHANNEL,
            "channel_type": "channel",
            "ts": "1710000000.002600",
            "hidden": True,
            "deleted_ts": root,
        },
        # someone joining
        message_event(
            f"<@{USER}> has joined the channel", ts="1710000000.002700", subtype="channel_join"
        ),
    ]
    for event in ignored:
        response = await harness.event(event)
        assert response.status_code == 200
    await harness.event(message_event("Sentinel", ts="1710000000.002800", thread_ts=root))
    await harness.answers(2, thread_ts=root)
    await harness.settle()
    assert [r.user_message for r in harness.meibel.chat_requests()] == ["Start", "Sentinel"]


async def test_two_workspaces_with_the_same_channel_and_ts_get_separate_sessions(
    harness: Harness,
) -> None:
    ts = "1710000000.002900"
    await harness.event(mention("From team one", ts=ts), team="T0000001")
    await harness.event(mention("From team two", ts=ts), team="T0000002")
    await harness.answers(2, thread_ts=ts)
    sessions = sorted(s.user_messages for s in harness.meibel.sessions.values())
    assert sessions == [["From team one"], ["From team two"]]


async def test_channels_outside_the_allowed_list_get_a_private_refusal(start_bot: Any) -> None:
    harness: Harness = await start_bot(slack_allowed_channels="C0000777")
    await harness.event(mention("Are you there?", ts="1710000000.003000"))
    [refusal] = await harness.slack.wait_for("chat.postEphemeral")
    assert refusal["user"] == USER and refusal["channel"] == CHANNEL
    assert "not set up to answer" in refusal["text"]
    await harness.settle()
    assert harness.meibel.chat_requests() == []
    assert harness.slack.posts() == []
    # the allowed channel is answered
    await harness.event(mention("And here?", ts="1710000000.003100", channel="C0000777"))
    await harness.answers(1, thread_ts="1710000000.003100")


async def test_healthz(harness: Harness) -> None:
    response = await harness.http.get("/healthz")
    assert response.status_code == 200
    assert response.text == "ok"


async def test_a_lost_session_is_restarted_with_a_note(harness: Harness) -> None:
    root = "1710000000.003300"
    await harness.event(mention("Remember this", ts=root))
    await harness.answers(1, thread_ts=root)
    harness.meibel.forget_sessions()  # as if Meibel had expired the conversation
    await harness.event(message_event("Still there?", ts="1710000000.003400", thread_ts=root))
    [_, answer] = await harness.answers(2, thread_ts=root)
    assert "start a new conversation" in str(answer["blocks"])
    assert "Still there?" in str(answer["blocks"])


async def test_oversized_bodies_are_refused_before_anything_else(harness: Harness) -> None:
    big = b"x" * (1024 * 1024 + 1)
    declared = await harness.send(big, content_type="application/json")
    assert declared.status_code == 413

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(20):
            yield b"y" * 65536

    streamed = await harness.http.post(
        "/slack/events", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert streamed.status_code == 413
    assert (await harness.http.get("/healthz")).status_code == 200
    await harness.settle()
    assert harness.meibel.requests == []
