"""What the fake Discord received, and the failures tests ask it to give."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

DEFAULT_WAIT = 10.0


@dataclass(slots=True)
class Call:
    """One REST request as the fake saw it (the token is never kept)."""

    method: str
    path: str  # without the /api/v10 prefix
    query: dict[str, str]
    json: Any = None
    files: list[tuple[str, bytes]] = field(default_factory=list)  # (filename, content)
    status: int = 0
    # When the request arrived (time.monotonic(), the clock asyncio's loop uses).
    at: float = field(default_factory=time.monotonic)

    def matches(self, method: str, pattern: str) -> bool:
        return self.method == method and re.fullmatch(pattern, self.path) is not None

    @property
    def message_payload(self) -> dict[str, Any] | None:
        """The message this call posts or edits, if it is such a call."""
        if not isinstance(self.json, dict):
            return None
        if self.method == "POST" and self.path.endswith("/callback"):
            data = self.json.get("data")
            return data if self.json.get("type") in (4, 7) and isinstance(data, dict) else None
        posting = self.method == "POST" and (
            re.fullmatch(r"/channels/\d+/messages", self.path)
            or re.fullmatch(r"/webhooks/\d+/[^/]+", self.path)
        )
        editing = self.method == "PATCH" and "/messages/" in self.path
        return self.json if posting or editing else None


@dataclass(slots=True)
class Hold:
    """Requests matching `method` and `pattern` wait (recorded, unanswered) until released."""

    method: str
    pattern: str
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    released: asyncio.Event = field(default_factory=asyncio.Event)

    def release(self) -> None:
        self.released.set()


@dataclass(slots=True)
class Fault:
    method: str
    pattern: str
    status: int
    code: int
    message: str
    remaining: int


class Recorder:
    """Calls in arrival order, with a condition to wait on instead of sleeping."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self._changed = asyncio.Condition()
        self._faults: list[Fault] = []
        self._holds: list[Hold] = []

    async def add(self, call: Call) -> None:
        async with self._changed:
            self.calls.append(call)
            self._changed.notify_all()

    async def wait_for(
        self,
        predicate: Callable[[Call], bool],
        *,
        count: int = 1,
        within: float = DEFAULT_WAIT,
    ) -> list[Call]:
        """The first `count` answered calls that match, waiting up to `within` seconds."""

        def found() -> list[Call]:
            return [c for c in self.calls if c.status and predicate(c)]

        async with asyncio.timeout(within), self._changed:
            await self._changed.wait_for(lambda: len(found()) >= count)
        return found()[:count]

    async def until(self, condition: Callable[[], bool], *, within: float = DEFAULT_WAIT) -> None:
        """Until `condition()` holds, checked whenever a call arrives or is answered."""
        async with asyncio.timeout(within), self._changed:
            await self._changed.wait_for(condition)

    async def answered(self, call: Call, status: int) -> None:
        async with self._changed:
            call.status = status
            self._changed.notify_all()

    def find(self, method: str, pattern: str) -> list[Call]:
        return [c for c in self.calls if c.matches(method, pattern)]

    # -- holds --------------------------------------------------------------------------
    def hold(self, method: str, pattern: str) -> Hold:
        """Keep matching requests waiting until `release()` (to look at the bot meanwhile)."""
        hold = Hold(method, pattern)
        self._holds.append(hold)
        return hold

    async def wait_if_held(self, call: Call) -> None:
        for hold in self._holds:
            if hold.method == call.method and re.fullmatch(hold.pattern, call.path):
                hold.arrived.set()
                async with asyncio.timeout(DEFAULT_WAIT):
                    await hold.released.wait()

    # -- faults -------------------------------------------------------------------------
    def fail(
        self,
        method: str,
        pattern: str,
        *,
        status: int,
        code: int,
        message: str = "refused by the test",
        times: int = 1,
    ) -> None:
        """Answer the next `times` matching requests with a Discord error."""
        self._faults.append(Fault(method, pattern, status, code, message, times))

    def take_fault(self, method: str, path: str) -> Fault | None:
        for fault in self._faults:
            if fault.remaining and fault.method == method and re.fullmatch(fault.pattern, path):
                fault.remaining -= 1
                return fault
        return None
