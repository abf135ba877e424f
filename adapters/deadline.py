"""A job run's time, for the adapters' handlers: the answer gets the run's deadline less a
reserve; past that, the thread is told in the reserve that the answer did not come in
time (the agent may still be working), and the handler returns, so the job is acknowledged
and its thread is free for the next question.

The run's deadline is the worker's (bot.work.fence.time_left()); a handler run outside a
worker that sets one gets `job_deadline` seconds from its start, so that every call on the
way (bounded by time_left()) sees the same clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator

from bot.work.fence import current_fence, fenced, time_left

log = logging.getLogger(__name__)

# Kept back from the answer for the notice; a quarter of a short deadline (tests).
NOTICE_RESERVE_SECONDS = 15.0


class _Unfenced:
    """The fence of a run that has none: it never loses its job."""

    async def check(self) -> None:
        return None


@contextlib.contextmanager
def run_deadline(job_deadline: float) -> Iterator[float]:
    """Inside, time_left() counts down to the run's deadline; yields the seconds left."""
    left = time_left()
    if left is not None:
        yield left
        return
    deadline = asyncio.get_running_loop().time() + job_deadline
    with fenced(current_fence() or _Unfenced(), deadline=deadline):
        yield job_deadline


async def answer_in_time(
    answer: Callable[[], Awaitable[None]],
    *,
    job_deadline: float,
    too_late: Callable[[], Awaitable[None]],
    what: str,
) -> bool:
    """Run `answer()` until the run's deadline less the reserve; past it, cancel it and run
    `too_late()` within the reserve. True when the answer finished in time. FenceLost and
    the answer's own errors propagate."""
    with run_deadline(job_deadline) as left:
        left = max(left, 0.0)
        reserve = min(NOTICE_RESERVE_SECONDS, left / 4)
        bound = asyncio.timeout(left - reserve)
        try:
            async with bound:
                await answer()
            return True
        except TimeoutError:
            if not bound.expired():
                raise  # a call of the answer's own timed out
        log.warning("%s: no answer %.0fs into the job; telling the thread", what, left - reserve)
        try:
            async with asyncio.timeout(reserve):
                await too_late()
        except TimeoutError:
            log.warning("%s: could not tell the thread in time either", what)
        return False


def call_bound(seconds: float) -> float:
    """`seconds`, or less when the run's deadline comes sooner."""
    left = time_left()
    return seconds if left is None else max(min(seconds, left), 0.01)
