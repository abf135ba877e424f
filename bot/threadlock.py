"""One answer at a time per thread: arrival order inside a process, a lock across processes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator

from bot.domain import ThreadKey
from bot.ordering import ArrivalOrder
from bot.store.base import Store

log = logging.getLogger(__name__)


class ThreadBusy(Exception):
    """The thread's lock stayed taken for longer than we are willing to wait."""


class ThreadLocks:
    """Serializes work per thread.

    Inside one process, callers queue in arrival order (a chain of futures, so nobody can
    barge in when a turn ends). Across processes the store's lock keeps the same thread
    from being answered twice at once; it has a TTL, renewed while the holder works, so a
    crashed process frees it soon.
    """

    def __init__(
        self,
        store: Store,
        *,
        ttl_seconds: float = 30.0,
        max_wait_seconds: float = 600.0,
    ) -> None:
        self._store = store
        self._ttl = ttl_seconds
        self._max_wait = max_wait_seconds
        self._arrival: ArrivalOrder[ThreadKey] = ArrivalOrder()

    @contextlib.asynccontextmanager
    async def hold(self, key: ThreadKey) -> AsyncIterator[None]:
        async with self._arrival.turn(key), self._shared_lock(key):
            yield

    @contextlib.asynccontextmanager
    async def _shared_lock(self, key: ThreadKey) -> AsyncIterator[None]:
        token = secrets.token_hex(16)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._max_wait
        delay = 0.005
        while not await self._store.acquire_lock(key, token, ttl_seconds=self._ttl):
            if loop.time() + delay > deadline:
                raise ThreadBusy(str(key))
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.25)
        renewer = asyncio.create_task(self._renew(key, token))
        try:
            yield
        finally:
            renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewer
            try:
                await self._store.release_lock(key, token)
            except Exception:  # the TTL frees it anyway; an answer is not lost for this
                log.warning("could not release the lock of %s; it expires by itself", key)

    async def _renew(self, key: ThreadKey, token: str) -> None:
        while True:
            await asyncio.sleep(self._ttl / 3)
            try:
                if not await self._store.renew_lock(key, token, ttl_seconds=self._ttl):
                    log.warning("lost the lock of %s while answering", key)
                    return
            except Exception:
                log.warning("could not renew the lock of %s; will try again", key)
