"""Turns in arrival order, per key, inside one process."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class ArrivalOrder(Generic[K]):
    """`async with order.turn(key):` runs callers of one key one at a time, in the order
    they arrived. A chain of futures, not a lock: nobody can barge in when a turn ends,
    and a caller cancelled while waiting hands its turn on only after the one before.
    A key is forgotten as soon as its last caller is done or gone."""

    def __init__(self) -> None:
        self._tails: dict[K, asyncio.Future[None]] = {}

    @contextlib.asynccontextmanager
    async def turn(self, key: K) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        previous = self._tails.get(key)
        mine: asyncio.Future[None] = loop.create_future()
        self._tails[key] = mine
        try:
            if previous is not None:
                await asyncio.shield(previous)
            yield
        finally:
            if previous is not None and not previous.done():
                # Cancelled while waiting: the turn passes on only after the one before.
                previous.add_done_callback(lambda _: self._release(key, mine))
            else:
                self._release(key, mine)

    def _release(self, key: K, mine: asyncio.Future[None]) -> None:
        """End a turn; forget the key when nobody queued behind it."""
        _finish(mine)
        if self._tails.get(key) is mine:
            del self._tails[key]


def _finish(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
