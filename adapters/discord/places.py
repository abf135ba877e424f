"""Finding out where a message or interaction happened, also for channels not in the cache."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import discord

from adapters.discord.answering import Answerer
from adapters.discord.inbound import PLATFORM, Place, place_of, thread_place
from bot.domain import Tenant
from bot.store.base import StoreError

log = logging.getLogger(__name__)

STORE_TIMEOUT_SECONDS = 0.5


async def resolve_place(
    client: discord.Client,
    answerer: Answerer,
    *,
    channel: object,
    channel_id: int | None,
    guild_id: int | None,
) -> Place | None:
    """The place, asking the store and then Discord when the cache only has an id.

    After a restart, a thread the bot opened earlier arrives as a bare id
    (PartialMessageable): its parent is in the store, or one GET away.
    """
    place = place_of(channel, guild_id=guild_id)
    if place is not None or channel_id is None or guild_id is None:
        return place
    try:
        # Bounded: an interaction must be acknowledged within 3 seconds, even when the
        # store hangs; Discord can answer instead.
        async with asyncio.timeout(STORE_TIMEOUT_SECONDS):
            parent = await answerer.bot_thread_parent(Tenant(PLATFORM, str(guild_id)), channel_id)
    except (StoreError, TimeoutError) as exc:
        log.warning("store failed while resolving channel %s: %s", channel_id, exc or "timeout")
        parent = None
    if parent is not None:
        return thread_place(guild_id=guild_id, parent_id=parent, thread_id=channel_id)
    try:
        fetched = await client.fetch_channel(channel_id)
    except discord.HTTPException as exc:
        log.warning("cannot look up channel %s (status %s)", channel_id, exc.status)
        return None
    return place_of(fetched, guild_id=guild_id)


async def interaction_place(
    client: discord.Client, answerer: Answerer, interaction: discord.Interaction[Any]
) -> Place | None:
    """The place an interaction (a command, a click) happened in; see resolve_place."""
    return await resolve_place(
        client,
        answerer,
        channel=interaction.channel,
        channel_id=interaction.channel_id,
        guild_id=interaction.guild_id,
    )
