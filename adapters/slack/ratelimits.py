"""Slack's rate limits, kept by this process: every Web API call waits for its budget.

Slack limits calls per method per workspace (one bot token is one workspace) in tiers:
Tier 1 allows 1+ calls a minute, Tier 2 20+, Tier 3 50+, Tier 4 100+; chat.postMessage has
its own rule, about one message a second per channel and a workspace-wide limit of "several
hundred a minute". Each limit here is a token bucket refilled at the documented rate:

- a tier's bucket holds one minute's worth (Slack welcomes "occasional bursts");
- chat.postMessage has one bucket per channel (1/s, a burst of POST_BURST: the messages of
  one answer, such as "asked" line, answer and an overflow page, go out together) and one for
  the workspace (POSTS_PER_MINUTE, burst of a minute's worth like a tier).

A call normally waits for its token (in order of arrival; the waits are counted in
`meibel_bot_slack_paced_seconds_total{method}`). Inside `optional(max_wait)` a call whose
token is further away than `max_wait` is not made at all: CallSkipped is raised and counted
in `meibel_bot_slack_skipped_calls_total{method}`. That is for calls that only decorate (a
progress reaction, the assistant status) or that a later call makes good (a streamed
message's progress, which the final call carries too).

The budgets are this process's: N processes on one workspace share its limits only if each
is told so (SLACK_RATE_PROCESSES=N divides every budget by N).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter
from slack_sdk.errors import SlackClientError

from bot.work.fence import time_left

TIER_PER_MINUTE = {1: 1.0, 2: 20.0, 3: 50.0, 4: 100.0}
# The tier of every Web API method the bot calls (Slack's method pages and rate-limit guide;
# the chat streaming methods per Slack's changelog of 2025-10-07). The "special" ones are
# given the tier they behave like: auth.test is Tier 4-like; assistant.threads.* are paced
# as Tier 3, a floor for what they allow.
METHOD_TIERS: Mapping[str, int] = {
    "auth.test": 4,
    "chat.update": 3,
    "chat.postEphemeral": 4,
    "chat.startStream": 2,
    "chat.appendStream": 4,
    "chat.stopStream": 2,
    "reactions.add": 3,
    "reactions.remove": 3,
    "files.getUploadURLExternal": 4,
    "files.completeUploadExternal": 4,
    # Tier 3 for internal and Marketplace apps; Slack lowered it (to 1 a minute) for new
    # commercially distributed apps outside the Marketplace since 2025-05-29.
    "conversations.replies": 3,
    "conversations.info": 3,
    "users.info": 4,
    "usergroups.list": 2,
    "views.open": 4,
    "views.publish": 4,
    "assistant.threads.setStatus": 3,
    "assistant.threads.setTitle": 3,
    "assistant.threads.setSuggestedPrompts": 3,
}
# Not paced: apps.connections.open (Tier 1) opens Socket Mode's connection; holding a
# reconnection back for up to a minute would drop events, and Slack's client paces it.
POST_METHOD = "chat.postMessage"
POSTS_PER_CHANNEL_PER_MINUTE = 60.0
POST_BURST = 3.0
# "Several hundred messages a minute" across the workspace: the low end, by default.
POSTS_PER_MINUTE = 300.0
_KEEP_CHANNELS = 1000  # channel buckets kept before full (idle) ones are dropped


@dataclass(frozen=True, slots=True)
class Rate:
    """`per_minute` calls a minute, `burst` of them at once after a quiet while."""

    per_minute: float
    burst: float

    @classmethod
    def tier(cls, tier: int) -> Rate:
        per_minute = TIER_PER_MINUTE[tier]
        return cls(per_minute=per_minute, burst=per_minute)

    def shared(self, processes: int) -> Rate:
        """This rate split between `processes`; a burst never below one call."""
        return Rate(self.per_minute / processes, max(self.burst / processes, 1.0))


@dataclass(frozen=True, slots=True)
class Limits:
    """What one process may send: per method (workspace), and chat.postMessage's two."""

    methods: Mapping[str, Rate]
    post_per_channel: Rate
    post_per_workspace: Rate

    def shared(self, processes: int) -> Limits:
        """Each of `processes` processes on one workspace keeps to its share."""
        if processes <= 1:
            return self
        return Limits(
            methods={m: r.shared(processes) for m, r in self.methods.items()},
            post_per_channel=self.post_per_channel.shared(processes),
            post_per_workspace=self.post_per_workspace.shared(processes),
        )

    def answers_postable(self, seconds: float) -> int:
        """How many answers (a message each) this process may post in `seconds` at the
        workspace's steady rate (the burst is not counted on: it is spent once)."""
        return max(1, int(self.post_per_workspace.per_minute * seconds / 60.0))

    def rates(self, method: str) -> list[Rate]:
        """The rates a call of `method` must keep (per channel first for postMessage)."""
        if method == POST_METHOD:
            return [self.post_per_channel, self.post_per_workspace]
        rate = self.methods.get(method)
        return [rate] if rate is not None else []


