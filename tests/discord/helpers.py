"""Reading what the fake Discord received, the way a user would see it."""

from __future__ import annotations

from typing import Any

from bot.devserver import DevServer
from bot.devserver.state import SessionInfo
from tests.discord.fakes.payloads import EPHEMERAL, Json
from tests.discord.fakes.recorder import Call
from tests.discord.fakes.server import FakeDiscord

FOLLOW_UP = "meibel:fu:"
ACTION = "meibel:act:"


def buttons(payload: Json) -> list[Json]:
    """Every button of a message, row after row."""
    return [
        item
        for row in payload.get("components") or []
        for item in row.get("components", [])
        if item.get("type") == 2
    ]


def custom_ids(payload: Json, prefix: str = "") -> list[str]:
    return [b["custom_id"] for b in buttons(payload) if b.get("custom_id", "").startswith(prefix)]


def pings_no_one(payload: Json) -> bool:
    mentions = payload.get("allowed_mentions")
    return (
        isinstance(mentions, dict)
        and mentions.get("parse") == []
        and not mentions.get("users")
        and not mentions.get("roles")
        and not mentions.get("replied_user")
    )


def is_ephemeral(call: Call) -> bool:
    payload = call.message_payload or {}
    return bool(int(payload.get("flags") or 0) & EPHEMERAL)


async def thread_opened_in(fake: FakeDiscord, channel_id: int) -> tuple[int, str]:
    """The id and name of the thread the bot opens from a message in the channel."""
    [call] = await fake.recorder.wait_for(
        lambda c: c.matches("POST", rf"/channels/{channel_id}/messages/\d+/threads")
    )
    thread_id = int(call.path.split("/")[4])
    return thread_id, str(call.json["name"])


async def answer_in(fake: FakeDiscord, channel_id: int, *, nth: int = 1) -> Call:
    """The `nth` complete answer in the channel: its last message is the one with
    buttons, posted whole or (streamed) the edit that finished it."""
    calls = await fake.recorder.wait_for(
        lambda c: (
            (
                c.matches("POST", rf"/channels/{channel_id}/messages")
                or c.matches("PATCH", rf"/channels/{channel_id}/messages/\d+")
            )
            and bool((c.json or {}).get("components"))
        ),
        count=nth,
    )
    return calls[nth - 1]


async def interaction_replies(fake: FakeDiscord, payload: Json, *, count: int = 1) -> list[Call]:
    """What the bot sent through an interaction (callback, original edit, follow-ups)."""
    token = payload["token"]
    return await fake.recorder.wait_for(
        lambda c: token in c.path and c.message_payload is not None, count=count
    )


async def private_reply(fake: FakeDiscord, payload: Json) -> str:
    """The text of the ephemeral reply to an interaction."""
    token = payload["token"]
    [call] = await fake.recorder.wait_for(lambda c: token in c.path and is_ephemeral(c))
    return str((call.message_payload or {}).get("content", ""))


def session_with(server: DevServer, text: str) -> SessionInfo:
    """The one Meibel session that was asked `text`."""
    found = [s for s in server.sessions.values() if any(text in m for m in s.user_messages)]
    assert len(found) == 1, f"{len(found)} sessions were asked {text!r}"
    return found[0]


def text_of(call: Call) -> str:
    payload: Any = call.message_payload or {}
    return str(payload.get("content") or "")
