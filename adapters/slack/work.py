"""The worker side: every Slack process runs queued Slack jobs and answers them in Slack.

A job may be run twice (its worker died before acknowledging it); each handler reads the
job's journal first and reuses what the earlier run showed, so a user never sees a second
"asked" line or a second answer (see journal.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from slack_bolt.context.respond.async_respond import AsyncRespond

from adapters.deadline import answer_in_time
from adapters.slack import texts
from adapters.slack.home import note_question
from adapters.slack.inbound import reply_to
from adapters.slack.jobs import ASK, CLICK, POST, ClickWork, PostWork
from adapters.slack.journal import ASKED, Journal
from adapters.slack.posting import Whisper
from adapters.slack.responder import Progress
from adapters.slack.texts import shorten
from adapters.slack.threads import is_bot_thread
from bot.domain import Answer, Question, Tenant
from bot.store.base import StoreError
from bot.turnlog import TURN
from bot.work import Handler, Job, dispatch

if TYPE_CHECKING:
    from adapters.slack.app import SlackBot

log = logging.getLogger(__name__)

TITLE_CHARS = 60
# Beyond the grace, what the queue may take to hand back what it holds.
STOP_MARGIN_SECONDS = 3.0


class SlackWork:
    """Runs the Slack jobs of one process until stopped."""

    def __init__(self, *, bot: SlackBot) -> None:
        self.bot = bot
        self._running: asyncio.Task[Any] | None = None

    def handler(self) -> Handler:
        return dispatch(
            {
                POST: self._in_time(self.answer_post),
                ASK: self._in_time(self.answer_ask),
                CLICK: self._in_time(self.answer_click),
            }
        )

    async def run(self) -> None:
        """Take jobs until `stop`; at most WORKER_CONCURRENCY answers at once, and no more
        than Slack lets this process post within half a job's deadline (see `held`)."""
        self._running = asyncio.current_task()
        try:
            await self.bot.queue.run(self.handler(), concurrency=self.held())
        finally:
            self._running = None

    def held(self) -> int:
        """The answers this process holds at once. Slack lets a workspace post a few
        hundred messages a minute (SLACK_POSTS_PER_MINUTE): answers held beyond what that
        budget can post in half a job's deadline would wait past it for their turn to post,
        and end as "still working" notices. Left in the queue instead, they wait safely
        and start as room frees up."""
        postable = self.bot.limits.answers_postable(self.bot.fleet.work.job_deadline / 2)
        return min(self.bot.fleet.concurrency, postable)

    async def stop(self) -> None:
        """Take no new jobs; give answers in flight SHUTDOWN_GRACE_SECONDS; leave the rest
        in the queue for the next worker. Bounded: a queue that does not stop by then
        (a task that lived through its cancellation) has `run` cancelled."""
        grace = self.bot.fleet.grace_seconds
        try:
            async with asyncio.timeout(grace + STOP_MARGIN_SECONDS):
                await self.bot.queue.stop(grace_seconds=grace)
        except TimeoutError:
            log.warning("the worker did not stop within %.0fs; cancelling it", grace)
            if self._running is not None:
                self._running.cancel()

    # -- the jobs --------------------------------------------------------------------------
    async def answer_post(self, job: Job, journal: Journal) -> None:
        """A message addressed to the bot: answered in its thread."""
        bot = self.bot
        work = PostWork.of(job)
        question = work.question
        if journal.get(TURN) is None:  # a re-run whose turn was sent needs neither
            question = await bot.identity.fill(question)
            if not work.assistant:  # what was said in the thread before
                question = await bot.history.with_context(question)
        whisper = bot.ephemeral(
            channel=question.channel, user=question.user, thread_ts=work.whisper_thread
        )
        if await self._refused(question, whisper):
            return
        if work.assistant:
            title = None if journal.rerun else await self._title(question)
            progress = Progress(react_to=work.react_to, assistant=True, title=title)
        else:
            progress = Progress(react_to=work.react_to)
        answer = await bot.responder.respond(
            question,
            progress=progress,
            whisper=whisper,
            files=work.files,
            journal=journal,
            private=await self._private(question),
        )
        await self._answered(job, question, answer)

    async def answer_ask(self, job: Job, journal: Journal) -> None:
        """`/ask`: "<@user> asked: ..." as a new message, then the answer in its thread."""
        bot, asked = self.bot, job.question
        whisper = self._whisper(job.data.get("response_url"), asked, thread_ts=None)
        if await self._refused(asked, whisper):
            return
        if await self._private(asked):  # no public "asked" line: shown only to the asker
            answer = await bot.responder.respond(
                await bot.identity.fill(asked),
                progress=Progress(),
                whisper=whisper,
                journal=journal,
                private=True,
            )
            await self._answered(job, asked, answer)
            return
        ts = journal.get(ASKED)
        if ts is None:
            ts = await bot.post_asked(
                channel=asked.channel, thread_ts=None, user=asked.user, text=asked.text,
                whisper=whisper,
            )  # fmt: skip
            if ts is None:
                return  # refused; the user was told how to fix it
            await journal.note(**{ASKED: ts})
        question = (await bot.identity.fill(asked)).model_copy(
            update={
                "thread": ts,
                "reply_to": reply_to(
                    channel=asked.channel,
                    thread_ts=ts,
                    message_ts=ts,
                    team=asked.reply_to.get("team"),
                ),
            }
        )
        answer = await bot.responder.respond(
            question, progress=Progress(react_to=ts), whisper=whisper, journal=journal
        )
        await self._answered(job, question, answer)

    async def answer_click(self, job: Job, journal: Journal) -> None:
        """A follow-up, call to action or "Try again": asked in the clicked message's
        thread and session, as the clicker."""
        bot = self.bot
        work = ClickWork.of(job)
        question = work.question
        # Only the bot's refusal to post needs the response_url: it works without membership.
        refused = self._whisper(work.response_url, question, thread_ts=question.thread)
        if await self._refused(question, refused):
            return
        private = await self._private(question)
        react_to = work.message_ts
        if not (work.retry or private):
            asked = journal.get(ASKED)
            if asked is None:
                asked = await bot.post_asked(
                    channel=question.channel,
                    thread_ts=question.thread,
                    user=question.user,
                    text=work.shown,
                    whisper=refused,
                )
                if asked is None:
                    return
                await journal.note(**{ASKED: asked})
            react_to = asked
        question = (await bot.identity.fill(question)).model_copy(
            update={"reply_to": {**question.reply_to, "message_ts": react_to}}
        )
        # In a DM thread the assistant status is the natural sign; outside assistant
        # threads Slack refuses it, and the reaction is used instead.
        progress = Progress(react_to=react_to, assistant=question.channel.startswith("D"))
        answer = await bot.responder.respond(
            question, progress=progress, whisper=refused, journal=journal, private=private
        )
        await self._answered(job, question, answer)

    async def _answered(self, job: Job, question: Question, answer: Answer | None) -> None:
        """Log the answer; note the question for the asker's Home tab (adapters.slack.home)."""
        _log_answered(job, answer)
        if answer is not None and answer.ok:
            await note_question(
                self.bot.store,
                workspace=question.workspace,
                user=question.user,
                text=question.text,
                channel=question.channel,
                thread=question.thread,
            )

    # -- the job's deadline -----------------------------------------------------------------
    def _in_time(self, answer: Callable[[Job, Journal], Awaitable[None]]) -> Handler:
        """The job's handler: `answer` within the job's deadline (see adapters.deadline);
        past it, the honest notice in the thread, and the job ends (acknowledged)."""

        async def handle(job: Job) -> None:
            log.info("answering %s", job.describe())
            journal = await Journal.open(self.bot.queue.posted, job)
            await answer_in_time(
                lambda: answer(job, journal),
                job_deadline=self.bot.fleet.work.job_deadline,
                too_late=lambda: self._too_late(job, journal),
                what=job.describe(),
            )

        return handle

    async def _too_late(self, job: Job, journal: Journal) -> None:
        """The answer did not come in time: say so where the answer would have gone, with
        "Try again" (the agent may still answer; the user decides whether to ask again)."""
        question = job.question
        if job.kind == ASK:
            asked = journal.get(ASKED)
            if asked is None:  # not even the question was posted: only the user can be told
                whisper = self._whisper(job.data.get("response_url"), question, thread_ts=None)
                await whisper(texts.STILL_WORKING)
                return
            question = question.model_copy(update={"thread": asked})
        await self.bot.responder.post_notice(question, texts.STILL_WORKING, retry=True)

    # -- helpers ---------------------------------------------------------------------------

    async def _refused(self, question: Question, whisper: Whisper) -> bool:
        """REFUSE_EXTERNAL_USERS refuses guest accounts too (people from another
        organisation are refused before their job is queued)."""
        if not self.bot.policies.refuse_external or question.channel.startswith("D"):
            return False
        if not (await self.bot.identity.role(question.user)).guest:
            return False
        await whisper(texts.EXTERNAL_REFUSED)
        return True

    async def _private(self, question: Question) -> bool:
        """The channel's managers chose private answers (never in a direct message)."""
        if question.channel.startswith("D"):
            return False
        tenant = Tenant(question.platform, question.workspace)
        return (await self.bot.places.get(tenant, question.channel)).private()

    def _whisper(
        self, response_url: str | None, question: Question, *, thread_ts: str | None
    ) -> Whisper:
        """A private note through the command's or click's response_url (it works where the
        bot is not a member), else an ephemeral message."""
        if response_url:
            return self.bot.responder_url(AsyncRespond(response_url=response_url))
        return self.bot.ephemeral(channel=question.channel, user=question.user, thread_ts=thread_ts)

    async def _title(self, question: Question) -> str | None:
        """An assistant thread's title, from its first question."""
        try:
            first = not await is_bot_thread(self.bot.store, question.thread_key)
        except StoreError:
            first = False
        return shorten(question.text, TITLE_CHARS) if first and question.text else None


def _log_answered(job: Job, answer: Answer | None) -> None:
    if answer is None:
        return
    log.info(
        "answered %s kind=%s signal_id=%s",
        job.describe(),
        answer.kind.value,
        answer.signal_id or "-",
    )
