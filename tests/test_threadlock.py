"""The thread lock across processes: losing it ends the work that held it, and waiting for
it is bounded. Real Redis."""

from __future__ import annotations

import asyncio

import pytest

from bot.domain import ThreadKey
from bot.store import RedisStore
from bot.threadlock import ThreadBusy, ThreadLockLost, ThreadLocks
from bot.work.fence import Unfenced, fenced

KEY = ThreadKey.of("slack", "T1", "C1", "1.0")


async def test_losing_the_lock_cancels_the_holders_work_and_says_so(
    redis_store: RedisStore,
) -> None:
    locks = ThreadLocks(redis_store, ttl_seconds=0.6)
    reached_end = False

    async def answer() -> None:
        nonlocal reached_end
        async with locks.hold(KEY):
            await redis_store.client.delete(redis_store.lock_key(KEY))  # another took it
            await asyncio.sleep(5)  # the agent thinking, far past a renewal
            reached_end = True

    async with asyncio.timeout(3):
        with pytest.raises(ThreadLockLost):
            await answer()
    assert not reached_end
    assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]
    async with asyncio.timeout(1), locks.hold(KEY):  # the thread is usable again
        pass


async def test_a_lock_kept_longer_than_its_ttl_is_renewed(redis_store: RedisStore) -> None:
    locks = ThreadLocks(redis_store, ttl_seconds=0.3)
    async with locks.hold(KEY):
        await asyncio.sleep(1.0)  # three TTLs
        assert await redis_store.client.exists(redis_store.lock_key(KEY))


async def test_waiting_for_the_lock_ends_at_the_job_deadline(redis_store: RedisStore) -> None:
    other = ThreadLocks(redis_store, ttl_seconds=5)  # another process holds the thread
    locks = ThreadLocks(redis_store, ttl_seconds=5, max_wait_seconds=600)
    loop = asyncio.get_running_loop()
    async with other.hold(KEY):
        started = loop.time()
        with fenced(Unfenced(), deadline=started + 0.3), pytest.raises(ThreadBusy):
            async with locks.hold(KEY):
                pass
        assert loop.time() - started < 1.0


def test_the_default_ttl_agrees_with_the_default_visibility_timeout() -> None:
    from bot.work import WorkConfig

    locks = ThreadLocks(
        object(),
    )  # type: ignore[arg-type]
    assert locks._ttl == WorkConfig().visibility_timeout
