"""The conversation store: Redis when configured, else the embedded SQLite file."""

from __future__ import annotations

from bot.store.base import SessionRecord, Store, StoreError
from bot.store.redis import RedisStore
from bot.store.sqlite import SqliteStore

__all__ = [
    "RedisStore",
    "SessionRecord",
    "SqliteStore",
    "Store",
    "StoreError",
    "open_store",
]


async def open_store(*, redis_url: str | None, sqlite_path: str) -> Store:
    """The store the settings ask for, checked to answer before the bot starts using it.

    A Redis that does not answer raises StoreError here rather than on the first message.
    """
    if not redis_url:
        return await SqliteStore.open(sqlite_path)
    store = RedisStore.from_url(redis_url)
    try:
        await store.ping()
    except BaseException:
        await store.aclose()
        raise
    return store
