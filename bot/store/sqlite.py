"""The embedded store: one SQLite file, the default when no Redis is configured.

Every call runs on one dedicated worker thread, so the event loop never waits on the disk
and the connection is only ever touched by the thread that opened it. WAL mode plus a
busy timeout lets several processes share the file; every write runs in a
`BEGIN IMMEDIATE` transaction so that a writer waits for the file lock up front instead of
failing half-way when it upgrades from reading to writing.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from bot.domain import Tenant, ThreadKey
from bot.store.base import SessionRecord, StoreError

T = TypeVar("T")

SCHEMA_VERSION = 1
TABLES = ("sessions", "events", "locks", "kv_values", "hits")

# The tenant column holds str(Tenant), "platform:workspace": unambiguous because a Tenant
# rejects ':' in either part. Every row carries expires_at; reads compare it to now.
_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS sessions (
        tenant TEXT NOT NULL, channel TEXT NOT NULL, thread TEXT NOT NULL,
        session_id TEXT NOT NULL, agent TEXT NOT NULL, expires_at REAL NOT NULL,
        PRIMARY KEY (tenant, channel, thread)) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS events (
        tenant TEXT NOT NULL, event_id TEXT NOT NULL, expires_at REAL NOT NULL,
        PRIMARY KEY (tenant, event_id)) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS locks (
        tenant TEXT NOT NULL, channel TEXT NOT NULL, thread TEXT NOT NULL,
        token TEXT NOT NULL, expires_at REAL NOT NULL,
        PRIMARY KEY (tenant, channel, thread)) WITHOUT ROWID""",
    """CREATE TABLE IF NOT EXISTS kv_values (
        tenant TEXT NOT NULL, name TEXT NOT NULL, value TEXT NOT NULL,
        expires_at REAL NOT NULL,
        PRIMARY KEY (tenant, name)) WITHOUT ROWID""",
    # Added after version 1 shipped; CREATE IF NOT EXISTS upgrades an older file in place.
    """CREATE TABLE IF NOT EXISTS hits (
        tenant TEXT NOT NULL, name TEXT NOT NULL, count INTEGER NOT NULL,
        expires_at REAL NOT NULL,
        PRIMARY KEY (tenant, name)) WITHOUT ROWID""",
    # Added later too: append-only logs (feedback), kept by age.
    """CREATE TABLE IF NOT EXISTS logs (
        name TEXT NOT NULL, at REAL NOT NULL, value TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS logs_at ON logs (name, at)",
    *(f"CREATE INDEX IF NOT EXISTS {t}_expiry ON {t} (expires_at)" for t in TABLES),
    f"PRAGMA user_version = {SCHEMA_VERSION}",
)

_THREAD = "tenant = ? AND channel = ? AND thread = ?"


def _thread(key: ThreadKey) -> tuple[str, str, str]:
    return (str(key.tenant), key.channel, key.thread)


def _positive(ttl: float) -> float:
    if not ttl > 0:
        raise ValueError(f"ttl must be positive, got {ttl!r}")
    return float(ttl)


class SqliteStore:
    """`bot.store.base.Store` on one SQLite file; open it with `await SqliteStore.open(path)`."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        executor: ThreadPoolExecutor,
        *,
        path: str,
        purge_interval: float,
    ) -> None:
        self._conn = conn
        self._executor = executor
        self._path = path
        self._purge_interval = purge_interval
        self._last_purge = float("-inf")  # only touched on the worker thread
        self._closed = False

    @classmethod
    async def open(
        cls,
        path: str | os.PathLike[str],
        *,
        busy_timeout: float = 5.0,
        purge_interval: float = 60.0,
    ) -> SqliteStore:
        """Open (creating if needed) the file and its schema.

        Expired rows are deleted by a write at most once every `purge_interval` seconds.
        """
        name = os.fspath(path)
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-store")

        def connect() -> sqlite3.Connection:
            if name != ":memory:":
                Path(name).parent.mkdir(parents=True, exist_ok=True)
            # isolation_level=None: transactions are begun explicitly, see the module doc.
            conn = sqlite3.connect(name, timeout=busy_timeout, isolation_level=None)
            try:
                conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = NORMAL")
                conn.execute("BEGIN IMMEDIATE")
                for statement in _SCHEMA:
                    conn.execute(statement)
                conn.execute("COMMIT")
            except BaseException:
                conn.close()
                raise
            return conn

        try:
            conn = await asyncio.get_running_loop().run_in_executor(executor, connect)
        except (sqlite3.Error, OSError) as exc:
            executor.shutdown(wait=False)
            raise StoreError(f"sqlite open of {name} failed: {exc}") from exc
        return cls(conn, executor, path=name, purge_interval=purge_interval)

    @property
    def path(self) -> str:
        return self._path

    # -- thread -> session ------------------------------------------------------------
    async def get_session(self, key: ThreadKey, *, ttl_seconds: int) -> SessionRecord | None:
        ttl = _positive(ttl_seconds)

        def run(conn: sqlite3.Connection, now: float) -> SessionRecord | None:
            rows = conn.execute(
                f"UPDATE sessions SET expires_at = ? WHERE {_THREAD} AND expires_at > ?"
                " RETURNING session_id, agent",
                (now + ttl, *_thread(key), now),
            ).fetchall()
            return SessionRecord(session_id=rows[0][0], agent=rows[0][1]) if rows else None

        return await self._write("get_session", run)

    async def put_session(self, key: ThreadKey, record: SessionRecord, *, ttl_seconds: int) -> None:
        ttl = _positive(ttl_seconds)

        def run(conn: sqlite3.Connection, now: float) -> None:
            conn.execute(
                "INSERT OR REPLACE INTO sessions"
                " (tenant, channel, thread, session_id, agent, expires_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (*_thread(key), record.session_id, record.agent, now + ttl),
            )

        await self._write("put_session", run)

    async def delete_session(self, key: ThreadKey) -> None:
        def run(conn: sqlite3.Connection, now: float) -> None:
            conn.execute(f"DELETE FROM sessions WHERE {_THREAD}", _thread(key))

        await self._write("delete_session", run)

    # -- exactly-once -----------------------------------------------------------------
    async def claim_event(self, tenant: Tenant, event_id: str, *, ttl_seconds: int) -> bool:
        ttl = _positive(ttl_seconds)

        def run(conn: sqlite3.Connection, now: float) -> bool:
            # An expired claim is taken over in place (the row is only purged later).
            cursor = conn.execute(
                "INSERT INTO events (tenant, event_id, expires_at) VALUES (?, ?, ?)"
                " ON CONFLICT (tenant, event_id) DO UPDATE SET expires_at = excluded.expires_at"
                " WHERE events.expires_at <= ?",
                (str(tenant), event_id, now + ttl, now),
            )
            return cursor.rowcount == 1

        return await self._write("claim_event", run)

    # -- per-thread lock across processes ---------------------------------------------
    async def acquire_lock(self, key: ThreadKey, token: str, *, ttl_seconds: float) -> bool:
        ttl = _positive(ttl_seconds)

        def run(conn: sqlite3.Connection, now: float) -> bool:
            # The owner taking its own lock again succeeds (and extends it), as in Redis.
            cursor = conn.execute(
                "INSERT INTO locks (tenant, channel, thread, token, expires_at)"
                " VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (tenant, channel, thread) DO UPDATE"
                " SET token = excluded.token, expires_at = excluded.expires_at"
                " WHERE locks.expires_at <= ? OR locks.token = excluded.token",
                (*_thread(key), token, now + ttl, now),
            )
            return cursor.rowcount == 1

        return await self._write("acquire_lock", run)

    async def renew_lock(self, key: ThreadKey, token: str, *, ttl_seconds: float) -> bool:
        ttl = _positive(ttl_seconds)

        def run(conn: sqlite3.Connection, now: float) -> bool:
            cursor = conn.execute(
                f"UPDATE locks SET expires_at = ? WHERE {_THREAD} AND token = ? AND expires_at > ?",
                (now + ttl, *_thread(key), token, now),
            )
            return cursor.rowcount == 1

        return await self._write("renew_lock", run)

    async def release_lock(self, key: ThreadKey, token: str) -> bool:
        def run(conn: sqlite3.Connection, now: float) -> bool:
            cursor = conn.execute(
                f"DELETE FROM locks WHERE {_THREAD} AND token = ? AND expires_at > ?",
                (*_thread(key), token, now),
            )
            return cursor.rowcount == 1

        return await self._write("release_lock", run)

    # -- small values with a TTL ------------------------------------------------------
    async def put_value(self, tenant: Tenant, name: str, value: str, *, ttl_seconds: int) -> None:
        ttl = _positive(ttl_seconds)

        def run(conn: sqlite3.Connection, now: float) -> None:
            conn.execute(
                "INSERT OR REPLACE INTO kv_values (tenant, name, value, expires_at)"
                " VALUES (?, ?, ?, ?)",
                (str(tenant), name, value, now + ttl),
            )

        await self._write("put_value", run)

    async def get_value(self, tenant: Tenant, name: str) -> str | None:
        def run(conn: sqlite3.Connection) -> str | None:
            row = conn.execute(
                "SELECT value FROM kv_values WHERE tenant = ? AND name = ? AND expires_at > ?",
                (str(tenant), name, time.time()),
            ).fetchone()
            return None if row is None else str(row[0])

        return await self._call("get_value", run)

    # -- counters in a fixed window ---------------------------------------------------
    async def hit(self, tenant: Tenant, name: str, *, window_seconds: int) -> int:
        window = _positive(window_seconds)

        def run(conn: sqlite3.Connection, now: float) -> int:
            # An expired window restarts in place at 1 (the row is only purged later).
            row = conn.execute(
                "INSERT INTO hits (tenant, name, count, expires_at) VALUES (?, ?, 1, ?)"
                " ON CONFLICT (tenant, name) DO UPDATE SET"
                " count = CASE WHEN hits.expires_at <= ? THEN 1 ELSE hits.count + 1 END,"
                " expires_at = CASE WHEN hits.expires_at <= ?"
                " THEN excluded.expires_at ELSE hits.expires_at END"
                " RETURNING count",
                (str(tenant), name, now + window, now, now),
            ).fetchone()
            return int(row[0])

        return await self._write("hit", run)

    # -- append-only logs -------------------------------------------------------------
    async def append_log(self, name: str, value: str, *, at: float, keep_seconds: int) -> None:
        keep = _positive(keep_seconds)

        def run(conn: sqlite3.Connection, now: float) -> None:
            conn.execute("DELETE FROM logs WHERE name = ? AND at < ?", (name, now - keep))
            conn.execute("INSERT INTO logs (name, at, value) VALUES (?, ?, ?)", (name, at, value))

        await self._write("append_log", run)

    async def read_log(self, name: str, *, since: float) -> list[tuple[float, str]]:
        def run(conn: sqlite3.Connection) -> list[tuple[float, str]]:
            rows = conn.execute(
                "SELECT at, value FROM logs WHERE name = ? AND at >= ? ORDER BY at, rowid",
                (name, since),
            ).fetchall()
            return [(float(at), str(value)) for at, value in rows]

        return await self._call("read_log", run)

    # -- life cycle -------------------------------------------------------------------
    async def ping(self) -> None:
        await self._call("ping", lambda conn: conn.execute("SELECT 1").fetchall())

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            await self._call("aclose", lambda conn: conn.close(), closing=True)
        finally:
            # The worker is idle once close() has run, so this does not wait on the disk.
            self._executor.shutdown(wait=False)

    # -- plumbing ---------------------------------------------------------------------
    async def _write(self, op: str, fn: Callable[[sqlite3.Connection, float], T]) -> T:
        def run(conn: sqlite3.Connection) -> T:
            conn.execute("BEGIN IMMEDIATE")
            try:
                # Read the clock after the file lock is held, so waiting for it cannot
                # make a row look fresher than it is.
                now = time.time()
                result = fn(conn, now)
                if now - self._last_purge >= self._purge_interval:
                    self._last_purge = now
                    for table in TABLES:
                        conn.execute(f"DELETE FROM {table} WHERE expires_at <= ?", (now,))
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            return result

        return await self._call(op, run)

    async def _call(
        self, op: str, fn: Callable[[sqlite3.Connection], T], *, closing: bool = False
    ) -> T:
        if self._closed and not closing:
            raise StoreError(f"sqlite {op} on {self._path} failed: the store is closed")
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, fn, self._conn)
        except (sqlite3.Error, OSError, RuntimeError) as exc:
            # RuntimeError: the executor was shut down by a concurrent aclose().
            raise StoreError(f"sqlite {op} on {self._path} failed: {exc}") from exc

    def __repr__(self) -> str:
        return f"SqliteStore({self._path!r})"
