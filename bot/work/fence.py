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
from collections.abc import Iterator
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
