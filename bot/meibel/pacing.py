"""Pacing by Meibel's own rate-limit headers: new calls wait while the API key's budget is spent.

Meibel limits each API key over a window and says where the key stands on its answers:
`X-RateLimit-Limit` (calls per window), `X-RateLimit-Remaining` (calls left) and
`X-RateLimit-Reset` (when the budget is back). How Reset is written is not documented, so
both common forms are read: a number below 1e9 is seconds from now (no window lasts 31
years), a larger one a Unix timestamp in seconds (above 1e12, in milliseconds).

The pacer counts between answers, so that a burst of a thousand calls sends no more than
what is left: every call sent spends one from the budget Meibel last stated, less the calls
sent after the one that answered (Meibel may not have counted those yet). Within a window an
answer only lowers the count or postpones the reset, never the other way, since answers
come back out of order. When the reset passes, the whole Limit is there again: Reset is
read as "the budget is back"; should Meibel mean only the next free slot, its 429 says so
and the Retry-After holds every call. A 429's Retry-After holds every new call, not only
the one sent again.

Before the first answer nothing is known: one call goes alone (a probe) for up to
`probe_seconds`, so a cold burst does not run into a limit it has not seen yet. Answers
without the headers mean no stated limit: calls then go freely.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import time
from collections.abc import Mapping
from dataclasses import dataclass

from bot.meibel.errors import MeibelRateLimited
from bot.meibel.retry import parse_retry_after

PROBE_SECONDS = 2.0
# A 429 that says neither Retry-After nor Reset.
DEFAULT_429_HOLD_SECONDS = 1.0
_EPOCH_SECONDS = 1e9
_EPOCH_MILLISECONDS = 1e12


@dataclass(frozen=True, slots=True)
class RateLimitState:
    """What one answer said about the key's budget; None where a header was missing."""

    limit: int | None
    remaining: int | None
    reset_seconds: float | None


def read_rate_limit(headers: Mapping[str, str], *, now: float | None = None) -> RateLimitState:
    """The X-RateLimit-* headers of an answer; `now` is the wall clock (Unix seconds)."""
    return RateLimitState(
        limit=_count(headers.get("X-RateLimit-Limit")),
        remaining=_count(headers.get("X-RateLimit-Remaining")),
        reset_seconds=parse_reset(headers.get("X-RateLimit-Reset"), now=now),
    )


