"""One contract for every store: what the pipeline and the adapters rely on.

Each test in the first part runs against both real implementations. Expiry is tested with
short TTLs and a bounded poll for the TTL to pass, never a sleep that races the store.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import redis.asyncio

from bot.domain import Tenant, ThreadKey
from bot.store import RedisStore, SessionRecord, SqliteStore, Store, StoreError, open_store
from bot.store.sqlite import TABLES
from tests.fixtures.redis import delete_prefix, free_port

T1 = Tenant("slack", "T1")
T2 = Tenant("slack", "T2")
KEY = ThreadKey(T1, "C1", "1700.1")
SAME_IDS_OTHER_TENANT = ThreadKey(T2, "C1", "1700.1")
RECORD = SessionRecord(session_id="sess-1", agent="id:agent-1")


async def eventually(check: Callable[[], Awaitable[bool]], *, within: float = 5.0) -> None:
    """Poll `check` until it holds; TimeoutError after `within` seconds."""
    # Polling, not an Event: nothing notifies us when storage lets a TTL lapse.
    async with asyncio.timeout(within):
        while True:
            if await check():
                return
            await asyncio.sleep(0.05)


class Raw:
    """A look at the store's storage behind its back, to check expiries."""

    def __init__(self, store: Store, redis_url: str | None) -> None:
        self.store = store
        self.client = redis.asyncio.Redis.from_url(redis_url) if redis_url else None

    async def session_ttl(self, key: ThreadKey) -> float | None:
        """Seconds the thread's session has left, None when it is gone or expired."""
        if isinstance(self.store, RedisStore):
            assert self.client is not None
            ms = await self.client.pttl(self.store.session_key(key))
            return ms / 1000 if ms > 0 else None
        assert isinstance(self.store, SqliteStore)
        with sqlite3.connect(self.store.path) as conn:
            row = conn.execute(
                "SELECT expires_at FROM sessions WHERE tenant = ? AND channel = ? AND thread = ?",
                (str(key.tenant), key.channel, key.thread),
            ).fetchone()
        left = None if row is None else row[0] - time.time()
        return left if left is not None and left > 0 else None

    async def records_without_expiry(self) -> tuple[int, list[str]]:
        """(records seen, the ones that would never expire)."""
        if isinstance(self.store, RedisStore):
            assert self.client is not None
            keys = [k async for k in self.client.scan_iter(match=f"{self.store.prefix}:*")]
            ttls = [await self.client.ttl(k) for k in keys]
            return len(keys), [k.decode() for k, t in zip(keys, ttls, strict=True) if t <= 0]
        assert isinstance(self.store, SqliteStore)
        seen, bad = 0, []
        with sqlite3.connect(self.store.path) as conn:
            for table in TABLES:
                seen += conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
                rows = conn.execute(f"SELECT * FROM {table} WHERE expires_at IS NULL").fetchall()
                bad += [f"{table}: {row}" for row in rows]
        return seen, bad

    async def aclose(self) -> None:
        if self.client is not None:
            await self.client.aclose()


@pytest.fixture
async def raw(store: Store, request: pytest.FixtureRequest) -> AsyncIterator[Raw]:
    url = request.getfixturevalue("redis_url") if isinstance(store, RedisStore) else None
    look = Raw(store, url)
    yield look
    await look.aclose()


# -- sessions ---------------------------------------------------------------------------
async def test_session_put_get_replace_delete(store: Store) -> None:
    assert await store.get_session(KEY, ttl_seconds=60) is None
    await store.put_session(KEY, RECORD, ttl_seconds=60)
    assert await store.get_session(KEY, ttl_seconds=60) == RECORD

    replaced = SessionRecord(session_id="sess-2", agent="name:support")
    await store.put_session(KEY, replaced, ttl_seconds=60)
    assert await store.get_session(KEY, ttl_seconds=60) == replaced

    await store.delete_session(KEY)
    assert await store.get_session(KEY, ttl_seconds=60) is None
    await store.delete_session(KEY)  # forgetting twice is harmless


