"""Slash commands, the "Ask Meibel" context menu and button clicks: the intake side.

Every interaction is checked against the allow-lists, then its question is queued, then
Discord is acknowledged (a deferral, or the public "asked" line of a click), all within
Discord's 3 seconds; a worker (adapters.discord.work) answers through the interaction's
webhook. A second delivery of the same interaction is the same job: queued once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import discord

from adapters.discord import texts
from adapters.discord.access import AllowList
from adapters.discord.acks import Ack
from adapters.discord.answering import Answerer
from adapters.discord.buttons import CommentButton
from adapters.discord.delivery import NO_PINGS
from adapters.discord.history import shown_text
from adapters.discord.inbound import (
    DM_WORKSPACE,
    PLATFORM,
    Place,
    asker_of,
    interaction_event_id,
    role_ids,
    thread_name,
    to_question,
    where_of,
)
from adapters.discord.intake import Intake, Verdict
from adapters.discord.jobs import INTERACTION_JOB, InteractionWork, file_refs, job_id
from adapters.discord.payloads import load_button
from adapters.discord.places import interaction_place
from adapters.discord.question_files import question_text
from bot import feedback, replies
from bot.domain import Tenant, ThreadKey
from bot.store.base import StoreError
from bot.work import Job

log = logging.getLogger(__name__)

Interaction = discord.Interaction[Any]
Files = Sequence[discord.Attachment]
ALREADY_ACKNOWLEDGED = 40060  # a second delivery of an interaction we answered


def messageable(channel: object) -> discord.abc.Messageable | None:
    return channel if isinstance(channel, discord.abc.Messageable) else None


class CommentModal(discord.ui.Modal, title="Your feedback"):
    """One text box; what is submitted goes to `keep`."""

    comment: discord.ui.TextInput[discord.ui.Modal] = discord.ui.TextInput(
        label="What was right or wrong with this answer?",
        style=discord.TextStyle.paragraph,
        max_length=2000,
    )

    def __init__(self, keep: Callable[[Interaction, str], Awaitable[None]]) -> None:
        super().__init__(timeout=15 * 60)
        self.keep = keep

    async def on_submit(self, interaction: Interaction) -> None:
        await self.keep(interaction, str(self.comment.value).strip())


@dataclass(frozen=True, slots=True)
class Context:
    """Where "Ask Meibel" on a message finds its context (see InteractionWork)."""

    before: int = 0
    replied_to: int = 0
    bot_id: int = 0


class InteractionHandlers:
    """What each command and button does; the client's `meibel_buttons` is one of these."""

    def __init__(
        self, *, client: discord.Client, answerer: Answerer, allow: AllowList, intake: Intake
    ) -> None:
        self.client = client
        self.answerer = answerer
        self.allow = allow
        self.intake = intake

    # -- entry points -------------------------------------------------------------------
    async def ask(
        self,
        interaction: Interaction,
        question: str,
        file: discord.Attachment | None = None,
    ) -> None:
        """/ask: in a channel, a new public thread; in a thread or DM, that conversation."""
        header = texts.asked_by(interaction.user.id, question)
        files = (file,) if file is not None else ()
        await self._guarded(
            interaction, self._ask(interaction, question, header=header, files=files)
        )

    async def ask_about(self, interaction: Interaction, message: discord.Message) -> None:
        """The "Ask Meibel" message command: asks about the selected message (its text,
        and its files when they can go to the agent)."""
        streaming = self.answerer.services.streaming
        text = question_text(message.content.strip(), message.attachments, streaming=streaming)
        if not text:
            await self._private(interaction, texts.NO_TEXT_IN_MESSAGE)
            return
        header = texts.asked_about(interaction.user.id, message.jump_url, text)
        in_thread = isinstance(message.channel, discord.Thread)
        ref = message.reference
        context = Context(
            before=message.id if in_thread else 0,
            replied_to=ref.message_id or 0
            if ref is not None and ref.channel_id == message.channel.id and not in_thread
            else 0,
            bot_id=interaction.client.user.id if interaction.client.user else 0,
        )
        flow = self._ask(
            interaction, text, header=header, files=message.attachments, context=context
        )
        await self._guarded(interaction, flow)

    async def new(self, interaction: Interaction) -> None:
        """/new: the thread's next message starts a fresh Meibel session."""
        await self._guarded(interaction, self._new(interaction))

    async def on_follow_up(self, interaction: Interaction, key: str) -> None:
        """A follow-up button: ask its question in the answer's thread, as the clicker."""
        await self._guarded(interaction, self._click(interaction, key))

    async def on_action(self, interaction: Interaction, key: str) -> None:
        """A call-to-action button: ask the agent to do it, in the answer's thread."""
        await self._guarded(interaction, self._click(interaction, key))

    async def on_feedback(self, interaction: Interaction, verdict: str, signal_id: str) -> None:
        """Thumbs up or down: kept for the agent's owners (bot.feedback), then thanked
        privately, with "Add a comment" (the store's own timeouts bound the wait)."""
        self.answerer.services.pipeline.metrics.feedback.labels(PLATFORM, verdict).inc()
        message = interaction.message
        shown = shown_text(message) if message is not None else ""
        await self._keep_feedback(
            interaction,
            verdict,
            signal_id,
            link=message.jump_url if message is not None else "",
            answer=shown,
            ask_question=True,
        )
        view = discord.ui.View(timeout=None)
        view.add_item(CommentButton("up" if verdict == "positive" else "down", signal_id))
        try:
            await interaction.response.send_message(
                texts.FEEDBACK_THANKS, view=view, ephemeral=True, allowed_mentions=NO_PINGS
            )
        except discord.HTTPException as exc:
            log.warning("could not thank for feedback (status %s)", exc.status)

    async def on_comment(self, interaction: Interaction, verdict: str, signal_id: str) -> None:
        """ "Add a comment": a modal; what is written is kept beside the verdict."""

        async def keep(submitted: Interaction, comment: str) -> None:
            await self._keep_feedback(submitted, verdict, signal_id, comment=comment)
            await self._private(submitted, texts.COMMENT_THANKS)

        await interaction.response.send_modal(CommentModal(keep))

    async def _keep_feedback(
        self,
        interaction: Interaction,
        verdict: str,
        signal_id: str,
        *,
        link: str = "",
        answer: str = "",
        comment: str = "",
        ask_question: bool = False,
    ) -> None:
        workspace = str(interaction.guild_id) if interaction.guild_id else DM_WORKSPACE
        channel = interaction.channel_id or 0
        thread = getattr(interaction.channel, "id", channel)
        store = self.answerer.services.store
        share = self.answerer.services.pipeline.config.identity.share
        try:
            tenant = Tenant(PLATFORM, workspace)
            question = await feedback.asked(store, tenant, signal_id) if ask_question else ""
            await feedback.record(
                store,
                feedback.Feedback(
                    at=time.time(),
                    platform=PLATFORM,
                    workspace=workspace,
                    channel=str(channel),
                    thread=str(thread),
                    verdict=verdict,
                    signal_id=signal_id,
                    link=link,
                    question=question,
                    answer=feedback.excerpt(answer),
                    user=str(interaction.user.id) if share else "",
                    comment=comment,
                ),
            )
        except StoreError as exc:
            log.warning("could not keep feedback on %s: %s", signal_id, exc)

    # -- flows ------------------------------------------------------------------------
    async def _ask(
        self,
        interaction: Interaction,
        text: str,
        *,
        header: str,
        files: Files = (),
        context: Context | None = None,
    ) -> None:
        place = await self._admit(interaction)
        if place is None:
            return
        # In a plain channel the answer opens a thread; until then the interaction's id
        # keys the conversation (and keeps it if no thread can be opened). A blank
        # question gets the hint right here, and no empty thread. Where the channel answers
        # privately, the asker alone sees it, in a conversation of their own.
        private = await self._private_here(place)
        open_thread = place.thread is None and bool(text.strip()) and not private
        key = place.key(None if place.thread and not private else str(interaction.id))
        job = self._job(
            interaction,
            key,
            text,
            open_thread=open_thread,
            header=header,
            files=files,
            context=context or Context(),
            private=private,
        )
        if await self._queue(interaction, job):
            await self._acknowledge(interaction, job, self._defer(interaction, private))

    async def _new(self, interaction: Interaction) -> None:
        place = await self._admit(interaction)
        if place is None:
            return
        if place.thread is None:
            await self._private(interaction, texts.NEW_IN_CHANNEL)
            return
        try:
            await self.answerer.services.pipeline.reset(place.key())
        except StoreError as exc:
            log.warning("could not reset %s: %s", place.key(), exc)
            await self._private(interaction, replies.STORE_UNAVAILABLE.text)
            return
        log.info("new session requested in %s", place.key())
        await self._private(interaction, texts.NEW_SESSION)

    async def _click(self, interaction: Interaction, key: str) -> None:
        place = await self._admit(interaction)
        if place is None:
            return
        try:
            payload = await load_button(self.answerer.services.store, tenant=place.tenant, key=key)
        except StoreError as exc:
            log.warning("could not read button %s: %s", key, exc)
            await self._private(interaction, replies.STORE_UNAVAILABLE.text)
            return
        if payload is None:
            await self._private(interaction, texts.BUTTON_EXPIRED)
            return
        private = await self._private_here(place)
        job = self._job(
            interaction, payload.thread_key(place.tenant), payload.text, private=private
        )
        if await self._queue(interaction, job):
            # Acknowledges the click and shows who asked, before the agent works.
            shown = interaction.response.send_message(
                texts.asked_by(interaction.user.id, payload.text),
                allowed_mentions=NO_PINGS,
                ephemeral=private,
            )
            await self._acknowledge(interaction, job, shown)

    # -- helpers ------------------------------------------------------------------------
    def _job(
        self,
        interaction: Interaction,
        key: ThreadKey,
        text: str,
        *,
        open_thread: bool = False,
        header: str = "",
        files: Files = (),
        context: Context | None = None,
        private: bool = False,
    ) -> Job:
        context = context or Context()
        work = InteractionWork(
            application_id=interaction.application_id,
            token=interaction.token,
            interaction_id=interaction.id,
            channel_id=interaction.channel_id or 0,
            guild_id=interaction.guild_id,
            user_id=interaction.user.id,
            open_thread=open_thread,
            header=header if open_thread else "",
            thread_name=thread_name(text) if open_thread else "",
            files=file_refs(files),
            context_before=context.before,
            replied_to=context.replied_to,
            bot_id=context.bot_id,
            private=private,
        )
        question = to_question(
            key,
            user=interaction.user.id,
            text=text,
            event_id=interaction_event_id(interaction),
            reply_to=reply_to(interaction),
            asker=asker_of(interaction.user),
            where=where_of(interaction.channel, interaction.guild),
        )
        return Job.accept(
            id=job_id(interaction.guild_id, interaction.id),
            kind=INTERACTION_JOB,
            question=question,
            data=work.to_data(),
        )

    async def _queue(self, interaction: Interaction, job: Job) -> bool:
        """Queue the job; when that is refused, tell the user privately why."""
        verdict = await self.intake.accept(job)
        if verdict is Verdict.QUEUED:
            return True
        await self._private(interaction, self.intake.refusal(verdict))
        return False

    async def _acknowledge(
        self, interaction: Interaction, job: Job, ack: Awaitable[object]
    ) -> None:
        """Acknowledge Discord, and note how that went for the worker answering."""
        outcome = Ack.DONE
        try:
            await ack
        except discord.NotFound:
            await self._expired(interaction)
            outcome = Ack.GONE
        except discord.HTTPException as exc:
            if exc.code == ALREADY_ACKNOWLEDGED:
                log.info("interaction %s was delivered again; queued once", interaction.id)
                return  # the first delivery's acknowledgement stands
            # Unknown whether Discord took it: note nothing, so the worker answers anyway
            # (through the channel if the webhook does not work).
            log.warning(
                "could not acknowledge interaction %s (status %s)", interaction.id, exc.status
            )
            return
        await self.intake.acks.record(job.tenant, interaction.id, outcome)

    async def _defer(self, interaction: Interaction, private: bool) -> None:
        await interaction.response.defer(thinking=True, ephemeral=private)

    async def _private_here(self, place: Place) -> bool:
        """The channel's settings say its answers are for the asker alone (not in DMs)."""
        if place.is_dm:
            return False
        places = self.answerer.services.pipeline.places
        return (await places.get(place.tenant, place.channel)).private()

    async def _admit(self, interaction: Interaction) -> Place | None:
        """The place to answer in, or None once refused (privately)."""
        place = await interaction_place(self.client, self.answerer, interaction)
        if place is None or interaction.channel_id is None:
            await self._private(interaction, texts.CANNOT_ANSWER_HERE)
            return None
        refusal = self.allow.refusal(place, roles=role_ids(interaction.user))
        if refusal is not None:
            log.info("refused user %s in %s: not allowed", interaction.user.id, place.channel)
            await self._private(interaction, refusal)
            return None
        return place

    async def _expired(self, interaction: Interaction) -> None:
        """The interaction is gone (answered too late): say so in the channel instead."""
        log.warning("interaction %s expired before it was acknowledged", interaction.id)
        channel = messageable(interaction.channel)
        if channel is None:
            return
        text = texts.INTERACTION_EXPIRED.format(user=interaction.user.mention)
        try:
            await channel.send(text, allowed_mentions=NO_PINGS)
        except discord.HTTPException as exc:
            log.warning("could not tell the channel either (status %s)", exc.status)

    async def _private(self, interaction: Interaction, text: str) -> None:
        """A reply only the user sees."""
        try:
            if interaction.response.is_done():
                await interaction.followup.send(text, ephemeral=True, allowed_mentions=NO_PINGS)
            else:
                await interaction.response.send_message(
                    text, ephemeral=True, allowed_mentions=NO_PINGS
                )
        except discord.NotFound:
            await self._expired(interaction)
        except discord.HTTPException as exc:
            log.warning("could not reply privately (status %s)", exc.status)

    async def _guarded(self, interaction: Interaction, flow: Awaitable[None]) -> None:
        """Run a flow; an unexpected failure is logged and explained, never shown raw."""
        try:
            await flow
        except Exception:
            log.exception("failed to handle interaction %s", interaction.id)
            await self._private(interaction, texts.INTERNAL)


def reply_to(interaction: Interaction) -> dict[str, str]:
    """Where the answer goes (ids only: the token stays in the job's data), for logs."""
    return {
        "interaction_id": str(interaction.id),
        "channel_id": str(interaction.channel_id or ""),
    }
