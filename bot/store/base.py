"""The conversation store: one interface, a Redis and an embedded (SQLite) implementation.

Every key either implementation writes carries a TTL, and every key is namespaced by the
tenant (platform + workspace), so one workspace never reaches another's data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from bot.domain import Tenant, ThreadKey


class StoreError(Exception):
    """The store could not be reached or failed; nothing was changed by the failed call."""


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """The Meibel session a thread talks to, and the agent it was started with."""

    session_id: str
    agent: str  # "id:<agent_id>" or "name:<agent_name>", see bot.routing.AgentRef


class Store(Protocol):
    """What the pipeline and the adapters keep between messages."""

    # -- thread -> session -------------------------------------------------------------
    async def get_session(self, key: ThreadKey, *, ttl_seconds: int) -> SessionRecord | None:
        """The thread's session, refreshing its TTL when found."""

    async def put_session(self, key: ThreadKey, record: SessionRecord, *, ttl_seconds: int) -> None:
        """Set (or replace) the thread's session."""

    async def delete_session(self, key: ThreadKey) -> None:
        """Forget the thread's session, so the next message starts a new one."""

    # -- exactly-once -----------------------------------------------------------------
    async def claim_event(self, tenant: Tenant, event_id: str, *, ttl_seconds: int) -> bool:
        """True the first time an event id is claimed (within the TTL), False after."""

    # -- per-thread lock across processes ---------------------------------------------
    async def acquire_lock(self, key: ThreadKey, token: str, *, ttl_seconds: float) -> bool:
        """Take the thread's lock for `token` if it is free (or expired). Does not wait."""

    async def renew_lock(self, key: ThreadKey, token: str, *, ttl_seconds: float) -> bool:
        """Extend the lock's TTL if `token` still owns it; False when it was lost."""

    async def release_lock(self, key: ThreadKey, token: str) -> bool:
        """Release the lock only if `token` owns it; False otherwise."""

    # -- small values with a TTL (button payloads, ...) -------------------------------
    async def put_value(self, tenant: Tenant, name: str, value: str, *, ttl_seconds: int) -> None:
        """Keep a small value under the tenant's namespace for `ttl_seconds`."""

    async def get_value(self, tenant: Tenant, name: str) -> str | None:
        """The value, or None when it never existed or has expired."""

    # -- counters in a fixed window (rate limits) -------------------------------------
    async def hit(self, tenant: Tenant, name: str, *, window_seconds: int) -> int:
        """Count one hit on `name`; the hits so far in its current window, this one included.

        The window is fixed and starts at the first hit after the previous one ended, so a
        counter costs one key (or row) and one round trip, and expires with its window.
        """

    # -- append-only logs (feedback, ...) ---------------------------------------------
    async def append_log(self, name: str, value: str, *, at: float, keep_seconds: int) -> None:
        """Add `value` at time `at` to the log `name`; entries older than `keep_seconds`
        go. A log is global (records name their tenant themselves)."""

    async def read_log(self, name: str, *, since: float) -> list[tuple[float, str]]:
        """The log's entries at or after `since`, oldest first, as (at, value)."""

    # -- life cycle -------------------------------------------------------------------
    async def ping(self) -> None:
        """Raise StoreError when the store cannot be used."""

    async def aclose(self) -> None:
        """Release connections and files."""
