"""Pacing a live answer's writes: the latest state at most once per interval.

Discord rate-limits message edits, and an edit per streamed word would hit the limit at
once. The pacer keeps only the newest snapshot and writes it when its turn comes:

- the first text is written the moment it arrives (no waiting for a tick);
- activity alone (no text yet) waits one interval, so a fast agent's first words are not
  preceded by a status-only message that is edited a moment later;
- after that, a write comes at least `interval` seconds after the previous one began,
  with whatever is newest by then (older snapshots are simply skipped).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.work.fence import FenceLost

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What the answer looks like now: its text so far and the agent's current activity."""

    text: str
    status: str | None = None


Write = Callable[[Snapshot], Awaitable[None]]


class Pacer:
    """Calls `write` with the latest snapshot, one write at a time, paced as above.

    `write` should handle its own failures; one that raises is logged and the pacing goes on.
    """

    def __init__(self, write: Write, *, interval: float) -> None:
        self._write = write
        self.interval = interval
        self._pending: Snapshot | None = None
        self._first_seen: float | None = None
        self._last_write: float | None = None
        self._text_written = False
        self._stopping = False
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def written(self) -> bool:
        """Whether anything was written yet."""
        return self._last_write is not None

    def update(self, snapshot: Snapshot) -> None:
        """Make `snapshot` the next thing to write (replacing any not yet written)."""
        if self._stopping:
            return
        now = _now()
        if self._first_seen is None:
            self._first_seen = now
        self._pending = snapshot
        self._wake.set()
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="discord-live-answer")

    async def drain(self) -> None:
        """Stop: a write in progress completes, a pending snapshot is dropped."""
        self._stopping = True
        self._pending = None
        self._wake.set()
        if self._task is not None:
            await self._task

    def cancel(self) -> None:
        """Stop at once (on shutdown); safe to call after drain()."""
        self._stopping = True
        if self._task is not None and not self._task.done():
            self._task.cancel()

    async def wait_turn(self) -> None:
        """Until a write would be allowed now (for the answer's final write)."""
        if self._last_write is not None:
            delay = self._last_write + self.interval - _now()
            if delay > 0:
                await asyncio.sleep(delay)

    def _due(self, snapshot: Snapshot) -> float:
        if snapshot.text and not self._text_written:
            return _now()
        if self._last_write is None:
            assert self._first_seen is not None  # set by the update that made it pending
            return self._first_seen + self.interval
        return self._last_write + self.interval

    async def _run(self) -> None:
        while not self._stopping:
            snapshot = self._pending
            if snapshot is None:
                self._wake.clear()
                await self._wake.wait()
                continue
            delay = self._due(snapshot) - _now()
            if delay > 0:
                # Sleep until the turn comes, unless something newer (maybe the first
                # text, which goes at once) or a stop arrives first.
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await self._wake.wait()
                continue
            self._pending = None
            self._last_write = _now()
            self._text_written = self._text_written or bool(snapshot.text)
            try:
                await self._write(snapshot)
            except FenceLost:
                # Another worker answers now: nothing more is shown from this run.
                log.info("stopped the live answer: the job was taken over")
                self._stopping = True
            except Exception:
                log.exception("writing the live answer failed")


def _now() -> float:
    return asyncio.get_running_loop().time()