def parse_reset(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds until the reset, from seconds-from-now or a Unix timestamp (s or ms)."""
    if not value:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    if number != number or number < 0:  # NaN or nonsense
        return None
    if number >= _EPOCH_SECONDS:
        if number >= _EPOCH_MILLISECONDS:
            number /= 1000.0
        return max(0.0, number - (time.time() if now is None else now))
    return number


def _count(value: str | None) -> int | None:
    if not value:
        return None
    try:
        return max(0, int(float(value.strip())))
    except (ValueError, OverflowError):
        return None


@dataclass(frozen=True, slots=True)
class Ticket:
    """One call let through: its place in the order of sending, and the window it spent."""

    seq: int
    window: int


class Pacer:
    """Holds new calls of one API key while its budget is spent; see the module docstring.

    One per client, used from one event loop; times are the loop's clock.
    """

    def __init__(self, *, probe_seconds: float = PROBE_SECONDS) -> None:
        self._probe_seconds = probe_seconds
        self._answered = False  # an answer came, so the pacer knows whether a limit is stated
        self._probe_until: float | None = None
        self._limit: int | None = None
        self._remaining: int | None = None  # None: no budget stated, calls go freely
        self._reset_at: float | None = None  # None: this window's reset is not known yet
        self._held_until = 0.0  # a 429's Retry-After
        self._window = 0
        self._seq = 0
        self._sent: list[int] = []  # this window's calls awaiting their answer, in order
        self._in_flight = 0
        self._news = asyncio.Event()

    def take_now(self) -> Ticket | None:
        """Let a call through if it may go at once, else None (then `acquire`)."""
        now = asyncio.get_running_loop().time()
        return self._take(now) if self._delay(now) == 0 else None

    async def acquire(self, *, give_up_at: float) -> Ticket:
        """Wait until a call may go; raise MeibelRateLimited (nothing sent) rather than wait
        past `give_up_at` (the loop's time)."""
        loop = asyncio.get_running_loop()
        while True:
            now = loop.time()
            delay = self._delay(now)
            if delay == 0:
                return self._take(now)
            if now >= give_up_at or (delay is not None and now + delay > give_up_at):
                raise MeibelRateLimited(
                    "not sent: Meibel's rate limit for this API key resets "
                    + ("at an unknown time" if delay is None else f"in {delay:.1f}s")
                    + ", after this call's deadline",
                    retry_after=delay,
                )
            news = self._news
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout_at(give_up_at if delay is None else now + delay):
                    await news.wait()

    def settle(self, ticket: Ticket, headers: Mapping[str, str] | None) -> None:
        """The call was answered (its headers), or failed without an answer (None)."""
        now = asyncio.get_running_loop().time()
        self._in_flight -= 1
        current = ticket.window == self._window
        later = 0  # calls sent after this one and still out: Meibel may not count them yet
        if current:
            i = bisect.bisect_left(self._sent, ticket.seq)
            if i < len(self._sent) and self._sent[i] == ticket.seq:
                del self._sent[i]
            later = len(self._sent) - i
        news = self._in_flight == 0
        if headers is not None:
            news = news or not self._answered
            self._answered = True
            stated = read_rate_limit(headers)
            if stated.limit is not None:
                self._limit = stated.limit
            # An answer to a call of an earlier window speaks of that window only.
            if current:
                news = self._learn(stated, now, later) or news
        if news:
            self._notify()

    def hold(self, seconds: float) -> None:
        """Meibel answered 429: no new call goes for `seconds` (its Retry-After)."""
        now = asyncio.get_running_loop().time()
        self._held_until = max(self._held_until, now + seconds)
        if self._remaining is not None:
            # Spent, whatever the count said; the hold's end starts a new window.
            self._remaining = 0
            self._reset_at = max(self._reset_at or 0.0, self._held_until)

    def _learn(self, stated: RateLimitState, now: float, later: int) -> bool:
        """Lower the count and postpone the reset by what Meibel said; True when waiting
        calls should look again."""
        if stated.remaining is not None:
            estimate = max(0, stated.remaining - later)
            self._remaining = (
                estimate if self._remaining is None else min(self._remaining, estimate)
            )
        if stated.reset_seconds is None:
            return False
        reset_at = now + stated.reset_seconds
        if self._reset_at is None:
            self._reset_at = reset_at
            return True
        self._reset_at = max(self._reset_at, reset_at)
        return False

    def _delay(self, now: float) -> float | None:
        """Seconds until a call may go (0: now); None: until an answer brings news."""
        if now < self._held_until:
            return self._held_until - now
        if self._reset_at is not None and now >= self._reset_at:
            self._new_window()
        if not self._answered:
            if self._in_flight == 0 or self._probe_until is None or now >= self._probe_until:
                return 0.0
            return self._probe_until - now
        if self._remaining is None or self._remaining > 0:
            return 0.0
        if self._reset_at is not None:
            return self._reset_at - now
        # Spent, and no answer said when it comes back: one call goes to ask.
        return None if self._in_flight else 0.0

    def _take(self, now: float) -> Ticket:
        if not self._answered and self._probe_until is None:
            self._probe_until = now + self._probe_seconds
        if self._remaining is not None:
            self._remaining = max(0, self._remaining - 1)
        self._seq += 1
        self._sent.append(self._seq)
        self._in_flight += 1
        return Ticket(seq=self._seq, window=self._window)

    def _new_window(self) -> None:
        self._window += 1
        self._sent.clear()
        self._remaining = self._limit
        self._reset_at = None

    def _notify(self) -> None:
        news, self._news = self._news, asyncio.Event()
        news.set()


def hold_after_429(headers: Mapping[str, str]) -> float:
    """How long a 429 holds every new call: its Retry-After, else its Reset, else a second."""
    retry_after = parse_retry_after(headers.get("Retry-After"))
    if retry_after is not None:
        return retry_after
    reset = parse_reset(headers.get("X-RateLimit-Reset"))
    return reset if reset is not None else DEFAULT_429_HOLD_SECONDS
