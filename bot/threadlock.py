"""One answer at a time per thread: arrival order inside a process, a lock across processes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from bot.domain import ThreadKey
from bot.ordering import ArrivalOrder
from bot.store.base import Store
from bot.work.fence import time_left

log = logging.getLogger(__name__)

DEFAULT_TTL_SECONDS = 60.0  # WorkConfig.visibility_timeout's default


class ThreadBusy(Exception):
    """The thread's turn or lock did not come within the bound on waiting for it."""


RENEWER_STOP_SECONDS = 1.0


class ThreadLockLost(Exception):
    """The thread's lock expired or was taken while the holder still worked: its work was
    cancelled, as another process may be answering in the same thread now."""


@dataclass(slots=True)
class _Holding:
    lost: bool = False
    done: bool = False  # the body ended


class ThreadLocks:
    """Serializes work per thread.

    Inside one process, callers queue in arrival order (a chain of futures, so nobody can
    barge in when a turn ends). Across processes the store's lock keeps the same thread
    from being answered twice at once; it has a TTL, renewed every third of it while the
    holder works, so a crashed process frees it soon. Build it with the work queue's
    visibility timeout as the TTL (`ThreadLocks(store, ttl_seconds=config.visibility_timeout)`)
    so that the lock and the job's claim lapse together.

    Losing the lock ends the holder's work: the body of `hold()` is cancelled and
    `ThreadLockLost` raised out of it (as asyncio.timeout turns its cancel into
    TimeoutError). Waiting for the turn and the lock is bounded by `max_wait_seconds` and
    by the job run's deadline (bot.work.fence.time_left): past it, ThreadBusy.
    """

    def __init__(
        self,
        store: Store,
        *,
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
        max_wait_seconds: float = 600.0,
    ) -> None:
        if ttl_seconds <= 0:
            raise ValueError("ttl_seconds must be positive")
        self._store = store
        self._ttl = ttl_seconds
        self._max_wait = max_wait_seconds
        self._arrival: ArrivalOrder[ThreadKey] = ArrivalOrder()

    @contextlib.asynccontextmanager
    async def hold(self, key: ThreadKey) -> AsyncIterator[None]:
        """Hold the thread for the block; ThreadBusy if that does not come in time,
        ThreadLockLost (the block cancelled) if the lock is lost meanwhile."""
        bound = self._max_wait
        left = time_left()
        if left is not None:
            bound = max(0.0, min(bound, left))
        async with contextlib.AsyncExitStack() as stack:
            try:
                async with asyncio.timeout(bound):
                    await stack.enter_async_context(self._arrival.turn(key))
                    token = await self._acquire(key)
            except TimeoutError:
                raise ThreadBusy(f"{key}: no turn within {bound:.0f}s") from None
            async with self._renewed(key, token):
                yield

    async def _acquire(self, key: ThreadKey) -> str:
        token = secrets.token_hex(16)
        delay = 0.005
        while not await self._store.acquire_lock(key, token, ttl_seconds=self._ttl):
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.25)
        return token

    @contextlib.asynccontextmanager
    async def _renewed(self, key: ThreadKey, token: str) -> AsyncIterator[None]:
        task = asyncio.current_task()
        assert task is not None
        cancelling = task.cancelling()
        holding = _Holding()
        loop = asyncio.get_running_loop()
        renewer = asyncio.create_task(self._renew(key, token, task, holding, loop.time()))
        try:
            yield
        except asyncio.CancelledError:
            if holding.lost and task.uncancel() <= cancelling:
                raise ThreadLockLost(str(key)) from None
            raise
        finally:
            holding.done = True  # before any await: the renewer cancels no one from here on
            renewer.cancel()
            # Not `await renewer`: redis-py can swallow a cancellation that lands while a
            # command is in flight, and a renewer that missed it would keep this answer
            # (and its thread) waiting forever. It stops by itself on `done` anyway.
            await asyncio.wait({renewer}, timeout=RENEWER_STOP_SECONDS)
            if not holding.lost:
                try:
                    await self._store.release_lock(key, token)
                except Exception:  # the TTL frees it anyway; an answer is not lost for this
                    log.warning("could not release the lock of %s; it expires by itself", key)

    async def _renew(
        self,
        key: ThreadKey,
        token: str,
        holder: asyncio.Task[Any],
        holding: _Holding,
        acquired_at: float,
    ) -> None:
        """Renew every third of the TTL; when the lock is gone (or could not be renewed
        for a whole TTL since the last renewal was sent), cancel the holder."""
        loop = asyncio.get_running_loop()
        renewed_at = acquired_at
        while not holding.done:
            await asyncio.sleep(self._ttl / 3)
            if holding.done:
                return
            sent_at = loop.time()
            try:
                async with asyncio.timeout(self._ttl / 3):
                    kept = await self._store.renew_lock(key, token, ttl_seconds=self._ttl)
            except Exception as exc:
                kept = loop.time() - renewed_at < self._ttl
                log.warning("could not renew the lock of %s (%s)", key, type(exc).__name__)
            else:
                renewed_at = sent_at
            if not kept and not holding.done:
                log.error("lost the lock of %s while answering; ending that answer", key)
                holding.lost = True
                holder.cancel()
                return
