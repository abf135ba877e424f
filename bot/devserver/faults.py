"""What can go wrong on purpose: random fault rates and queued, deterministic answers."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Literal

FaultKind = Literal[
    "lose_session", "rate_limit", "error", "drop_after_request", "drop_after_connected"
]
# Where a dropped connection is cut: right after the request was read (the agent runs the
# turn anyway), or for /chat/stream right after the `connected` event.
DropPoint = Literal["request", "connected"]


@dataclass
class Faults:
    """Random misbehaviour of chat calls (`/chat` and `/chat/stream`).

    Rates are fractions in [0, 1]. One draw per chat decides the outcome, so the rates
    add up (lose_session, rate_limit, error, drop_after_request, drop_after_connected) and
    a given seed replays the same sequence of outcomes for the same sequence of calls.
    The drops cut the connection without an answer while the agent still runs the turn
    and records it in the session; drop_after_connected is a drop after the request on
    /chat, which has no `connected` event.
    """

    latency_seconds: float = 0.0
    error_rate: float = 0.0
    rate_limit_rate: float = 0.0
    retry_after_seconds: int = 1
    lose_session_rate: float = 0.0
    drop_after_request_rate: float = 0.0
    drop_after_connected_rate: float = 0.0
    seed: int | None = 0
    rng: random.Random = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in (
            "error_rate",
            "rate_limit_rate",
            "lose_session_rate",
            "drop_after_request_rate",
            "drop_after_connected_rate",
        ):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be within [0, 1], got {value}")
        if self.latency_seconds < 0:
            raise ValueError("latency_seconds must not be negative")
        self.rng = random.Random(self.seed)

    def draw(self) -> FaultKind | None:
        """The fault for the next chat call, if any."""
        if not (
            self.lose_session_rate
            or self.rate_limit_rate
            or self.error_rate
            or self.drop_after_request_rate
            or self.drop_after_connected_rate
        ):
            # Keep the random stream untouched while no fault is configured, so turning one
            # on later still starts from the seed's first value.
            return None
        roll = self.rng.random()
        threshold = self.lose_session_rate
        if roll < threshold:
            return "lose_session"
        threshold += self.rate_limit_rate
        if roll < threshold:
            return "rate_limit"
        threshold += self.error_rate
        if roll < threshold:
            return "error"
        threshold += self.drop_after_request_rate
        if roll < threshold:
            return "drop_after_request"
        threshold += self.drop_after_connected_rate
        if roll < threshold:
            return "drop_after_connected"
        return None


@dataclass
class QueuedResponse:
    """A canned answer for the next `remaining` requests whose path contains `path_contains`."""

    status: int
    remaining: int
    headers: dict[str, str]
    body: dict[str, object] | None
    path_contains: str
    method: str | None = None

    def matches(self, method: str, path: str) -> bool:
        if self.remaining <= 0:
            return False
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return self.path_contains in path


@dataclass
class StreamFailure:
    """Break the next `remaining` streams after `after_partials` partial_response events."""

    remaining: int
    after_partials: int
    # abort: cut the connection without a word; otherwise send an `error` event and end.
    abort: bool = False


@dataclass
class QueuedDrop:
    """Cut the next `remaining` chats whose path contains `path_contains` at `at`."""

    at: DropPoint
    remaining: int
    path_contains: str

    def matches(self, at: DropPoint, path: str) -> bool:
        return self.remaining > 0 and self.at == at and self.path_contains in path


def default_error_body(status: int) -> dict[str, object]:
    """The `{"code", "message"}` body the API guide shows for non-422 errors."""
    known: dict[int, tuple[str, str]] = {
        400: ("bad_request", "Bad request"),
        401: ("unauthorized", "Invalid API key"),
        403: ("forbidden", "Forbidden"),
        404: ("not_found", "Not found"),
        405: ("method_not_allowed", "Method not allowed"),
        408: ("timeout", "Request timed out"),
        409: ("conflict", "Conflict"),
        429: ("rate_limited", "Rate limit exceeded"),
        500: ("internal_error", "Internal server error"),
        502: ("bad_gateway", "Bad gateway"),
        503: ("service_unavailable", "Service temporarily unavailable"),
        504: ("timeout", "Upstream timed out"),
    }
    code, message = known.get(status, (f"http_{status}", f"HTTP {status}"))
    return {"code": code, "message": message}
