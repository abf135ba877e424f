"""Which threads the bot takes part in, so follow-ups there need no new @mention.

Kept in the store (with a TTL, refreshed on every answer) rather than in memory, so every
process sharing the store knows, and a restart forgets nothing.
"""

from __future__ import annotations

from bot.domain import ThreadKey
from bot.store.base import Store


def _name(key: ThreadKey) -> str:
    return f"thread:{key.channel}:{key.thread}"


async def remember_thread(store: Store, key: ThreadKey, *, ttl_seconds: int) -> None:
    await store.put_value(key.tenant, _name(key), "1", ttl_seconds=ttl_seconds)


async def is_bot_thread(store: Store, key: ThreadKey) -> bool:
    return await store.get_value(key.tenant, _name(key)) is not None