async def test_get_session_refreshes_its_ttl(store: Store, raw: Raw) -> None:
    await store.put_session(KEY, RECORD, ttl_seconds=2)
    before = await raw.session_ttl(KEY)
    assert before is not None and before <= 2

    assert await store.get_session(KEY, ttl_seconds=600) == RECORD
    after = await raw.session_ttl(KEY)
    assert after is not None and after > 500


async def test_session_expires_after_its_ttl(store: Store, raw: Raw) -> None:
    await store.put_session(KEY, RECORD, ttl_seconds=1)

    async def expired() -> bool:
        return await raw.session_ttl(KEY) is None

    await eventually(expired)
    assert await store.get_session(KEY, ttl_seconds=60) is None


# -- tenants ----------------------------------------------------------------------------
async def test_tenants_with_the_same_ids_never_see_each_other(store: Store) -> None:
    other = SAME_IDS_OTHER_TENANT
    await store.put_session(KEY, RECORD, ttl_seconds=60)
    assert await store.get_session(other, ttl_seconds=60) is None
    await store.delete_session(other)
    assert await store.get_session(KEY, ttl_seconds=60) == RECORD

    await store.put_value(T1, "button", "t1-payload", ttl_seconds=60)
    assert await store.get_value(T2, "button") is None
    await store.put_value(T2, "button", "t2-payload", ttl_seconds=60)
    assert await store.get_value(T1, "button") == "t1-payload"

    assert await store.claim_event(T1, "Ev1", ttl_seconds=60) is True
    assert await store.claim_event(T2, "Ev1", ttl_seconds=60) is True

    assert await store.acquire_lock(KEY, "t1-owner", ttl_seconds=30) is True
    assert await store.acquire_lock(other, "t2-owner", ttl_seconds=30) is True
    assert await store.release_lock(other, "t1-owner") is False
    assert await store.renew_lock(KEY, "t2-owner", ttl_seconds=30) is False


async def test_ids_containing_colons_do_not_collide(store: Store) -> None:
    first, second = ThreadKey(T1, "a:b", "c"), ThreadKey(T1, "a", "b:c")
    await store.put_session(first, RECORD, ttl_seconds=60)
    assert await store.get_session(second, ttl_seconds=60) is None
    assert await store.acquire_lock(first, "one", ttl_seconds=30) is True
    assert await store.acquire_lock(second, "two", ttl_seconds=30) is True


# -- exactly-once -----------------------------------------------------------------------
async def test_claim_event_is_true_once(store: Store) -> None:
    assert await store.claim_event(T1, "Ev1", ttl_seconds=60) is True
    assert await store.claim_event(T1, "Ev1", ttl_seconds=60) is False
    assert await store.claim_event(T1, "Ev2", ttl_seconds=60) is True


async def test_exactly_one_of_50_concurrent_claims_wins(store: Store) -> None:
    results = await asyncio.gather(
        *(store.claim_event(T1, "Ev-burst", ttl_seconds=60) for _ in range(50))
    )
    assert results.count(True) == 1


# -- locks ------------------------------------------------------------------------------
async def test_only_the_owner_renews_and_releases_a_lock(store: Store) -> None:
    assert await store.acquire_lock(KEY, "owner", ttl_seconds=30) is True
    assert await store.acquire_lock(KEY, "other", ttl_seconds=30) is False
    assert await store.renew_lock(KEY, "other", ttl_seconds=30) is False
    assert await store.release_lock(KEY, "other") is False

    assert await store.renew_lock(KEY, "owner", ttl_seconds=30) is True
    assert await store.release_lock(KEY, "owner") is True
    assert await store.release_lock(KEY, "owner") is False
    assert await store.renew_lock(KEY, "owner", ttl_seconds=30) is False

    assert await store.acquire_lock(KEY, "other", ttl_seconds=30) is True


async def test_an_expired_lock_can_be_taken_and_is_lost_by_its_owner(store: Store) -> None:
    assert await store.acquire_lock(KEY, "slow", ttl_seconds=0.2) is True

    async def taken() -> bool:
        return await store.acquire_lock(KEY, "next", ttl_seconds=30)

    await eventually(taken)
    assert await store.renew_lock(KEY, "slow", ttl_seconds=30) is False
    assert await store.release_lock(KEY, "slow") is False
    assert await store.renew_lock(KEY, "next", ttl_seconds=30) is True


