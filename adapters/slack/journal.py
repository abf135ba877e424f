"""What one job already showed in Slack, noted as it happens so that a re-run never posts twice.

A worker can die (kill -9, a lost host) after posting part of an answer and before the job
is acknowledged; another worker then runs the job again. Before each thing a user would
see twice, the handler reads the journal: the "asked" line is reused, a message already
started (streamed or edited) is finished in place rather than a second one started, and an
answer already delivered is not delivered again.

The notes live in the queue's posted log (bot.work.posted), in the store. Between a Slack
call and its note there is an unavoidable gap of one store write; a crash exactly there can
still repeat that one step, which is why every note is written right after its call.
"""

from __future__ import annotations

import logging

from bot.store.base import StoreError
from bot.work import Job, PostedLog

log = logging.getLogger(__name__)

ASKED = "asked"  # ts of the "<@user> asked: ..." line (/ask, follow-up and action clicks)
MESSAGE = "message"  # ts of the answer's first message, once it exists
VIA = "via"  # how that message was made: "stream" (chat streaming), "edit" or "post"
ANSWERED = "answered"  # "1" once the whole answer is in the thread
REACTED = "reacted"  # "1" once the progress reaction is on the question (progress.py)


class Journal:
    """The notes of one job; a journal without a log (tests, direct calls) keeps none."""

    def __init__(
        self, *, posted: PostedLog | None = None, job: Job | None = None, notes: dict[str, str]
    ) -> None:
        self._log = posted
        self._job = job
        self._notes = dict(notes)

    @classmethod
    def none(cls) -> Journal:
        return cls(notes={})

    @classmethod
    async def open(cls, posted: PostedLog, job: Job) -> Journal:
        """The job's notes so far. Unreadable (store down): start empty, since the answer
        would fail on the same store anyway and say so in the thread."""
        try:
            record = await posted.get(job)
        except StoreError as exc:
            log.warning("posted log unreadable for %s: %s", job.describe(), exc)
            record = None
        return cls(posted=posted, job=job, notes=record.info if record else {})

    @property
    def rerun(self) -> bool:
        """True when an earlier run of this job already showed something."""
        return bool(self._notes)

    def get(self, name: str) -> str | None:
        return self._notes.get(name) or None

    async def note(self, **values: str) -> None:
        """Add notes and write them at once; a store failure is logged, never raised (the
        answer goes on; at worst a re-run repeats this step)."""
        self._notes.update(values)
        if self._log is None or self._job is None:
            return
        try:
            await self._log.record(self._job, self._notes)
        except StoreError as exc:
            log.warning("could not note %s for %s: %s", sorted(values), self._job.describe(), exc)
