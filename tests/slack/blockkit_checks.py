"""Checks that Slack would accept a rendered message: slack_sdk validation and every limit.

Shared by the renderer tests; any test holding a SlackMessage can run check_messages on it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from slack_sdk.models.basic_objects import JsonObject
from slack_sdk.models.blocks import Block

from adapters.slack.render import SlackMessage
from adapters.slack.split import slack_len

# From platform-limits.md; written out here so a change in the renderer cannot move them.
MAX_BLOCKS = 50
SECTION_TEXT = 3000
HEADER_TEXT = 150
CONTEXT_ELEMENTS = 10
ACTIONS_ELEMENTS = 25
BUTTON_TEXT, BUTTON_VALUE, ACTION_ID, BUTTON_URL = 75, 2000, 255, 3000
FALLBACK_TEXT = 40_000
# Slack's undocumented cumulative block-text limit (msg_blocks_too_long) sits past 12,000.
BLOCK_TEXT_TOTAL = 12_000

LINK = re.compile(r"<(?:https?://|mailto:)[^<>|\s]+(?:\|[^<>\n]*)?>")
QUOTE_MARKS = re.compile(r"(?m)^[ ]*(?:> ?)+")
ENTITY = re.compile(r"&(?!amp;|lt;|gt;)")


def assert_valid(block: dict[str, Any]) -> None:
    """slack_sdk parses the block back to the same JSON, and every part of it validates."""
    parsed = Block.parse(block)
    assert parsed is not None, block
    assert parsed.to_dict() == block  # to_dict validates each part on the way
    for part in _parts(parsed):
        part.validate_json()


def _parts(value: Any) -> Iterator[JsonObject]:
    if isinstance(value, JsonObject):
        yield value
        for attribute in vars(value).values():
            yield from _parts(attribute)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _parts(item)


def assert_mrkdwn_safe(text: str) -> None:
    """Non-blank; every < and > is a link we made or a quote mark; every & an entity."""
    assert text.strip()
    rest = QUOTE_MARKS.sub("", LINK.sub("", text))
    assert "<" not in rest and ">" not in rest, text
    assert not ENTITY.search(text), text
    assert text.count("```") % 2 == 0, text


def check_messages(messages: list[SlackMessage]) -> None:
    """Every limit in platform-limits.md that a message can break."""
    assert messages
    for message in messages:
        assert message.text.strip() and len(message.text) <= 400 < FALLBACK_TEXT
        assert 1 <= len(message.blocks) <= MAX_BLOCKS
        assert _strings(message.blocks) <= BLOCK_TEXT_TOTAL
        action_ids: list[str] = []
        for block in message.blocks:
            assert_valid(block)
            kind = block["type"]
            if kind == "section":
                assert slack_len(block["text"]["text"]) <= SECTION_TEXT
                assert_mrkdwn_safe(block["text"]["text"])
            elif kind == "header":
                assert 0 < slack_len(block["text"]["text"]) <= HEADER_TEXT
            elif kind == "context":
                assert 1 <= len(block["elements"]) <= CONTEXT_ELEMENTS
                for element in block["elements"]:
                    assert slack_len(element["text"]) <= SECTION_TEXT
                    assert_mrkdwn_safe(element["text"])
            elif kind == "actions":
                assert 1 <= len(block["elements"]) <= ACTIONS_ELEMENTS
                for button in block["elements"]:
                    assert 0 < slack_len(button["text"]["text"].strip()) <= BUTTON_TEXT
                    assert slack_len(button.get("value", "")) <= BUTTON_VALUE
                    assert slack_len(button.get("url", "")) <= BUTTON_URL
                    assert len(button["action_id"]) <= ACTION_ID
                    assert ("url" in button) != ("value" in button)
                    action_ids.append(button["action_id"])
            elif kind == "context_actions":
                for element in block["elements"]:
                    action_ids.append(element["action_id"])
            elif kind == "rich_text":  # a short text artifact, shown as written
                [pre] = block["elements"]
                assert pre["type"] == "rich_text_preformatted"
                assert all(e["type"] == "text" and e["text"] for e in pre["elements"])
                assert sum(slack_len(e["text"]) for e in pre["elements"]) <= SECTION_TEXT
            else:
                assert kind == "divider"
        assert len(action_ids) == len(set(action_ids)), action_ids
        assert message.blocks[0]["type"] != "divider" and message.blocks[-1]["type"] != "divider"


def _strings(value: Any, key: str = "") -> int:
    if isinstance(value, str):
        return 0 if key in ("type", "action_id") else slack_len(value)
    if isinstance(value, dict):
        return sum(_strings(v, k) for k, v in value.items())
    if isinstance(value, list):
        return sum(_strings(v, key) for v in value)
    return 0


def shown_text(messages: list[SlackMessage]) -> str:
    """All text a reader sees, in order, with Slack's entities turned back into characters."""
    texts: list[str] = []
    for message in messages:
        for block in message.blocks:
            if block["type"] in ("section", "header"):
                texts.append(block["text"]["text"])
            elif block["type"] == "context":
                texts.extend(element["text"] for element in block["elements"])
    joined = "\n".join(texts)
    return joined.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def squashed(text: str) -> str:
    """Without whitespace and backticks: a word cut across blocks or code fences reads whole."""
    return re.sub(r"\s|`", "", text)


def buttons_of(messages: list[SlackMessage]) -> dict[str, dict[str, Any]]:
    return {
        element["action_id"]: element
        for message in messages
        for block in message.blocks
        if block["type"] == "actions"
        for element in block["elements"]
    }
