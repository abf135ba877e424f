"""Start-up contracts shared by every platform: a refused credential stops the process
at once (exit 2), an unreachable platform gets a few tries (then exit 1)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")


class PlatformRefused(Exception):
    """The platform answered, and refused a credential: retrying cannot help."""

    def __init__(self, line: str) -> None:
        super().__init__(line)
        self.line = line


class PlatformUnreachable(Exception):
    """The platform did not answer at start-up, after every try."""

    def __init__(self, line: str) -> None:
        super().__init__(line)
        self.line = line


@dataclass(frozen=True, slots=True)
class StartRetries:
    """How hard start-up tries to reach a platform: `tries` attempts, the wait doubling
    from `backoff_seconds` between them."""

    tries: int = 3
    backoff_seconds: float = 2.0


async def reach(
    attempt: Callable[[], Awaitable[T]],
    *,
    what: str,
    retries: StartRetries,
    unreachable: tuple[type[BaseException], ...],
) -> T:
    """`attempt()`, tried again (one log line each) while it raises one of `unreachable`;
    PlatformUnreachable once the tries are used up. PlatformRefused passes straight through."""
    delay = retries.backoff_seconds
    for number in range(1, retries.tries + 1):
        try:
            return await attempt()
        except unreachable as exc:
            reason = describe(exc)
            if number == retries.tries:
                raise PlatformUnreachable(
                    f"cannot reach {what} ({reason}) after {retries.tries} tries: "
                    "check the network, or that the URL is right"
                ) from None
            log.warning(
                "cannot reach %s (%s): try %d of %d, again in %.1fs",
                what,
                reason,
                number,
                retries.tries,
                delay,
            )
        await asyncio.sleep(delay)
        delay *= 2
    raise AssertionError("unreachable: the loop returns or raises")


def describe(exc: BaseException) -> str:
    """A short, secret-free name for a transport failure: 'connection refused', 'timed out'."""
    seen: BaseException | None = exc
    while seen is not None:  # aiohttp keeps the OS error in `os_error`, others in the cause
        if isinstance(seen, ConnectionRefusedError):
            return "connection refused"
        if isinstance(seen, TimeoutError):
            return "timed out"
        seen = getattr(seen, "os_error", None) or seen.__cause__
    return type(exc).__name__