async def test_exactly_one_of_50_concurrent_lockers_wins(store: Store) -> None:
    tokens = [uuid.uuid4().hex for _ in range(50)]
    results = await asyncio.gather(
        *(store.acquire_lock(KEY, token, ttl_seconds=30) for token in tokens)
    )
    assert results.count(True) == 1


# -- values -----------------------------------------------------------------------------
async def test_values_put_get_and_expire(store: Store) -> None:
    assert await store.get_value(T1, "missing") is None
    await store.put_value(T1, "payload", "one", ttl_seconds=60)
    await store.put_value(T1, "payload", "two", ttl_seconds=60)
    assert await store.get_value(T1, "payload") == "two"

    await store.put_value(T1, "short", "gone soon", ttl_seconds=1)
    assert await store.get_value(T1, "short") == "gone soon"

    async def expired() -> bool:
        return await store.get_value(T1, "short") is None

    await eventually(expired)
    assert await store.get_value(T1, "payload") == "two"


# -- nothing grows without bound --------------------------------------------------------
async def test_every_record_written_has_an_expiry(store: Store, raw: Raw) -> None:
    await store.put_session(KEY, RECORD, ttl_seconds=60)
    await store.get_session(KEY, ttl_seconds=60)
    await store.put_session(SAME_IDS_OTHER_TENANT, RECORD, ttl_seconds=60)
    await store.claim_event(T1, "Ev1", ttl_seconds=60)
    await store.acquire_lock(KEY, "owner", ttl_seconds=30)
    await store.renew_lock(KEY, "owner", ttl_seconds=30)
    await store.put_value(T2, "payload", "x", ttl_seconds=60)

    seen, without_expiry = await raw.records_without_expiry()
    assert seen == 5
    assert without_expiry == []


async def test_ping_and_invalid_ttls(store: Store) -> None:
    await store.ping()
    with pytest.raises(ValueError):
        await store.put_value(T1, "x", "y", ttl_seconds=0)
    with pytest.raises(ValueError):
        await store.acquire_lock(KEY, "owner", ttl_seconds=-1)


# -- Redis only -------------------------------------------------------------------------
async def test_redis_keys_keep_a_tenant_on_one_hash_slot(redis_store: RedisStore) -> None:
    assert redis_store.session_key(KEY) == f"{redis_store.prefix}:{{slack:T1}}:session:C1:1700.1"
    assert redis_store.event_key(T1, "Ev1") == f"{redis_store.prefix}:{{slack:T1}}:event:Ev1"


async def test_redis_survives_500_concurrent_operations_on_8_connections(redis_url: str) -> None:
    store = RedisStore.from_url(redis_url, prefix=f"test-{uuid.uuid4().hex}", max_connections=8)
    try:

        async def one(i: int) -> None:
            key = ThreadKey(T1, "C1", f"thread-{i}")
            match i % 5:
                case 0:
                    await store.put_value(T1, f"v{i}", str(i), ttl_seconds=60)
                    assert await store.get_value(T1, f"v{i}") == str(i)
                case 1:
                    assert await store.claim_event(T1, f"Ev{i}", ttl_seconds=60) is True
                case 2:
                    assert await store.acquire_lock(key, f"tok{i}", ttl_seconds=30) is True
                    assert await store.release_lock(key, f"tok{i}") is True
                case 3:
                    await store.put_session(key, RECORD, ttl_seconds=60)
                case _:
                    await store.get_session(key, ttl_seconds=60)

        await asyncio.gather(*(one(i) for i in range(500)))
    finally:
        await delete_prefix(redis_url, store.prefix)
        await store.aclose()


async def test_unreachable_redis_raises_store_error_without_the_password() -> None:
    url = f"redis://:s3cret@127.0.0.1:{free_port()}/0"
    store = RedisStore.from_url(url, prefix="test-unreachable")
    calls: list[Callable[[], Awaitable[object]]] = [
        store.ping,
        lambda: store.get_session(KEY, ttl_seconds=60),
        lambda: store.claim_event(T1, "Ev1", ttl_seconds=60),
        lambda: store.acquire_lock(KEY, "owner", ttl_seconds=30),
        lambda: store.get_value(T1, "x"),
    ]
    try:
        for call in calls:
            with pytest.raises(StoreError) as caught:
                await call()
            assert "s3cret" not in str(caught.value)
            assert "127.0.0.1" in str(caught.value)
        assert "s3cret" not in repr(store)
    finally:
        await store.aclose()


