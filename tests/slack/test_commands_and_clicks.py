"""/ask and the buttons: each click asks in the clicked thread's session, as the clicker."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from adapters.slack.render import CALL_TO_ACTION, FEEDBACK_ACTION, FOLLOW_UP_ACTION, RETRY_ACTION
from tests.slack.conftest import CHANNEL, OTHER_USER, USER, Harness, mention


def buttons(message: dict[str, Any], prefix: str) -> list[dict[str, Any]]:
    return [
        element
        for block in message["blocks"]
        if block["type"] in ("actions", "context_actions")
        for element in block["elements"]
        if element["action_id"].startswith(prefix)
    ]


def is_asked_line(call: Any) -> bool:
    """The bot's "<@user> asked: ..." line (answers have blocks, this has none)."""
    return not call.get("blocks") and " asked: " in call.get("text", "")


async def test_ask_posts_the_question_and_answers_in_its_thread(harness: Harness) -> None:
    response, _ = await harness.command("What is Meibel?")
    assert response.status_code == 200
    assert response.text == ""  # nothing private to say: the question shows in the channel
    [asked] = await harness.slack.wait_for("chat.postMessage", where=is_asked_line)
    assert asked["text"] == f"<@{USER}> asked: What is Meibel?"
    assert asked.get("thread_ts") is None  # a new thread
    thread = asked.result["ts"]
    [answer] = await harness.answers(1, thread_ts=thread)
    assert "What is Meibel?" in str(answer["blocks"])
    [session] = harness.meibel.sessions.values()
    assert session.user_messages == ["What is Meibel?"]


async def test_empty_ask_gets_a_private_usage_hint(harness: Harness) -> None:
    response, _ = await harness.command("   ")
    assert response.status_code == 200
    assert "Usage: `/ask` followed by your question" in response.text
    await harness.settle()
    assert harness.slack.posts() == []
    assert harness.meibel.chat_requests() == []


async def test_ask_where_the_bot_is_not_a_member_says_how_to_invite_it(harness: Harness) -> None:
    harness.slack.fail("chat.postMessage", "not_in_channel")
    _, response_url = await harness.command("Anyone?", channel="C0000555")
    [note] = await harness.slack.wait_for("response_url")
    assert note["hook"] == response_url.rsplit("/", 1)[1]
    assert note["response_type"] == "ephemeral"
    assert "`/invite`" in note["text"]
    await harness.settle()
    assert harness.meibel.chat_requests() == []


async def test_follow_up_click_asks_in_the_same_thread_and_session(harness: Harness) -> None:
    root = "1710000001.000100"
    await harness.event(mention("Tell me about sessions", ts=root))
    [answer] = await harness.answers(1, thread_ts=root)
    follow_up = buttons(answer, FOLLOW_UP_ACTION)[0]

    response = await harness.click(
        action_id=follow_up["action_id"], value=follow_up["value"], message=answer
    )
    assert response.status_code == 200
    [asked] = await harness.slack.wait_for("chat.postMessage", where=is_asked_line)
    question = follow_up["text"]["text"]
    assert asked["text"] == f"<@{OTHER_USER}> asked: {question}"
    assert asked["thread_ts"] == root
    await harness.answers(2, thread_ts=root)
    [session] = harness.meibel.sessions.values()
    assert session.user_messages == ["Tell me about sessions", question]


async def test_call_to_action_click_asks_the_agent_to_perform_it(harness: Harness) -> None:
    root = "1710000001.000200"
    await harness.event(mention("I need help", ts=root))
    [answer] = await harness.answers(1, thread_ts=root)
    [ticket] = [
        b for b in buttons(answer, CALL_TO_ACTION) if b["text"]["text"] == "Create a ticket"
    ]
    await harness.click(action_id=ticket["action_id"], value=ticket["value"], message=answer)
    await harness.answers(2, thread_ts=root)
    [asked] = await harness.slack.wait_for("chat.postMessage", where=is_asked_line)
    assert asked["text"] == f"<@{OTHER_USER}> asked: Create a ticket"
    [session] = harness.meibel.sessions.values()
    request = session.user_messages[1]
    assert request.startswith('Please perform the action "Create a ticket" (create_ticket)')
    assert '"queue": "support"' in request


