"""Persistent buttons: custom_id round trips, and clicks reach the app's handler.

Clicks go through discord.py's own dispatch (ConnectionState.parse_interaction_create on a
raw INTERACTION_CREATE payload), on a client that never saw the message being clicked, as
after a restart. Replies go over real HTTP to a small stand-in for Discord's REST API.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import discord
import pytest
from aiohttp import web
from discord.http import Route

from adapters.discord.buttons import (
    HANDLER_ATTRIBUTE,
    UNAVAILABLE,
    ActionButton,
    FollowUpButton,
    is_valid_key,
    register_buttons,
)
from bot.replies import INTERNAL

APP_ID = "900000000000000001"
BOT_ID = "900000000000000002"
CLICKER_ID = "123456789012345678"
_ids = itertools.count(1)


def _snowflake() -> str:
    return str(1_100_000_000_000_000_000 + next(_ids))


@dataclass
class Recorder:
    """The app's side of a click: remembers which handler ran with which key."""

    calls: list[tuple[str, str, int]] = field(default_factory=list)
    clicked: asyncio.Event = field(default_factory=asyncio.Event)
    fail: bool = False

    async def on_follow_up(self, interaction: discord.Interaction, key: str) -> None:
        await self._record("follow_up", interaction, key)

    async def on_action(self, interaction: discord.Interaction, key: str) -> None:
        await self._record("action", interaction, key)

    async def on_feedback(
        self, interaction: discord.Interaction, verdict: str, signal_id: str
    ) -> None:
        await self._record(f"feedback {verdict}", interaction, signal_id)

    async def on_comment(
        self, interaction: discord.Interaction, verdict: str, signal_id: str
    ) -> None:
        await self._record(f"comment {verdict}", interaction, signal_id)

    async def _record(self, kind: str, interaction: discord.Interaction, key: str) -> None:
        self.calls.append((kind, key, interaction.user.id))
        self.clicked.set()
        if self.fail:
            raise RuntimeError("secret detail that must not reach the user")


@dataclass
class FakeRest:
    """Discord's REST API, as far as logging in and answering an interaction go."""

    base: str
    callbacks: list[dict[str, Any]]
    answered: asyncio.Event


@pytest.fixture
async def rest(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeRest]:
    callbacks: list[dict[str, Any]] = []
    answered = asyncio.Event()

    async def me(request: web.Request) -> web.Response:
        return web.json_response(
            {"id": BOT_ID, "username": "meibel", "discriminator": "0", "avatar": None, "bot": True}
        )

    async def callback(request: web.Request) -> web.Response:
        callbacks.append(await request.json())
        answered.set()
        return web.Response(status=204)

    app = web.Application()
    app.router.add_get("/api/v10/users/@me", me)
    app.router.add_post("/api/v10/interactions/{id}/{token}/callback", callback)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    base = f"http://127.0.0.1:{port}/api/v10"
    monkeypatch.setattr(Route, "BASE", base)
    try:
        yield FakeRest(base, callbacks, answered)
    finally:
        await runner.cleanup()


@pytest.fixture
async def client(rest: FakeRest) -> AsyncIterator[discord.Client]:
    """A freshly started client: buttons registered, nothing remembered of any message."""
    fresh = discord.Client(intents=discord.Intents.none())
    register_buttons(fresh)
    await fresh.http.static_login("test-token")
    try:
        yield fresh
    finally:
        await fresh.http.close()


def click_payload(custom_id: str, *, label: str = "What else?") -> dict[str, Any]:
    """INTERACTION_CREATE for a click on a button of an earlier bot message in a DM."""
    channel_id = _snowflake()
    clicker = {
        "id": CLICKER_ID,
        "username": "ada",
        "discriminator": "0",
        "avatar": None,
        "global_name": "Ada",
    }
    bot = {"id": BOT_ID, "username": "meibel", "discriminator": "0", "avatar": None, "bot": True}
    button = {"type": 2, "style": 2, "label": label, "custom_id": custom_id}
    message = {
        "id": _snowflake(),
        "channel_id": channel_id,
        "type": 0,
        "content": "An earlier answer.",
        "author": bot,
        "embeds": [],
        "attachments": [],
        "mentions": [],
        "mention_roles": [],
        "mention_everyone": False,
        "pinned": False,
        "tts": False,
        "timestamp": "2025-01-01T00:00:00+00:00",
        "edited_timestamp": None,
        "flags": 0,
        "components": [{"type": 1, "components": [button]}],
    }
    return {
        "id": _snowflake(),
        "application_id": APP_ID,
        "type": 3,
        "token": "interaction-token",
        "version": 1,
        "channel_id": channel_id,
        "channel": {"id": channel_id, "type": 1, "recipients": [clicker]},
        "user": clicker,
        "message": message,
        "data": {"custom_id": custom_id, "component_type": 2},
        "locale": "en-US",
        "attachment_size_limit": 10 * 1024 * 1024,
        "app_permissions": "0",
        "entitlements": [],
        "authorizing_integration_owners": {},
        "context": 1,
    }


