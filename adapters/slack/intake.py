"""Taking a question in, inside Slack's 3 s: recognise repeats, check fair use, queue it
durably, and tell the user privately whenever it is not taken.

Listeners call this before they return, and Bolt acknowledges only after they return
(`process_before_response`), so a question Slack sees acknowledged is already in the work
queue. Every store call here has its own short bound, and together they stay well inside
Slack's 3 s even when Redis hangs rather than fails.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from dataclasses import dataclass

from adapters.slack import texts
from adapters.slack.background import Background
from adapters.slack.posting import Whisper
from bot.metrics import Metrics
from bot.ratelimit import UserRateLimiter
from bot.store.base import Store, StoreError
from bot.work import Job, QueueUnavailable, WorkQueue

log = logging.getLogger(__name__)

PLATFORM = "slack"
# Bounds of each store call at intake: with the submit's own bound (WorkConfig, 1.2 s for
# Slack) they add up to about 2.4 s in the worst case, inside Slack's 3 s.
LOOKUP_SECONDS = 0.4
SUBMIT_SECONDS = 1.2
# Slack retries an event for about an hour at most; a day leaves a wide margin.
SIGHTING_TTL_SECONDS = 24 * 3600
TOLD_MEMORY = 10_000


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a question was not taken, and what the user is told."""

    reason: str  # for logs and metrics: rate_limited, queue_unavailable
    text: str


class Intake:
    def __init__(
        self,
        *,
        store: Store,
        queue: WorkQueue,
        limiter: UserRateLimiter,
        metrics: Metrics,
        background: Background,
    ) -> None:
        self.store = store
        self.queue = queue
        self.limiter = limiter
        self.metrics = metrics
        self.background = background
        # Jobs whose user was told something, so that a repeat delivery (app_mention and
        # message of one post, during an outage when the store cannot dedupe) says it once.
        self._told: collections.OrderedDict[str, None] = collections.OrderedDict()

    async def take_event(self, job: Job, *, whisper: Whisper, retry: bool, allowed: bool) -> None:
        """Queue an event's job once, or tell the poster privately why not.

        The same post comes as app_mention and as message, and again when Slack retries;
        the queue keeps the job once whatever the number of submits. Only the first
        delivery may count toward the rate limit or tell the user something (that takes
        one more store call, made only where it matters). With a rate limit, later
        deliveries are dropped, except Slack's retries, which are submitted (uncounted)
        in case the first delivery's process died before its submit.
        """
        if not allowed:
            if await self.first_sighting(job):
                self.tell(job, whisper, texts.CHANNEL_NOT_ALLOWED)
            return
        count = False
        if self.limiter.limit is not None:
            count = await self.first_sighting(job)
            if not count and not retry:
                return
        refusal = await self.accept(job, count=count)
        if refusal is not None:
            self.tell(job, whisper, refusal.text)

    async def first_sighting(self, job: Job) -> bool:
        """True for the first delivery of this job's event across every process.

        Used only to decide who *tells* or *counts*; the queue itself dedupes the job by
        id. Unknown (store down or slow): True, so the user hears about the outage.
        """
        try:
            async with asyncio.timeout(LOOKUP_SECONDS):
                return await self.store.claim_event(
                    job.tenant, f"seen:{job.id}", ttl_seconds=SIGHTING_TTL_SECONDS
                )
        except (StoreError, TimeoutError) as exc:
            log.warning("cannot tell whether %s is new: %s", job.id, str(exc) or "timeout")
            return True

    async def accept(self, job: Job, *, count: bool = True) -> Refusal | None:
        """Queue `job` unless its user is over the limit; None when it is queued.

        `count`: whether this delivery counts toward the user's limit (a retry of one
        already counted does not).
        """
        user = job.question.user
        if count and not await self.limiter.allow(job.tenant, user):
            limit = self.limiter.limit
            assert limit is not None  # allow() only refuses with a limit
            log.info("rate limit: %s refused for %s (%s)", job.id, user, limit)
            self.metrics.errors.labels(PLATFORM, "rate_limited").inc()
            return Refusal("rate_limited", texts.rate_limited(limit.count, limit.window_seconds))
        try:
            async with asyncio.timeout(SUBMIT_SECONDS):
                await self.queue.submit(job)
        except (QueueUnavailable, TimeoutError) as exc:
            log.error("could not queue %s in %s: %s", job.id, job.thread_key, exc or "timeout")
            self.metrics.errors.labels(PLATFORM, "queue_unavailable").inc()
            return Refusal("queue_unavailable", texts.UNAVAILABLE)
        log.info("queued %s in %s", job.id, job.thread_key)
        return None

    def tell(self, job: Job, whisper: Whisper, text: str) -> None:
        """Say `text` privately, once per job in this process, without delaying the ack."""
        if job.id in self._told:
            return
        self._told[job.id] = None
        if len(self._told) > TOLD_MEMORY:
            self._told.popitem(last=False)
        self.background.spawn(whisper(text), name=f"tell:{job.id}")
