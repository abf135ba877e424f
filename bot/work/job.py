"""A unit of accepted work, as it travels through the queue, and what runs it."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping

from pydantic import BaseModel, ConfigDict, Field

from bot.domain import Question, Tenant, ThreadKey

log = logging.getLogger(__name__)


# Job.data fields that are secrets: adapters keep any credential a job needs under these
# names, and nothing kept after the run holds them.
SECRET_FIELDS = frozenset({"token"})


class Job(BaseModel):
    """One accepted piece of work: a question to answer, a button click to act on, ...

    `id` is the idempotency key (e.g. "slack:T1:Ev123"): a second submit of the same id is
    ignored, and the posted log is keyed by it. `kind` picks the handler. `seq` is the
    job's place in its thread, given by the queue at submit (callers leave it at 0):
    workers answer a thread's jobs in `seq` order even across processes.
    """

    model_config = ConfigDict(frozen=True)

    id: str = Field(min_length=1)
    kind: str = Field(min_length=1)
    question: Question
    data: dict[str, str] = {}
    accepted_at: float
    seq: int = 0

    @classmethod
    def accept(
        cls, *, id: str, kind: str, question: Question, data: Mapping[str, str] | None = None
    ) -> Job:
        """A job accepted now."""
        return cls(
            id=id, kind=kind, question=question, data=dict(data or {}), accepted_at=time.time()
        )

    @property
    def tenant(self) -> Tenant:
        return self.question.thread_key.tenant

    @property
    def thread_key(self) -> ThreadKey:
        return self.question.thread_key

    def without_secrets(self) -> Job:
        """The job as kept after its run (dead letters): no `data` field named in
        SECRET_FIELDS (a Discord interaction token lets anyone post as the bot)."""
        data = {k: v for k, v in self.data.items() if k not in SECRET_FIELDS}
        return self.model_copy(update={"data": data})

    def describe(self) -> str:
        """For logs: which job, in which thread (never the question's text)."""
        return f"{self.kind} {self.id} in {self.thread_key} (#{self.seq})"


Handler = Callable[[Job], Awaitable[None]]
"""Does the job; returning means done (acked), raising means try again later."""


class JobRejected(Exception):
    """Raised by a handler for a job that can never succeed: dead-lettered without retries."""


def dispatch(handlers: Mapping[str, Handler]) -> Handler:
    """One handler that routes each job to the handler registered for its `kind`.

    Every worker on a queue must know every kind submitted to it; an unknown kind is a
    deployment mistake, so the job goes straight to the dead letters (logged) instead of
    bouncing between workers.
    """
    table = dict(handlers)

    async def handle(job: Job) -> None:
        handler = table.get(job.kind)
        if handler is None:
            raise JobRejected(f"no handler for kind {job.kind!r} (known: {sorted(table)})")
        await handler(job)

    return handle