async def test_open_store_picks_redis_when_configured(redis_url: str, tmp_path: Path) -> None:
    chosen = await open_store(redis_url=redis_url, sqlite_path=str(tmp_path / "unused.db"))
    try:
        assert isinstance(chosen, RedisStore)
    finally:
        await chosen.aclose()
    with pytest.raises(StoreError):
        await open_store(redis_url=f"redis://127.0.0.1:{free_port()}/0", sqlite_path="unused")


# -- SQLite only ------------------------------------------------------------------------
async def test_two_sqlite_stores_on_one_file_share_locks_and_claims(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    first, second = await SqliteStore.open(path), await SqliteStore.open(path)
    try:
        assert await first.acquire_lock(KEY, "first", ttl_seconds=30) is True
        assert await second.acquire_lock(KEY, "second", ttl_seconds=30) is False
        assert await second.release_lock(KEY, "first") is True
        assert await first.renew_lock(KEY, "first", ttl_seconds=30) is False

        await first.put_session(KEY, RECORD, ttl_seconds=60)
        assert await second.get_session(KEY, ttl_seconds=60) == RECORD

        claims = await asyncio.gather(
            *(s.claim_event(T1, "Ev1", ttl_seconds=60) for s in [first, second] * 25)
        )
        assert claims.count(True) == 1
    finally:
        await first.aclose()
        await second.aclose()


async def test_sqlite_data_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "durable.db"
    store = await SqliteStore.open(path)
    await store.put_session(KEY, RECORD, ttl_seconds=60)
    await store.put_value(T1, "payload", "kept", ttl_seconds=60)
    await store.claim_event(T1, "Ev1", ttl_seconds=60)
    await store.aclose()

    reopened = await SqliteStore.open(path)
    try:
        assert await reopened.get_session(KEY, ttl_seconds=60) == RECORD
        assert await reopened.get_value(T1, "payload") == "kept"
        assert await reopened.claim_event(T1, "Ev1", ttl_seconds=60) is False
    finally:
        await reopened.aclose()


async def test_sqlite_purges_expired_rows_on_write(tmp_path: Path) -> None:
    path = tmp_path / "purge.db"
    store = await SqliteStore.open(path, purge_interval=0)
    try:
        await store.acquire_lock(KEY, "gone", ttl_seconds=0.05)
        await store.claim_event(T1, "gone", ttl_seconds=1)
        await store.put_value(T1, "kept", "x", ttl_seconds=60)

        async def purged() -> bool:
            await store.put_value(T1, "kept", "x", ttl_seconds=60)
            with sqlite3.connect(path) as conn:
                rows = sum(
                    int(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]) for t in TABLES
                )
            return rows == 1

        await eventually(purged)
    finally:
        await store.aclose()


async def test_a_closed_sqlite_store_raises_store_error(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "closed.db")
    await store.aclose()
    await store.aclose()
    with pytest.raises(StoreError):
        await store.get_value(T1, "x")


async def test_a_log_keeps_its_entries_in_time_order_and_drops_the_old(store: Store) -> None:
    now = time.time()
    await store.append_log("feedback", '{"n": 2}', at=now - 10, keep_seconds=3600)
    await store.append_log("feedback", '{"n": 1}', at=now - 20, keep_seconds=3600)
    await store.append_log("feedback", "same|value", at=now - 5, keep_seconds=3600)
    await store.append_log("feedback", "same|value", at=now - 5, keep_seconds=3600)
    await store.append_log("other", "not this log", at=now, keep_seconds=3600)
    entries = await store.read_log("feedback", since=now - 15)
    assert [value for _, value in entries] == ['{"n": 2}', "same|value", "same|value"]
    assert [at for at, _ in entries] == [now - 10, now - 5, now - 5]
    # an entry older than keep_seconds goes when the next one is written
    await store.append_log("feedback", "new", at=now, keep_seconds=8)
    assert [value for _, value in await store.read_log("feedback", since=0)] == [
        "same|value",
        "same|value",
        "new",
    ]
