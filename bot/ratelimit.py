"""Fair use: at most N questions per user in a window, counted in the store for every process.

The window is *fixed* and starts at a user's first question after the previous window
ended (see `Store.hit`): one counter and one round trip per question. A user can get up to
twice the limit across a window boundary; for fair use that is fine, and a sliding window
would cost a sorted set per user and a write per question kept for a whole window.

The limiter fails open: when the store is down or slow, questions are allowed (and the
outage is logged once), because refusing everyone for an outage of our own is worse than
letting a burst through.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass

from bot.domain import Tenant
from bot.store.base import Store, StoreError

log = logging.getLogger(__name__)

_UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
_FORMAT = re.compile(r"\s*(\d+)\s*/\s*([a-z]+?)s?\s*", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class RateLimit:
    """`count` questions per `window_seconds`."""

    count: int
    window_seconds: int

    @classmethod
    def parse(cls, text: str) -> RateLimit:
        """Read "20/minute" (units: second, minute, hour, day; a plural "s" is fine)."""
        match = _FORMAT.fullmatch(text)
        unit = match.group(2).lower() if match else ""
        if match is None or unit not in _UNITS:
            raise ValueError(
                f"invalid rate limit {text!r}: expected <count>/<unit> such as 20/minute,"
                " with unit one of second, minute, hour, day"
            )
        count = int(match.group(1))
        if count < 1:
            raise ValueError(f"invalid rate limit {text!r}: the count must be at least 1")
        return cls(count=count, window_seconds=_UNITS[unit])

    def __str__(self) -> str:
        unit = next(name for name, secs in _UNITS.items() if secs == self.window_seconds)
        return f"{self.count}/{unit}"


class UserRateLimiter:
    """Counts questions per (tenant, user) in the store; `None` as the limit allows all."""

    def __init__(
        self, store: Store, limit: RateLimit | None, *, timeout_seconds: float = 1.0
    ) -> None:
        self._store = store
        self._limit = limit
        # Bounded so that a store that hangs (rather than fails) never delays an ack.
        self._timeout = timeout_seconds
        self._failing = False

    @property
    def limit(self) -> RateLimit | None:
        return self._limit

    async def allow(self, tenant: Tenant, user: str) -> bool:
        """True when `user` may ask now; counts this question. Never raises."""
        if self._limit is None:
            return True
        try:
            async with asyncio.timeout(self._timeout):
                count = await self._store.hit(
                    tenant, f"rate:{user}", window_seconds=self._limit.window_seconds
                )
        except (StoreError, TimeoutError) as exc:
            if not self._failing:
                self._failing = True
                log.warning(
                    "rate limit not enforced while the store fails: %s", str(exc) or "timeout"
                )
            return True
        if self._failing:
            self._failing = False
            log.info("rate limit enforced again: the store answers")
        return count <= self._limit.count
