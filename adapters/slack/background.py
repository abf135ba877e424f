"""Work that listeners start and do not wait for: kept referenced, logged, drained at exit."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)


@dataclass
class Background:
    """Tasks started by listeners, kept referenced (asyncio holds only weak references)."""

    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def spawn(self, work: Coroutine[Any, Any, None], *, name: str) -> None:
        task = asyncio.create_task(self._guard(work, name), name=name)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    @staticmethod
    async def _guard(work: Coroutine[Any, Any, None], name: str) -> None:
        try:
            await work
        except Exception:
            log.exception("background work %s failed", name)

    async def idle(self) -> None:
        """Return once no task is left (tasks may start more tasks)."""
        while self.tasks:
            await asyncio.wait(set(self.tasks))

    async def drain(self, *, grace_seconds: float) -> None:
        """Let running answers finish (bounded), then cancel what is left."""
        if not self.tasks:
            return
        _done, pending = await asyncio.wait(set(self.tasks), timeout=grace_seconds)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=1.0)
