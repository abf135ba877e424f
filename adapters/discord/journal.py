"""What one job has done in Discord so far, so that running it again never posts twice.

A worker can die mid-answer (after opening the thread, after posting part of the answer,
after posting all of it but before the queue heard it was done). The journal, kept in the
queue's posted log under the job's id, says how far it got: the thread it opened, the
notice it posted, every message of the answer (by how to reach it again), and whether
the answer was complete. A re-run skips what was done and edits the messages already
shown instead of posting new ones.

Writes are best effort: a store that fails here is logged and the answer goes on; at
worst a re-run after a crash *and* a store failure posts again, which beats not answering.
"""

from __future__ import annotations

import logging

from bot.store.base import StoreError
from bot.work import Job, PostedLog

log = logging.getLogger(__name__)

THREAD = "thread"
NOTICE = "notice"
MESSAGES = "messages"
COMPLETE = "complete"


class Journal:
    """The journal of one job; `open` reads what an earlier run left."""

    def __init__(self, posted: PostedLog | None, job: Job, info: dict[str, str]) -> None:
        self._posted = posted
        self._job = job
        self._info = dict(info)

    @classmethod
    async def open(cls, posted: PostedLog, job: Job) -> Journal:
        try:
            before = await posted.get(job)
        except StoreError as exc:
            log.warning("could not read what %s posted before: %s", job.describe(), exc)
            before = None
        journal = cls(posted, job, before.info if before else {})
        if before is not None and before.info:
            log.info("%s runs again; it had posted: %s", job.describe(), journal.summary())
        return journal

    # -- what was done ------------------------------------------------------------------
    @property
    def complete(self) -> bool:
        return self._info.get(COMPLETE) == "1"

    @property
    def thread(self) -> int | None:
        value = self._info.get(THREAD)
        return int(value) if value else None

    @property
    def noticed(self) -> bool:
        return NOTICE in self._info

    @property
    def messages(self) -> list[str]:
        return self._info.get(MESSAGES, "").split()

    def summary(self) -> str:
        parts = [f"{name}={value}" for name, value in self._info.items() if name != MESSAGES]
        return ", ".join([*parts, f"{len(self.messages)} message(s)"])

    # -- noting progress ----------------------------------------------------------------
    async def opened_thread(self, thread_id: int) -> None:
        await self._set(THREAD, str(thread_id))

    async def posted_notice(self) -> None:
        await self._set(NOTICE, "1")

    async def posted(self, ref: str) -> None:
        await self._set(MESSAGES, " ".join([*self.messages, ref]))

    async def deleted(self, ref: str) -> None:
        await self._set(MESSAGES, " ".join(m for m in self.messages if m != ref))

    async def completed(self) -> None:
        await self._set(COMPLETE, "1")

    # -- the job's notes (bot.turnlog.Notes: what the pipeline notes about its turn) ------
    def get(self, name: str) -> str | None:
        return self._info.get(name) or None

    async def note(self, **values: str) -> None:
        """Add notes and write them at once; a store failure is logged, never raised."""
        self._info.update(values)
        await self._write()

    async def _set(self, name: str, value: str) -> None:
        self._info[name] = value
        await self._write()

    async def _write(self) -> None:
        if self._posted is None:
            return
        try:
            await self._posted.record(self._job, self._info)
        except StoreError as exc:
            log.warning("could not note what %s posted: %s", self._job.describe(), exc)
