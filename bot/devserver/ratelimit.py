"""An optional rate limit per API key, as Meibel has: X-RateLimit-* headers on every answer
and 429 with Retry-After beyond the limit.

A fixed window per key that starts at the key's first request after its previous window
ended: simpler than Meibel's rolling windows, and with it Reset means exactly "the whole
budget is back". Reset is seconds from now, to the millisecond, so tests can use one-second
windows; Retry-After is whole seconds (rounded up), as HTTP has it. A refused request does
not count against the budget.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(slots=True)
class _Window:
    started: float
    used: int = 0


@dataclass(frozen=True, slots=True)
class Admission:
    """Whether a request may be served, and the headers of its answer."""

    allowed: bool
    headers: dict[str, str]


@dataclass(slots=True)
class KeyRateLimit:
    """At most `limit` requests per key in each `window_seconds`."""

    limit: int
    window_seconds: float
    clock: Callable[[], float] = time.monotonic
    # 429s sent for the limit: a client that paces itself by the headers never sees one.
    refused: int = 0
    _windows: dict[str, _Window] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.limit < 1:
            raise ValueError(f"the rate limit must be at least 1, got {self.limit}")
        if self.window_seconds <= 0:
            raise ValueError(f"the rate window must be positive, got {self.window_seconds}")

    def admit(self, key: str) -> Admission:
        """Count one request of `key` if the budget allows it."""
        now = self.clock()
        window = self._windows.get(key)
        if window is None or now >= window.started + self.window_seconds:
            window = self._windows[key] = _Window(started=now)
        reset = window.started + self.window_seconds - now
        allowed = window.used < self.limit
        if allowed:
            window.used += 1
        else:
            self.refused += 1
        headers = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.limit - window.used),
            "X-RateLimit-Reset": f"{reset:.3f}",
        }
        if not allowed:
            headers["Retry-After"] = str(max(1, math.ceil(reset)))
        return Admission(allowed=allowed, headers=headers)
