"""Accepting a question: the user's fair share checked, then the job queued durably.

Both happen before Discord is acknowledged, so an acknowledged question is never lost:
when the queue cannot take it (Redis away, backlog full) the user is told at once to try
again, instead of watching "thinking..." that never ends.
"""

from __future__ import annotations

import enum
import logging

from adapters.discord import texts
from adapters.discord.acks import Acks
from bot.ratelimit import UserRateLimiter
from bot.work import Job, QueueUnavailable, WorkQueue

log = logging.getLogger(__name__)

UNITS = {1: "second", 60: "minute", 3600: "hour", 86400: "day"}


class Verdict(enum.Enum):
    QUEUED = "queued"
    LIMITED = "limited"  # over USER_RATE_LIMIT: not queued, no Meibel call
    UNAVAILABLE = "unavailable"  # the queue refused: not queued, the user should retry


class Intake:
    """Where the gateway handlers hand their jobs; `acks` notes how Discord took them."""

    def __init__(self, *, queue: WorkQueue, limiter: UserRateLimiter, acks: Acks) -> None:
        self.queue = queue
        self.limiter = limiter
        self.acks = acks

    async def accept(self, job: Job) -> Verdict:
        question = job.question
        if not await self.limiter.allow(job.tenant, question.user):
            log.info("user %s is over the rate limit in %s", question.user, question.thread_key)
            return Verdict.LIMITED
        try:
            await self.queue.submit(job)
        except QueueUnavailable as exc:
            log.warning("could not queue %s: %s", job.describe(), exc)
            return Verdict.UNAVAILABLE
        log.info("queued %s", job.describe(), extra={"job_id": job.id})
        return Verdict.QUEUED

    def refusal(self, verdict: Verdict) -> str:
        """What the user reads when their question was not queued."""
        limit = self.limiter.limit
        if verdict is Verdict.LIMITED and limit is not None:
            return texts.rate_limited(limit.count, UNITS.get(limit.window_seconds, "period"))
        return texts.UNAVAILABLE