async def test_long_follow_up_travels_through_the_store(start_bot: Any) -> None:
    # The queued JSON answer is what /chat returns; with streaming off the bot asks /chat.
    harness: Harness = await start_bot(slack_streaming=False)
    long_question = "Explain, in great detail, " + " and ".join(f"point {i}" for i in range(300))
    assert len(long_question) > 2000  # more than a button value can carry
    harness.meibel.queue_responses(
        200,
        path_contains="/chat",
        body={
            "signal_id": "sig_long",
            "assistant_response": "Short answer.",
            "response": {"message": "Short answer.", "follow_up_questions": [long_question]},
        },
    )
    root = "1710000001.000300"
    await harness.event(mention("Start", ts=root))
    [answer] = await harness.answers(1, thread_ts=root)
    [follow_up] = buttons(answer, FOLLOW_UP_ACTION)
    assert len(follow_up["value"]) < 100  # a token into the store
    await harness.click(action_id=follow_up["action_id"], value=follow_up["value"], message=answer)
    await harness.answers(2, thread_ts=root)
    assert [r.user_message for r in harness.meibel.chat_requests()] == ["Start", long_question]


async def test_expired_button_says_so_privately(harness: Harness) -> None:
    root = "1710000001.000400"
    await harness.event(mention("Start", ts=root))
    [answer] = await harness.answers(1, thread_ts=root)
    await harness.click(
        action_id=f"{FOLLOW_UP_ACTION}:0", value="m1|ref|T0000001|gone", message=answer
    )
    [note] = await harness.slack.wait_for("chat.postEphemeral")
    assert "expired" in note["text"] and note["user"] == OTHER_USER
    await harness.settle()
    assert len(harness.meibel.chat_requests()) == 1


async def test_button_of_another_workspace_is_ignored(harness: Harness) -> None:
    root = "1710000001.000500"
    await harness.event(mention("Start", ts=root))
    [answer] = await harness.answers(1, thread_ts=root)
    value = buttons(answer, FOLLOW_UP_ACTION)[0]["value"].replace("T0000001", "T0000666")
    await harness.click(action_id=f"{FOLLOW_UP_ACTION}:0", value=value, message=answer)
    await harness.settle()
    assert len(harness.meibel.chat_requests()) == 1


async def test_feedback_is_logged_with_the_signal_id_and_thanked(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    root = "1710000001.000600"
    await harness.event(mention("Rate me", ts=root))
    [answer] = await harness.answers(1, thread_ts=root)
    [feedback] = buttons(answer, FEEDBACK_ACTION)
    value = feedback["negative_button"]["value"]
    signal_id = value.split(":", 1)[1]
    assert signal_id.startswith("sig_")
    with caplog.at_level(logging.INFO, logger="adapters.slack.clicks"):
        await harness.click(action_id=FEEDBACK_ACTION, value=value, message=answer)
        [thanks] = await harness.slack.wait_for("chat.postEphemeral")
    assert "Thanks for the feedback" in thanks["text"]
    assert thanks["thread_ts"] == root and thanks["user"] == OTHER_USER
    assert any(
        "feedback negative" in r.getMessage() and signal_id in r.getMessage()
        for r in caplog.records
    )


async def test_meibel_failure_shows_a_notice_and_try_again_asks_again(harness: Harness) -> None:
    # the stream fails, then every attempt the Meibel client makes at /chat
    # (RetryPolicy.max_attempts) fails
    harness.meibel.queue_responses(503, times=5)
    root = "1710000001.000700"
    await harness.event(mention("Are you up?", ts=root))
    [notice] = await harness.answers(1, thread_ts=root)
    assert "unavailable right now" in str(notice["blocks"])
    [retry] = buttons(notice, RETRY_ACTION)
    assert retry["text"]["text"] == "Try again"
    await harness.settle()
    assert harness.eyes_left() == 0  # no working sign is left on failure either
    # the process keeps serving
    assert (await harness.http.get("/healthz")).status_code == 200
    assert len(harness.meibel.chat_requests()) == 5
    # Meibel is back: Try again asks the same question in the same thread
    await harness.click(action_id=retry["action_id"], value=retry["value"], message=notice)
    [_, answer] = await harness.answers(2, thread_ts=root)
    assert "Are you up?" in str(answer["blocks"])
    assert [s.user_messages for s in harness.meibel.sessions.values()] == [["Are you up?"]]


async def test_ask_in_a_disallowed_channel_is_refused_privately(start_bot: Any) -> None:
    harness: Harness = await start_bot(slack_allowed_channels="C0000777,dm")
    response, _ = await harness.command("Hello?", channel=CHANNEL)
    assert "not set up to answer" in response.text
    await harness.settle()
    assert harness.meibel.chat_requests() == []
    assert harness.slack.posts() == []
