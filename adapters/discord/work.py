"""The worker side: answering queued Discord jobs, from ids alone, at most once each.

Every Discord process runs these handlers on the "discord" queue. A job may have been
accepted by another process (another shard) and may run a second time after a worker
died; the job's journal (adapters.discord.journal) makes the second run continue the
first instead of repeating it: the same thread, no second notice, the earlier messages
edited into the answer.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import aiohttp
import discord
from pydantic import ValidationError

from adapters.deadline import answer_in_time
from adapters.discord import texts
from adapters.discord.acks import Ack, Acks
from adapters.discord.answering import Answerer
from adapters.discord.delivery import ChannelTarget, FollowupTarget, Target, journaled
from adapters.discord.final import Answered, Offer
from adapters.discord.history import with_context
from adapters.discord.jobs import (
    INTERACTION_JOB,
    MESSAGE_JOB,
    FileRef,
    InteractionWork,
    JobData,
    MessageWork,
)
from adapters.discord.journal import Journal
from adapters.discord.rest import DiscordRest
from bot.domain import Question, Tenant
from bot.store.base import StoreError
from bot.turnlog import TURN
from bot.work import Handler, Job, JobRejected, PostedLog, WorkConfig
from bot.work.fence import FenceLost

log = logging.getLogger(__name__)

# How long a worker waits to hear that intake acknowledged the interaction (intake does it
# right after queueing; Discord allows 3 seconds).
ACK_WAIT_SECONDS = 5.0
# Failures worth another delivery later: Discord, the network or the store being away.
TRANSIENT = (aiohttp.ClientError, OSError, TimeoutError, discord.DiscordServerError, StoreError)

W = TypeVar("W", bound=JobData)
DEFAULT_JOB_DEADLINE = WorkConfig().job_deadline


class DiscordWork:
    """The handlers for Discord jobs: `handlers()` goes to `queue.run(dispatch(...))`."""

    def __init__(
        self,
        *,
        answerer: Answerer,
        rest: DiscordRest,
        acks: Acks,
        posted: PostedLog,
        job_deadline: float = DEFAULT_JOB_DEADLINE,
    ) -> None:
        """`job_deadline`: how long a run may take when the worker sets no deadline."""
        self.answerer = answerer
        self.rest = rest
        self.acks = acks
        self.posted = posted
        self.job_deadline = job_deadline

    def handlers(self) -> dict[str, Handler]:
        return {MESSAGE_JOB: self.answer_message, INTERACTION_JOB: self.answer_interaction}

    # -- messages -----------------------------------------------------------------------
    async def answer_message(self, job: Job) -> None:
        work = _parse(MessageWork, job)
        journal = await Journal.open(self.posted, job)
        if journal.complete:
            log.info("%s was answered before; not again", job.describe())
            return
        here = ChannelTarget(
            self.rest.channel(work.channel_id),
            self.rest.reference(
                channel_id=work.channel_id, message_id=work.message_id, guild_id=work.guild_id
            ),
        )

        def places() -> list[Target]:
            thread = journal.thread  # in the question's thread if it was opened
            return [ChannelTarget(self.rest.channel(thread)), here] if thread else [here]

        async def apologize() -> None:
            if not await self.answerer.notify(texts.INTERNAL, places()):
                await self.rest.tell_user(work.author_id, texts.INTERNAL)

        async def too_late() -> None:
            if not await self.answerer.notify(texts.STILL_WORKING, places()):
                await self.rest.tell_user(work.author_id, texts.STILL_WORKING)

        await self._in_time(
            job, lambda: _guarded(job, self._message(job, work, journal, here), apologize), too_late
        )

    async def _message(self, job: Job, work: MessageWork, journal: Journal, here: Target) -> None:
        question = job.question
        wanted = work.context or bool(work.replied_to)
        if wanted and journal.get(TURN) is None:  # a re-run whose turn was sent needs none
            question = await with_context(
                question,
                self.rest.channel(work.channel_id),
                before=work.message_id,
                bot_id=work.bot_id,
                limits=self.answerer.services.pipeline.config.context,
                replied_to=work.replied_to,
            )
        if work.remember_thread:
            await self.answerer.remember_thread(
                job.tenant, thread_id=work.channel_id, parent_id=question.channel
            )
        targets: list[Target] = [here]
        typing = self.rest.channel(work.channel_id)
        if work.open_thread:
            opened = await self._thread(
                journal, tenant=job.tenant, parent=question.channel, work=work
            )
            if isinstance(opened, int):
                typing = self.rest.channel(opened)
                targets = [ChannelTarget(typing, name="thread"), here]
            elif not await self._notice_once(journal, _no_thread(opened), here):
                await self._cannot_post(work)
                return
        answered = await self._answer(
            job,
            question,
            journal,
            targets=targets,
            typing=typing,
            files=work.files,
            offer=await self._offer(job, question=(work.channel_id, work.message_id)),
        )
        if not answered.posted:
            await self._cannot_post(work)

    async def _thread(
        self, journal: Journal, *, tenant: Tenant, parent: str, work: MessageWork
    ) -> int | discord.HTTPException:
        if journal.thread is not None:
            return journal.thread
        opened = await self.rest.open_thread(
            channel_id=work.channel_id, message_id=work.message_id, name=work.thread_name
        )
        if isinstance(opened, int):
            await journal.opened_thread(opened)
            await self.answerer.remember_thread(tenant, thread_id=opened, parent_id=parent)
        return opened

    async def _cannot_post(self, work: MessageWork) -> None:
        note = texts.NO_SEND_PERMISSION.format(channel=work.channel_id)
        await self.rest.tell_user(work.author_id, note)

    # -- interactions -------------------------------------------------------------------
    async def answer_interaction(self, job: Job) -> None:
        work = _parse(InteractionWork, job)
        journal = await Journal.open(self.posted, job)
        if journal.complete:
            log.info("%s was answered before; not again", job.describe())
            return
        ack = await self.acks.wait(job.tenant, work.interaction_id, within=ACK_WAIT_SECONDS)
        if ack is Ack.GONE:
            log.info("%s: Discord did not take the acknowledgement; not answering", job.id)
            return
        if ack is None:
            log.warning("%s: no word on the acknowledgement; answering anyway", job.id)
        webhook = self.rest.followup(application_id=work.application_id, token=work.token)

        async def apologize() -> None:
            await self.answerer.notify(texts.INTERNAL, [FollowupTarget(webhook, ephemeral=True)])

        async def too_late() -> None:
            thread = journal.thread
            channel = self.rest.channel(thread or work.channel_id)
            places: list[Target] = [FollowupTarget(webhook, ephemeral=work.private)]
            if not work.private:
                places.append(ChannelTarget(channel))
            await self.answerer.notify(texts.STILL_WORKING, places)

        await self._in_time(
            job,
            lambda: _guarded(job, self._interaction(job, work, journal, webhook), apologize),
            too_late,
        )

    async def _interaction(
        self, job: Job, work: InteractionWork, journal: Journal, webhook: discord.Webhook
    ) -> None:
        question = job.question
        if (work.context_before or work.replied_to) and journal.get(TURN) is None:
            question = await with_context(
                question,
                self.rest.channel(work.channel_id),
                before=work.context_before,
                bot_id=work.bot_id,
                limits=self.answerer.services.pipeline.config.context,
                replied_to=work.replied_to,
            )
        followup = FollowupTarget(webhook, ephemeral=work.private)
        channel = self.rest.channel(work.channel_id)
        # A private answer has one place: the asker's eyes (no "typing" for the channel).
        targets: list[Target] = [followup] if work.private else [followup, ChannelTarget(channel)]
        typing: discord.abc.Messageable | None = None if work.private else channel
        question_at: tuple[int, int] | None = None
        if work.open_thread:
            thread_id, anchor = journal.thread, None
            if thread_id is None:
                anchor = await self.rest.show_original(webhook, work.header)
                opened = await self._anchor_thread(journal, job=job, work=work, anchor=anchor)
                thread_id = opened if isinstance(opened, int) else None
                if thread_id is None:
                    await self._notice_once(journal, _no_thread(opened), followup)
            # Without a thread, the answer's own message anchors the conversation.
            anchored = thread_id or anchor or work.interaction_id
            question = _in_thread(question, anchored)
            if thread_id is not None:
                typing = self.rest.channel(thread_id)
                targets = [ChannelTarget(typing, name="thread"), followup]
                question_at = (work.channel_id, thread_id)  # the thread's id is its anchor's
        answered = await self._answer(
            job,
            question,
            journal,
            targets=targets,
            typing=typing,
            files=work.files,
            offer=await self._offer(job, question=question_at, share=work.private),
        )
        if not answered.posted:
            log.error("could not post the answer to %s anywhere", job.describe())

    async def _anchor_thread(
        self, journal: Journal, *, job: Job, work: InteractionWork, anchor: int | None
    ) -> int | discord.HTTPException | None:
        if anchor is None:
            return None
        opened = await self.rest.open_thread(
            channel_id=work.channel_id, message_id=anchor, name=work.thread_name
        )
        if isinstance(opened, int):
            await journal.opened_thread(opened)
            await self.answerer.remember_thread(
                job.tenant, thread_id=opened, parent_id=job.question.channel
            )
        return opened

    # -- shared -------------------------------------------------------------------------
    async def _offer(
        self, job: Job, *, question: tuple[int, int] | None, share: bool = False
    ) -> Offer:
        """The buttons the channel's settings add: Share under a private answer, "I need
        a person" where someone is set to help (about the question's message, if any)."""
        places = self.answerer.services.pipeline.places
        settings = await places.get(job.tenant, job.question.channel)  # never raises
        handoff = (question or (int(job.question.channel), 0)) if settings.handoff else None
        return Offer(share=share, handoff=handoff)

    async def _in_time(
        self,
        job: Job,
        flow: Callable[[], Awaitable[None]],
        too_late: Callable[[], Awaitable[None]],
    ) -> None:
        """The job's flow within its deadline (adapters.deadline); past it, `too_late`
        says so in the thread, and the job ends (acknowledged)."""
        await answer_in_time(
            flow, job_deadline=self.job_deadline, too_late=too_late, what=job.describe()
        )

    async def _answer(
        self,
        job: Job,
        question: Question,
        journal: Journal,
        *,
        targets: list[Target],
        typing: discord.abc.Messageable | None,
        files: Sequence[FileRef],
        offer: Offer,
    ) -> Answered:
        webhook = next((t.webhook for t in targets if isinstance(t, FollowupTarget)), None)
        answered = await self.answerer.answer(
            question,
            typing_channel=typing,
            targets=journaled(targets, journal),
            files=files,
            download=self.rest.download,
            shown=self.rest.shown(journal.messages, webhook),
            journal=journal,
            offer=offer,
        )
        if answered.posted:
            await journal.completed()
        signal_id = answered.answer.signal_id
        log.info(
            "answered %s in %s (signal_id=%s)",
            job.id,
            question.thread_key,
            signal_id,
            extra={
                "job_id": job.id,
                "thread_key": str(question.thread_key),
                "signal_id": signal_id,
            },
        )
        return answered

    async def _notice_once(self, journal: Journal, text: str, target: Target) -> bool:
        """Post a notice unless an earlier run did; False when it could not be posted."""
        if journal.noticed:
            _skip_reply(target)
            return True
        if not await self.answerer.notify(text, [target]):
            return False
        await journal.posted_notice()
        return True


