"""A private answer kept for "Share with the channel": its messages as they were shown.

The answer is kept (content and embeds of each message, without buttons or files) under a
random key that the Share button carries, for as long as the conversation lives; sharing
posts it as it was, so a long answer is shared whole, not only the message with the button.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import discord

from adapters.discord.payloads import new_key
from adapters.discord.render import DiscordMessage
from bot.domain import Tenant
from bot.store.base import Store


@dataclass(frozen=True, slots=True)
class SharedAnswer:
    contents: tuple[str, ...]
    embeds: tuple[dict[str, Any], ...]

    def messages(self, header: str) -> list[DiscordMessage]:
        """The answer as public messages, `header` on its own message first (so no part
        grows past Discord's limit), the sources under the last part."""
        parts = [DiscordMessage(content=header)]
        parts += [DiscordMessage(content=content) for content in self.contents if content]
        parts[-1].embeds = [discord.Embed.from_dict(e) for e in self.embeds]
        return parts


def _name(key: str) -> str:
    return f"share:{key}"


async def keep_for_sharing(
    store: Store, tenant: Tenant, messages: Sequence[DiscordMessage], *, ttl_seconds: int
) -> str:
    """Keep the rendered answer; the key for its Share button. StoreError when it cannot."""
    key = new_key()
    value = {
        "contents": [m.content for m in messages],
        "embeds": [e.to_dict() for m in messages for e in m.embeds],
    }
    await store.put_value(tenant, _name(key), json.dumps(value), ttl_seconds=ttl_seconds)
    return key


async def shared_answer(store: Store, tenant: Tenant, key: str) -> SharedAnswer | None:
    """The kept answer; None when it expired (or is unreadable)."""
    raw = await store.get_value(tenant, _name(key))
    try:
        data = json.loads(raw) if raw else None
        if not isinstance(data, dict):
            return None
        return SharedAnswer(
            tuple(str(c) for c in data["contents"]), tuple(dict(e) for e in data["embeds"])
        )
    except (ValueError, KeyError, TypeError):
        return None