def slack_limits(*, posts_per_minute: float = POSTS_PER_MINUTE) -> Limits:
    """Slack's documented limits (see the module docstring)."""
    return Limits(
        methods={method: Rate.tier(tier) for method, tier in METHOD_TIERS.items()},
        post_per_channel=Rate(POSTS_PER_CHANNEL_PER_MINUTE, POST_BURST),
        post_per_workspace=Rate(posts_per_minute, posts_per_minute),
    )


class CallSkipped(SlackClientError):
    """An optional call was not made: its budget had no room soon enough."""


class Bucket:
    """A token bucket that hands out tokens in advance: a call takes the next one and waits
    until it is due, so that waiting calls go in order of arrival."""

    def __init__(self, rate: Rate, *, now: float) -> None:
        self.per_second = rate.per_minute / 60.0
        self.burst = rate.burst
        self.tokens = rate.burst  # may go below zero: tokens promised to waiting calls
        self.stamp = now

    def due_in(self, now: float) -> float:
        """Seconds until the next token is due."""
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.per_second)
        self.stamp = now
        return max(0.0, (1.0 - self.tokens) / self.per_second)

    def full(self, now: float) -> bool:
        self.due_in(now)
        return self.tokens >= self.burst


_MAX_WAIT: ContextVar[float | None] = ContextVar("slack_call_max_wait", default=None)


@contextlib.contextmanager
def optional(max_wait: float = 0.0) -> Iterator[None]:
    """Calls made inside are skipped (CallSkipped) rather than wait over `max_wait` s."""
    token = _MAX_WAIT.set(max_wait)
    try:
        yield
    finally:
        _MAX_WAIT.reset(token)


class PacingMetrics:
    """The two counters of pacing, on the process's registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.paced_seconds = Counter(
            "meibel_bot_slack_paced_seconds",
            "Seconds Slack calls waited for their rate-limit budget, by method",
            ["method"],
            registry=registry,
        )
        self.skipped = Counter(
            "meibel_bot_slack_skipped_calls",
            "Optional Slack calls (progress signs) not made for want of budget, by method",
            ["method"],
            registry=registry,
        )


class Budgets:
    """This process's buckets; `take` before each call (see the module docstring)."""

    def __init__(
        self,
        limits: Limits,
        *,
        metrics: PacingMetrics | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limits = limits
        self.metrics = metrics
        self._clock = clock
        self._methods: dict[str, Bucket] = {}
        self._channels: dict[str, Bucket] = {}

    async def take(self, method: str, args: Mapping[str, Any]) -> float:
        """Wait for the call's token(s); the seconds waited. Raises CallSkipped (inside
        `optional`) when they are further away than allowed, TimeoutError when they come
        after the job run's deadline."""
        buckets = self.buckets(method, args)
        if not buckets:
            return 0.0
        now = self._clock()
        wait = max(bucket.due_in(now) for bucket in buckets)
        max_wait = _MAX_WAIT.get()
        if max_wait is not None and wait > max_wait:
            if self.metrics is not None:
                self.metrics.skipped.labels(method).inc()
            raise CallSkipped(f"{method}: no budget within {max_wait:g}s")
        left = time_left()
        if left is not None and wait > left:
            raise TimeoutError(f"{method}: its budget comes after the job's deadline")
        for bucket in buckets:
            bucket.tokens -= 1.0
        if wait <= 0:
            return 0.0
        if self.metrics is not None:
            self.metrics.paced_seconds.labels(method).inc(wait)
        try:
            await asyncio.sleep(wait)
        except asyncio.CancelledError:
            for bucket in buckets:  # never used: the next caller may have it
                bucket.tokens += 1.0
            raise
        return wait

    def buckets(self, method: str, args: Mapping[str, Any]) -> list[Bucket]:
        """The buckets a call of `method` with `args` draws on (none: not paced)."""
        rates = self.limits.rates(method)
        if not rates:
            return []
        now = self._clock()
        if method != POST_METHOD:
            bucket = self._methods.get(method)
            if bucket is None:
                bucket = self._methods[method] = Bucket(rates[0], now=now)
            return [bucket]
        workspace = self._methods.get(method)
        if workspace is None:
            workspace = self._methods[method] = Bucket(rates[1], now=now)
        channel = str(args.get("channel") or "")
        bucket = self._channels.get(channel)
        if bucket is None:
            if len(self._channels) >= _KEEP_CHANNELS:
                self._channels = {k: b for k, b in self._channels.items() if not b.full(now)}
            bucket = self._channels[channel] = Bucket(rates[0], now=now)
        return [bucket, workspace]


def call_args(kwargs: Mapping[str, Any]) -> Mapping[str, Any]:
    """The arguments of an AsyncWebClient.api_call, wherever slack_sdk put them."""
    for key in ("json", "data", "params"):
        value = kwargs.get(key)
        if isinstance(value, Mapping) and value.get("channel"):
            return value
    return {}


def unlimited() -> Limits:
    """No budgets at all (a test that is not about pacing, a tool)."""
    return Limits(methods={}, post_per_channel=Rate(1e9, 1e9), post_per_workspace=Rate(1e9, 1e9))
