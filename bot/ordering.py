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
    and a caller cancelled while waiting hands its turn on only after the one before."""

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
                previous.add_done_callback(lambda _: _finish(mine))
            else:
                _finish(mine)
                if self._tails.get(key) is mine:
                    del self._tails[key]


def _finish(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
