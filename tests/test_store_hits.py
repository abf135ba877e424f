"""Contract of `Store.hit`, the fixed-window counter behind the per-user rate limit.

Every test runs against both real stores; expiry is waited for with a bounded poll.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
import redis.asyncio

from bot.domain import Tenant
from bot.store import RedisStore, SqliteStore, Store

T1 = Tenant("slack", "T1")
T2 = Tenant("slack", "T2")


async def test_hits_count_up_within_the_window(store: Store) -> None:
    counts = [await store.hit(T1, "rate:U1", window_seconds=60) for _ in range(5)]
    assert counts == [1, 2, 3, 4, 5]


async def test_hits_are_kept_per_name_and_per_tenant(store: Store) -> None:
    await store.hit(T1, "rate:U1", window_seconds=60)
    await store.hit(T1, "rate:U1", window_seconds=60)
    assert await store.hit(T1, "rate:U2", window_seconds=60) == 1
    assert await store.hit(T2, "rate:U1", window_seconds=60) == 1
    assert await store.hit(T1, "rate:U1", window_seconds=60) == 3


async def test_concurrent_hits_are_all_counted(store: Store) -> None:
    counts = await asyncio.gather(*(store.hit(T1, "burst", window_seconds=60) for _ in range(30)))
    assert sorted(counts) == list(range(1, 31))


async def test_a_new_window_starts_at_one_after_the_last_ends(store: Store) -> None:
    assert await store.hit(T1, "short", window_seconds=1) == 1
    assert await store.hit(T1, "short", window_seconds=1) == 2
    started = time.monotonic()
    async with asyncio.timeout(5):
        # Bounded poll: nothing tells us when the window has lapsed.
        while True:
            count = await store.hit(T1, "short", window_seconds=1)
            if count == 1:
                break
            await asyncio.sleep(0.1)
    assert time.monotonic() - started >= 0.5  # the window really held for a while


async def test_two_processes_share_one_count(redis_url: str, redis_store: RedisStore) -> None:
    other = RedisStore.from_url(redis_url, prefix=redis_store.prefix)
    try:
        assert await redis_store.hit(T1, "rate:U1", window_seconds=60) == 1
        assert await other.hit(T1, "rate:U1", window_seconds=60) == 2
        assert await redis_store.hit(T1, "rate:U1", window_seconds=60) == 3
    finally:
        await other.aclose()


async def test_two_sqlite_handles_share_one_count(tmp_path: Path) -> None:
    first = await SqliteStore.open(tmp_path / "shared.db")
    second = await SqliteStore.open(tmp_path / "shared.db")
    try:
        assert await first.hit(T1, "rate:U1", window_seconds=60) == 1
        assert await second.hit(T1, "rate:U1", window_seconds=60) == 2
    finally:
        await first.aclose()
        await second.aclose()


async def test_redis_counters_expire_with_their_window(
    redis_url: str, redis_store: RedisStore
) -> None:
    await redis_store.hit(T1, "rate:U1", window_seconds=60)
    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        ttl_ms = await client.pttl(redis_store.hit_key(T1, "rate:U1"))
    finally:
        await client.aclose()
    assert 55_000 < ttl_ms <= 60_000


async def test_window_must_be_positive(store: Store) -> None:
    with pytest.raises(ValueError):
        await store.hit(T1, "x", window_seconds=0)
