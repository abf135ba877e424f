"""Showing a growing answer without flooding Slack: the latest state, at a steady pace.

The pipeline may produce many updates a second; Slack allows about one edit a second per
message. A Pacer runs one sender in the background that always sends the *latest* state,
at most once per interval and never two calls at once, and right away when asked to (the
first text of an answer must not wait for the interval).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from bot.work.fence import FenceLost

log = logging.getLogger(__name__)


class Pacer:
    """Calls `send()` after `poke()`s, at most once per `interval` seconds."""

    def __init__(self, send: Callable[[], Awaitable[None]], *, interval: float) -> None:
        self._send = send
        self._interval = interval
        self._wanted = asyncio.Event()
        self._closing = asyncio.Event()
        self._kick = asyncio.Event()  # cuts a wait short: urgent news, or closing
        self._urgent = False
        self._lock = asyncio.Lock()  # one call at a time
        self._last = -float("inf")
        self._task: asyncio.Task[None] | None = None

    def poke(self, *, urgent: bool = False) -> None:
        """There is something new to show; `urgent` skips the wait for the interval."""
        if self._closing.is_set():
            return
        self._wanted.set()
        if urgent:
            self._urgent = True
            self._kick.set()
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="slack-pacer")

    async def now(self) -> None:
        """Send at once (after any call in flight), whatever the interval."""
        if self._closing.is_set():
            return
        self._wanted.clear()
        self._urgent = False
        await self._send_once()

    async def close(self) -> None:
        """Stop sending: waits for a call in flight (each Slack call is bounded), drops
        what was not sent yet. Cancelled while it waits, it cancels that call too."""
        self._stop()
        task = self._task
        if task is None:
            return
        try:
            await asyncio.wait({task})
        except asyncio.CancelledError:
            task.cancel()
            raise

    def cancel(self) -> None:
        """Stop at once, a call in flight included (the job is being cut short)."""
        self._stop()
        if self._task is not None:
            self._task.cancel()

    def _stop(self) -> None:
        self._closing.set()
        self._wanted.set()
        self._kick.set()

    async def _run(self) -> None:
        while True:
            await self._wanted.wait()
            if self._closing.is_set():
                return
            delay = self._last + self._interval - time.monotonic()
            if delay > 0 and not self._urgent:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._kick.wait(), timeout=delay)
                self._kick.clear()
                continue  # look again: closing, sent meanwhile, or now due
            self._kick.clear()
            self._wanted.clear()
            self._urgent = False
            await self._send_once()

    async def _send_once(self) -> None:
        async with self._lock:
            self._last = time.monotonic()
            try:
                await self._send()
            except FenceLost:
                # Another worker answers now: nothing more is shown from this run (the
                # handler hears it at its next call).
                log.info("stopped showing the answer's progress: the job was taken over")
                self._stop()
            except Exception:
                # The sender handles Slack's refusals; anything else is a bug to log, not a
                # reason to stop showing the answer.
                log.exception("could not show the answer's progress")
