"""What the buttons of a channel's settings do: share a private answer, call a person.

"Share with the channel" posts the answer kept for it (adapters.discord.sharing) in the
channel, once, saying who shared it. "I need a person" posts, in the thread, the one
message the bot ever sends that may ping: the channel's hand-off roles and people, exactly
those ids and nobody else (never what an agent wrote); the question gets a 🙋, and the
message a "Mark resolved" button that swaps the 🙋 for ✅.
"""

from __future__ import annotations

import logging
from typing import Any

import discord

from adapters.discord import texts
from adapters.discord.answering import Answerer
from adapters.discord.buttons import reply_privately
from adapters.discord.delivery import NO_PINGS
from adapters.discord.inbound import Place
from adapters.discord.manage import SettingsPanel
from adapters.discord.place_items import SHARE_PREFIX, ResolvedButton
from adapters.discord.places import interaction_place
from adapters.discord.sharing import shared_answer
from bot.store.base import StoreError

log = logging.getLogger(__name__)

Interaction = discord.Interaction[Any]
RAISED, RESOLVED = "🙋", "✅"
ONCE_SECONDS = 7 * 86400  # how long a shared answer or a call for help is remembered


def handoff_mentions(targets: tuple[str, ...]) -> tuple[str, discord.AllowedMentions]:
    """The mentions of the hand-off targets, and what may ping: exactly those."""
    roles = [int(t.partition(":")[2]) for t in targets if t.startswith("role:")]
    users = [int(t.partition(":")[2]) for t in targets if t.startswith("user:")]
    shown = " ".join([f"<@&{r}>" for r in roles] + [f"<@{u}>" for u in users])
    allowed = discord.AllowedMentions(
        everyone=False,
        users=[discord.Object(id=u) for u in users],
        roles=[discord.Object(id=r) for r in roles],
        replied_user=False,
    )
    return shown, allowed


class PlaceActions:
    """The clicks on adapters.discord.place_items: the client's `meibel_places`."""

    def __init__(self, *, client: discord.Client, answerer: Answerer) -> None:
        self.client = client
        self.answerer = answerer
        self.panel = SettingsPanel(client=client, answerer=answerer)

    async def on_setting(self, interaction: Interaction, field: str) -> None:
        await self.panel.change(interaction, field)

    async def _place(self, interaction: Interaction) -> Place | None:
        place = await interaction_place(self.client, self.answerer, interaction)
        if place is None or place.is_dm:
            await reply_privately(interaction, texts.CANNOT_ANSWER_HERE)
            return None
        return place

    async def _first_time(self, place: Place, what: str) -> bool:
        store = self.answerer.services.store
        return await store.claim_event(place.tenant, what, ttl_seconds=ONCE_SECONDS)

    # -- share ----------------------------------------------------------------------------
    async def on_share(self, interaction: Interaction, key: str) -> None:
        place = await self._place(interaction)
        if place is None:
            return
        store = self.answerer.services.store
        try:
            kept = await shared_answer(store, place.tenant, key)
            first = kept is not None and await self._first_time(place, f"shared:{key}")
        except StoreError as exc:
            log.warning("could not share answer %s: %s", key, exc)
            await reply_privately(interaction, texts.SETTINGS_STORE_DOWN)
            return
        if kept is None:
            await reply_privately(interaction, texts.BUTTON_EXPIRED)
            return
        if not first:
            await reply_privately(interaction, texts.ALREADY_SHARED)
            return
        # The private copy loses its Share button; then the answer goes to everyone.
        await interaction.response.edit_message(view=_without_share(interaction.message))
        header = texts.SHARED_BY.format(user=interaction.user.mention)
        for message in kept.messages(header):
            await interaction.followup.send(
                content=message.content, embeds=message.embeds, allowed_mentions=NO_PINGS
            )
        log.info("user %s shared a private answer in %s", interaction.user.id, place.channel)

    # -- hand-off ---------------------------------------------------------------------------
    async def on_handoff(self, interaction: Interaction, channel_id: int, message_id: int) -> None:
        place = await self._place(interaction)
        if place is None:
            return
        settings = await self.answerer.services.pipeline.places.get(place.tenant, place.channel)
        shown, allowed = handoff_mentions(settings.handoff)
        if not shown:
            await reply_privately(interaction, texts.NO_HANDOFF)
            return
        try:
            first = await self._first_time(place, f"handoff:{channel_id}:{message_id}")
        except StoreError as exc:  # better a second call for help than none
            log.warning("could not check an earlier call for help: %s", exc)
            first = True
        if not first and message_id:
            await reply_privately(interaction, texts.HANDOFF_ALREADY)
            return
        view = discord.ui.View(timeout=None)
        view.add_item(ResolvedButton(channel_id, message_id))
        text = texts.HANDOFF_CALL.format(targets=shown, user=interaction.user.mention)
        await interaction.response.send_message(text, view=view, allowed_mentions=allowed)
        log.info("user %s asked for a person in %s", interaction.user.id, place.channel)
        await self._react(channel_id, message_id, add=RAISED)

    async def on_resolved(self, interaction: Interaction, channel_id: int, message_id: int) -> None:
        place = await self._place(interaction)
        if place is None:
            return
        text = texts.HANDOFF_RESOLVED.format(user=interaction.user.mention)
        await interaction.response.edit_message(content=text, view=None, allowed_mentions=NO_PINGS)
        await self._react(channel_id, message_id, add=RESOLVED, remove=RAISED)

    async def _react(self, channel_id: int, message_id: int, *, add: str, remove: str = "") -> None:
        """Mark the question (when there is a message to mark). Cosmetic: never raises."""
        if not message_id:
            return
        try:
            if remove:
                await self.client.http.remove_own_reaction(channel_id, message_id, remove)
            await self.client.http.add_reaction(channel_id, message_id, add)
        except discord.HTTPException as exc:
            log.warning("could not mark message %s (status %s)", message_id, exc.status)


def _without_share(message: discord.Message | None) -> discord.ui.View | None:
    """The message's buttons minus Share (None: no buttons left)."""
    if message is None:
        return None
    view = discord.ui.View.from_message(message, timeout=None)
    for item in list(view.children):
        if str(getattr(item, "custom_id", "") or "").startswith(SHARE_PREFIX):
            view.remove_item(item)
    return view if view.children else None
