"""Every run ends: a handler that never returns is cancelled at its deadline plus the hard
grace, the job is acknowledged and its thread's next question answered; the watchdog logs
what it awaited and counts it. Both queues."""

from __future__ import annotations

import asyncio
import dataclasses
import logging

import pytest

from bot.store import RedisStore
from bot.work import Job, LocalWorkQueue, RedisWorkQueue
from bot.work.fence import time_left
from tests.work.helpers import FAST, eventually, job, running

FAST_DEADLINE = dataclasses.replace(FAST, job_deadline=0.4, deadline_grace=0.4)


async def never_woken() -> None:
    """A pacing wait nobody wakes: what the watchdog should name."""
    await asyncio.Event().wait()


@pytest.mark.parametrize("kind", ["redis", "local"])
async def test_a_job_that_never_ends_is_cut_at_its_deadline_and_frees_its_thread(
    kind: str, redis_store: RedisStore, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    queue: RedisWorkQueue | LocalWorkQueue
    queue = (
        RedisWorkQueue(redis_store, config=FAST_DEADLINE)
        if kind == "redis"
        else LocalWorkQueue(redis_store, config=FAST_DEADLINE)
    )
    stuck, after = job(1, thread="t"), job(2, thread="t")
    await queue.submit(stuck)
    await queue.submit(after)
    answered: list[str] = []
    budgets: list[float] = []

    async def handler(j: Job) -> None:
        budgets.append(time_left() or 0.0)
        if j.id == stuck.id:
            await never_woken()
        answered.append(j.id)

    async with running(queue, handler):

        async def next_answered() -> bool:
            return answered == [after.id]

        await eventually(next_answered, within=5)

        async def settled() -> bool:
            stats = await queue.stats()
            return stats.pending == 0 and stats.waiting == 0

        await eventually(settled)
        stats = await queue.stats()
    assert stats.overdue == 1 and stats.dead == 0
    assert all(0.3 < b <= 0.4 for b in budgets)  # the handler knew its deadline
    watchdog = [r for r in caplog.records if r.getMessage().startswith("watchdog:")]
    assert len(watchdog) == 1 and "never_woken" in watchdog[0].getMessage()
    assert "slack:T1:C1:t" in watchdog[0].getMessage()  # the thread key
    assert any(
        r.levelno == logging.ERROR and "past its deadline: cancelled" in r.getMessage()
        for r in caplog.records
    )
