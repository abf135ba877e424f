"""Slash commands, the "Ask Meibel" context menu and button clicks.

Every interaction is acknowledged within Discord's 3 seconds (a deferral, a public line or
a private reply), claimed once in the store, and checked against the allow-lists before
anything is answered.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import Any, Literal

import discord

from adapters.discord import texts
from adapters.discord.access import AllowList
from adapters.discord.answering import Answerer
from adapters.discord.delivery import NO_PINGS, ChannelTarget, FollowupTarget, Target
from adapters.discord.inbound import (
    Place,
    interaction_event_id,
    role_ids,
    thread_name,
    to_question,
)
from adapters.discord.payloads import load_button
from adapters.discord.places import resolve_place
from adapters.discord.question_files import question_text
from bot import replies
from bot.domain import ThreadKey
from bot.store.base import StoreError

log = logging.getLogger(__name__)

Interaction = discord.Interaction[Any]
Files = tuple[discord.Attachment, ...]
# Threads the bot opens stay open for a day without messages (the Discord default is 3).
THREAD_ARCHIVE_MINUTES: Literal[1440] = 1440


def messageable(channel: object) -> discord.abc.Messageable | None:
    return channel if isinstance(channel, discord.abc.Messageable) else None


class InteractionHandlers:
    """What each command and button does; the client's `meibel_buttons` is one of these."""

    def __init__(self, *, client: discord.Client, answerer: Answerer, allow: AllowList) -> None:
        self.client = client
        self.answerer = answerer
        self.allow = allow

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
        flow = self._ask(interaction, text, header=header, files=tuple(message.attachments))
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

    # -- flows ------------------------------------------------------------------------
    async def _ask(
        self, interaction: Interaction, text: str, *, header: str, files: Files = ()
    ) -> None:
        place = await self._admit(interaction)
        if place is None or not await self._defer(interaction):
            return
        channel = messageable(interaction.channel)
        if place.thread is not None:
            await self._answer(interaction, place.key(), text, channel=channel, files=files)
        elif text.strip():
            await self._ask_in_new_thread(interaction, place, text=text, header=header, files=files)
        else:  # nothing to ask: the hint, right here, and no empty thread
            key = place.key(str(interaction.id))
            await self._answer(interaction, key, text, channel=channel, files=files)

    async def _ask_in_new_thread(
        self, interaction: Interaction, place: Place, *, text: str, header: str, files: Files
    ) -> None:
        # The public answer to the command shows the question; the thread hangs off it.
        anchor: discord.Message | None = None
        try:
            anchor = await interaction.edit_original_response(
                content=header, allowed_mentions=NO_PINGS
            )
        except discord.HTTPException as exc:
            log.warning("could not show the question (status %s)", exc.status)
        channel = messageable(interaction.channel)
        outcome = await open_thread(anchor, name=thread_name(text)) if anchor else None
        if isinstance(outcome, discord.Thread):
            await self.answerer.remember_thread(
                place.tenant, thread_id=outcome.id, parent_id=place.channel
            )
            key = place.key(str(outcome.id))
            targets: list[Target] = [
                ChannelTarget(outcome, name="thread"),
                FollowupTarget(interaction),
            ]
            question = to_question(
                key,
                user=interaction.user.id,
                text=text,
                event_id=interaction_event_id(interaction),
                reply_to={**reply_to(interaction), "thread_id": str(outcome.id)},
            )
            await self.answerer.answer(
                question, typing_channel=outcome, targets=targets, attachments=files
            )
            return
        note = (
            texts.NO_THREAD_PERMISSION
            if isinstance(outcome, discord.Forbidden)
            else texts.NO_THREAD
        )
        await self.answerer.notify(note, [FollowupTarget(interaction)])
        # Without a thread, the answer's own message anchors the conversation for buttons.
        anchor_id = anchor.id if anchor is not None else interaction.id
        key = place.key(str(anchor_id))
        await self._answer(interaction, key, text, channel=channel, files=files)

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
        try:
            # Acknowledges the click at once and shows who asked, before the agent works.
            await interaction.response.send_message(
                texts.asked_by(interaction.user.id, payload.text), allowed_mentions=NO_PINGS
            )
        except discord.NotFound:
            await self._expired(interaction)
            return
        channel = messageable(interaction.channel)
        await self._answer(
            interaction, payload.thread_key(place.tenant), payload.text, channel=channel
        )

    # -- helpers ------------------------------------------------------------------------
    async def _answer(
        self,
        interaction: Interaction,
        key: ThreadKey,
        text: str,
        *,
        channel: discord.abc.Messageable | None,
        files: Files = (),
    ) -> None:
        """Answer through the interaction, or in the channel once its token has expired."""
        question = to_question(
            key,
            user=interaction.user.id,
            text=text,
            event_id=interaction_event_id(interaction),
            reply_to=reply_to(interaction),
        )
        targets: list[Target] = [FollowupTarget(interaction)]
        if channel is not None:
            targets.append(ChannelTarget(channel))
        answered = await self.answerer.answer(
            question, typing_channel=channel, targets=targets, attachments=files
        )
        if not answered:
            log.error("could not post the answer in %s anywhere", key)

    async def _admit(self, interaction: Interaction) -> Place | None:
        """The place to answer in, or None once refused (privately) or seen before."""
        place = await resolve_place(
            self.client,
            self.answerer,
            channel=interaction.channel,
            channel_id=interaction.channel_id,
            guild_id=interaction.guild_id,
        )
        if place is None:
            await self._private(interaction, texts.CANNOT_ANSWER_HERE)
            return None
        services = self.answerer.services
        try:
            first = await services.store.claim_event(
                place.tenant,
                interaction_event_id(interaction),
                ttl_seconds=services.event_ttl_seconds,
            )
        except StoreError as exc:
            log.warning("could not claim interaction %s: %s", interaction.id, exc)
            await self._private(interaction, replies.STORE_UNAVAILABLE.text)
            return None
        if not first:
            log.info("interaction %s was already handled", interaction.id)
            return None
        refusal = self.allow.refusal(place, roles=role_ids(interaction.user))
        if refusal is not None:
            log.info("refused user %s in %s: not allowed", interaction.user.id, place.channel)
            await self._private(interaction, refusal)
            return None
        return place

    async def _defer(self, interaction: Interaction) -> bool:
        try:
            await interaction.response.defer(thinking=True)
        except discord.NotFound:
            await self._expired(interaction)
            return False
        except discord.HTTPException as exc:
            log.warning("could not defer interaction %s (status %s)", interaction.id, exc.status)
            return False
        return True

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
    """Where the answer goes, for logs and for a queue that may answer later."""
    return {
        "interaction_id": str(interaction.id),
        "channel_id": str(interaction.channel_id or ""),
    }


async def open_thread(
    message: discord.Message, *, name: str
) -> discord.Thread | discord.HTTPException:
    """A public thread from the message, or why Discord refused to open it."""
    try:
        return await message.create_thread(name=name, auto_archive_duration=THREAD_ARCHIVE_MINUTES)
    except discord.HTTPException as exc:
        log.warning(
            "could not open a thread in channel %s (status %s, code %s)",
            message.channel.id,
            exc.status,
            exc.code,
        )
        return exc
