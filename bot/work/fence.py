"""Fencing: a run of a job may act only while it still owns the job.

A worker whose event loop stalls (a VM pause, SIGSTOP, a long GC) can lose its claim on
a job to another worker. When it wakes up it must not post, record or acknowledge
anything more for that job. The worker sets the current run's fence (a context variable,
so that the handler's code needs no extra argument); code about to do something a user or
a service would see calls `await guard()` first, which raises `FenceLost` when the run no
longer owns its job.

The same context carries the run's deadline: `time_left()` tells a handler how long it
has before the worker gives up on it, so that it can end with an honest notice in time.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections.abc import Awaitable, Callable, Iterator
from typing import Protocol


class FenceLost(Exception):
    """This run no longer owns its job: another worker took it over. Stop, post nothing."""


class Fence(Protocol):
    """The right of one run to act for its job."""

    async def check(self) -> None:
        """Return if the run still owns its job, else raise FenceLost.

        Cheap while the run's lease is fresh (no I/O); asks the queue when it is not.
        """


_current: contextvars.ContextVar[Fence | None] = contextvars.ContextVar(
    "meibel_bot_fence", default=None
)
_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "meibel_bot_deadline", default=None
)


def current_fence() -> Fence | None:
    """The fence of the job run this task works for, if any."""
    return _current.get()


@contextlib.contextmanager
def fenced(fence: Fence, *, deadline: float | None = None) -> Iterator[None]:
    """Inside, `guard()` checks `fence` and `time_left()` counts down to `deadline` (the
    event loop's time); the worker wraps each handler call in this."""
    token = _current.set(fence)
    deadline_token = _deadline.set(deadline)
    try:
        yield
    finally:
        _deadline.reset(deadline_token)
        _current.reset(token)


def time_left() -> float | None:
    """Seconds until the current job run's deadline (may be negative); None outside a job."""
    deadline = _deadline.get()
    if deadline is None:
        return None
    return deadline - asyncio.get_running_loop().time()


async def guard() -> None:
    """Raise FenceLost when the current job run lost its job; a no-op outside a job."""
    fence = _current.get()
    if fence is not None:
        await fence.check()


class Lease:
    """The fence of one run of a job: trusted without I/O for `lease_seconds` after the
    last renewal was *sent* (nobody can take the job over earlier than the visibility
    timeout after that), verified with the queue after that.

    `verify()` renews the claim if the run still owns its job and says whether it does;
    it may raise (the queue is unreachable): then it is tried again, with pauses, for up
    to `verify_seconds`, after which the run counts as lost; so is a verification whose
    answer came back later than the lease (it proves nothing about now). `epoch` moves on
    every verification, so a cache of what the run read (the posted log) knows to read
    again.
    """

    def __init__(
        self,
        *,
        verify: Callable[[], Awaitable[bool]],
        lease_seconds: float,
        verify_seconds: float,
        renewed_at: float,
    ) -> None:
        self._verify = verify
        self._lease = lease_seconds
        self._verify_for = verify_seconds
        self.renewed_at = renewed_at
        self.lost = False
        self.epoch = 0
        self._checking: asyncio.Lock | None = None

    def renewed(self, sent_at: float) -> None:
        """The claim was renewed by a request sent at `sent_at` (the loop's time)."""
        self.renewed_at = max(self.renewed_at, sent_at)

    def lose(self) -> None:
        self.lost = True

    def fresh(self) -> bool:
        loop = asyncio.get_running_loop()
        return not self.lost and loop.time() - self.renewed_at < self._lease

    async def check(self) -> None:
        if self.fresh():
            return
        if self.lost:
            raise FenceLost("this run's job was taken over")
        if self._checking is None:
            self._checking = asyncio.Lock()
        async with self._checking:  # one verification at a time; the others reuse it
            if self.fresh():
                return
            if self.lost:
                raise FenceLost("this run's job was taken over")
            await self._verify_now()

    async def _verify_now(self) -> None:
        loop = asyncio.get_running_loop()
        give_up = loop.time() + self._verify_for
        pause = 0.05
        while True:
            sent_at = loop.time()
            try:
                owned = await self._verify()
            except Exception as exc:  # the queue is unreachable: we cannot know
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise asyncio.CancelledError from exc  # a client that hid a cancel
                if loop.time() + pause >= give_up:
                    self.lose()
                    raise FenceLost(f"could not verify this run's claim ({exc!r})") from exc
                await asyncio.sleep(pause)
                pause = min(pause * 2, 1.0)
                continue
            self.epoch += 1
            if not owned:
                self.lose()
                raise FenceLost("this run's job was taken over")
            self.renewed(sent_at)
            if self.fresh():
                return
            # The answer took longer than the lease: it proves nothing about now.
            if loop.time() >= give_up:
                self.lose()
                raise FenceLost("the queue answers too slowly to verify this run's claim")


class Unfenced:
    """The fence of a run nobody else can take over (the in-process queue): it is lost
    only when the worker itself gives the run up."""

    def __init__(self) -> None:
        self.lost = False
        self.epoch = 0

    def lose(self) -> None:
        self.lost = True

    async def check(self) -> None:
        if self.lost:
            raise FenceLost("this run was given up")