def click(client: discord.Client, custom_id: str) -> None:
    client._connection.parse_interaction_create(click_payload(custom_id))  # type: ignore[arg-type]


async def test_custom_id_round_trips_into_a_fresh_item() -> None:
    sent = FollowUpButton("a1b2c3d4e5f6a7b8", label="How do I reset it?")
    custom_id = sent.to_component_dict()["custom_id"]
    assert custom_id == "meibel:fu:a1b2c3d4e5f6a7b8"

    # After a restart only the string is left: rebuild from it alone.
    match = FollowUpButton.__discord_ui_compiled_template__.fullmatch(custom_id)
    assert match is not None
    base = discord.ui.Button[discord.ui.View](label="How do I reset it?", custom_id=custom_id)
    rebuilt = await FollowUpButton.from_custom_id(None, base, match)  # type: ignore[arg-type]
    assert isinstance(rebuilt, FollowUpButton)
    assert rebuilt.key == "a1b2c3d4e5f6a7b8"
    assert rebuilt.custom_id == custom_id
    assert rebuilt.to_component_dict()["label"] == "How do I reset it?"


def test_templates_tell_the_buttons_apart_and_refuse_strangers() -> None:
    follow_up = FollowUpButton.__discord_ui_compiled_template__
    action = ActionButton.__discord_ui_compiled_template__
    assert ActionButton("k-1").custom_id == "meibel:act:k-1"
    assert follow_up.fullmatch("meibel:act:k-1") is None
    assert action.fullmatch("meibel:fu:k-1") is None
    for stranger in ("meibel:fu:", "meibel:fu:has space", "other:fu:abc", "meibel:fu:a:b"):
        assert follow_up.fullmatch(stranger) is None, stranger


@pytest.mark.parametrize("key", ["", "has space", "é", "x" * 90, "a:b"])
def test_keys_that_would_break_a_custom_id_are_refused(key: str) -> None:
    assert not is_valid_key(key)
    with pytest.raises(ValueError):
        FollowUpButton(key)
    with pytest.raises(ValueError):
        ActionButton(key)


def test_the_longest_key_still_fits_discords_custom_id() -> None:
    key = "k" * 89
    assert is_valid_key(key)
    assert len(ActionButton(key).custom_id) == 100
    assert len(FollowUpButton(key).custom_id) <= 100


async def test_follow_up_click_on_a_fresh_client_reaches_the_handler(
    client: discord.Client,
) -> None:
    handler = Recorder()
    setattr(client, HANDLER_ATTRIBUTE, handler)

    click(client, "meibel:fu:0123abcd0123abcd")

    await asyncio.wait_for(handler.clicked.wait(), timeout=5)
    assert handler.calls == [("follow_up", "0123abcd0123abcd", int(CLICKER_ID))]


async def test_action_click_reaches_the_handler(client: discord.Client) -> None:
    handler = Recorder()
    setattr(client, HANDLER_ATTRIBUTE, handler)

    click(client, "meibel:act:feedbeef")

    await asyncio.wait_for(handler.clicked.wait(), timeout=5)
    assert handler.calls == [("action", "feedbeef", int(CLICKER_ID))]


async def test_click_without_a_handler_is_answered_privately(
    client: discord.Client, rest: FakeRest
) -> None:
    click(client, "meibel:fu:0123abcd")

    await asyncio.wait_for(rest.answered.wait(), timeout=5)
    [reply] = rest.callbacks
    assert reply["type"] == 4  # a message, not a deferral
    assert reply["data"]["content"] == UNAVAILABLE
    assert reply["data"]["flags"] & 64  # ephemeral: only the clicker sees it
    assert reply["data"]["allowed_mentions"]["parse"] == []


async def test_failing_handler_gets_a_private_apology_without_details(
    client: discord.Client, rest: FakeRest
) -> None:
    handler = Recorder(fail=True)
    setattr(client, HANDLER_ATTRIBUTE, handler)

    click(client, "meibel:act:0123abcd")

    await asyncio.wait_for(rest.answered.wait(), timeout=5)
    [reply] = rest.callbacks
    assert reply["data"]["content"] == INTERNAL.text
    assert reply["data"]["flags"] & 64
    assert "secret" not in str(reply)
