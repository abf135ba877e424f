"""Arrival order per key: later callers never overtake, whatever each one awaits."""

from __future__ import annotations

import asyncio

from bot.ordering import ArrivalOrder


async def test_callers_of_one_key_take_turns_in_arrival_order() -> None:
    order: ArrivalOrder[str] = ArrivalOrder()
    done: list[int] = []
    gates = [asyncio.Event() for _ in range(3)]

    async def caller(n: int) -> None:
        async with order.turn("channel"):
            await gates[n].wait()  # the first caller is the slowest to finish its turn
            done.append(n)

    tasks = [asyncio.create_task(caller(n)) for n in range(3)]
    await asyncio.sleep(0)
    for gate in reversed(gates):  # release the last first: it must still wait its turn
        gate.set()
    await asyncio.gather(*tasks)
    assert done == [0, 1, 2]


async def test_other_keys_do_not_wait_and_a_cancelled_waiter_keeps_the_chain() -> None:
    order: ArrivalOrder[str] = ArrivalOrder()
    hold = asyncio.Event()
    done: list[str] = []

    async def caller(key: str, name: str, *, wait: bool = False) -> None:
        async with order.turn(key):
            if wait:
                await hold.wait()
            done.append(name)

    first = asyncio.create_task(caller("a", "a1", wait=True))
    await asyncio.sleep(0)
    cancelled = asyncio.create_task(caller("a", "a2"))
    third = asyncio.create_task(caller("a", "a3"))
    await caller("b", "b1")  # another key runs at once
    assert done == ["b1"]
    cancelled.cancel()
    await asyncio.sleep(0)
    assert done == ["b1"]  # a3 still waits for a1, though a2 left the line
    hold.set()
    await asyncio.gather(first, third, return_exceptions=True)
    assert done == ["b1", "a1", "a3"]


async def test_nothing_is_kept_for_waiters_that_were_cancelled_or_are_done() -> None:
    order: ArrivalOrder[str] = ArrivalOrder()
    hold = asyncio.Event()

    async def caller(key: str, *, wait: bool = False) -> None:
        async with order.turn(key):
            if wait:
                await hold.wait()

    first = asyncio.create_task(caller("a", wait=True))
    await asyncio.sleep(0)
    middle = asyncio.create_task(caller("a"))
    last = asyncio.create_task(caller("a"))  # the tail of the line, cancelled below
    other = asyncio.create_task(caller("b", wait=True))
    await asyncio.sleep(0)
    middle.cancel()
    last.cancel()
    other.cancel()
    await asyncio.gather(middle, last, other, return_exceptions=True)
    assert set(order._tails) == {"a"}  # the first caller still holds its turn
    hold.set()
    await first
    await asyncio.sleep(0)  # the cancelled waiters' turns end right after the first's
    assert order._tails == {}