async def _guarded(
    job: Job, flow: Awaitable[None], apologize: Callable[[], Awaitable[None]]
) -> None:
    """Run a job's flow: outages go back to the queue (tried again later); a bug is logged
    and apologized for, once, rather than retried into the same bug."""
    try:
        await flow
    except (FenceLost, *TRANSIENT):
        raise  # FenceLost: another worker answers; nothing more from this run
    except Exception:
        log.exception("failed to answer %s", job.describe())
        try:
            await apologize()
        except Exception:  # the apology is a courtesy; the log above has the problem
            log.warning("could not apologize for %s either", job.id)


def _parse(model: type[W], job: Job) -> W:
    try:
        return model.from_data(job.data)
    except (ValidationError, ValueError) as exc:
        raise JobRejected(f"unreadable {job.kind} job: {type(exc).__name__}") from None


def _no_thread(outcome: object) -> str:
    if isinstance(outcome, discord.Forbidden):
        return texts.NO_THREAD_PERMISSION
    return texts.NO_THREAD


def _in_thread(question: Question, thread: int) -> Question:
    """The question keyed to the thread that was opened (or the message that anchors it)."""
    reply_to = {**question.reply_to, "thread_id": str(thread)}
    return question.model_copy(update={"thread": str(thread), "reply_to": reply_to})


def _skip_reply(target: Target) -> None:
    """The notice an earlier run posted already replied to the question."""
    if isinstance(target, ChannelTarget):
        target.reference = None
