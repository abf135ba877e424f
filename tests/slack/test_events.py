"""Mentions, thread follow-ups, DMs: signed events to the real endpoint, answers in threads."""

from __future__ import annotations

from typing import Any

from slack_sdk.models.blocks import Block

from adapters.slack.render import FOLLOW_UP_ACTION
from tests.fixtures.slack import BOT_USER
from tests.slack.conftest import CHANNEL, USER, Harness, mention, message_event


def validate_blocks(blocks: list[dict[str, Any]]) -> None:
    for block in blocks:
        parsed = Block.parse(block)
        assert parsed is not None, block
        parsed.validate_json()


async def test_url_verification_echoes_the_challenge(harness: Harness) -> None:
    body = b'{"token": "legacy", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P", "type": "url_verification"}'
    response = await harness.send(body, content_type="application/json")
    assert response.status_code == 200
    assert "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" in response.text


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
    assert [f["text"]["text"] for f in follow_ups][0].startswith("Can you explain How do")
    [chat] = harness.meibel.chat_requests()
    assert chat.user_message == "How do sessions work?"
    # progress: eyes on the question, then removed once the answer is there
    await harness.settle()
    added = harness.slack.calls_to("reactions.add")
    removed = harness.slack.calls_to("reactions.remove")
    assert [(c["timestamp"], c["name"]) for c in added] == [("1710000000.000100", "eyes")]
    assert [(c["timestamp"], c["name"]) for c in removed] == [("1710000000.000100", "eyes")]
    # the text artifact is uploaded as a file into the thread
    [upload] = harness.slack.calls_to("upload")
    assert "Question: How do sessions work?" in upload["content"]
    [complete] = harness.slack.calls_to("files.completeUploadExternal")
    assert complete["thread_ts"] == "1710000000.000100"
    assert complete["channel_id"] == CHANNEL
