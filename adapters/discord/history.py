"""A Discord thread's earlier messages, or a reply's chain, as the agent's context.

For a question asked in a thread (a mention there), the agent gets what people said since
the bot's last message in it, or the whole recent thread when the bot is new to it.
Messages that mention the bot are left out: each is a turn of its own. In the bot's own
thread with DISCORD_REPLY_WITHOUT_MENTION every message is a turn, so intake asks for no
context there (`MessageWork.context`).

A mention that replies to a message outside a thread gets the replied-to chain instead
(`reply_chain`): the message replied to, the one that replied to, and so on, oldest first,
up to the bot's own message.

Best effort: a refusal or a timeout is logged and the question goes without context.
Speakers are shown by display name; mentions inside messages by name (`clean_content`).
"""

from __future__ import annotations

import asyncio
import logging

import discord

from bot.context import ContextLimits, Said
from bot.domain import Question

log = logging.getLogger(__name__)

READ_SECONDS = 10.0
# Messages looked at per context message wanted (skipped ones: mentions of the bot, empties).
LOOK_FACTOR = 3
MAX_LOOKED_AT = 300


async def with_context(
    question: Question,
    channel: discord.abc.Messageable,
    *,
    before: int,
    bot_id: int,
    limits: ContextLimits,
    replied_to: int = 0,
) -> Question:
    """`question` with the context read from `channel`: the thread before message
    `before`, or the chain of replies from `replied_to` when that is set."""
    if not limits.enabled:
        return question
    try:
        async with asyncio.timeout(READ_SECONDS):
            if replied_to:
                said = await _chain(channel, replied_to, bot_id=bot_id, limits=limits)
            else:
                said = await _read(channel, before=before, bot_id=bot_id, limits=limits)
    except (discord.HTTPException, discord.ClientException, TimeoutError) as exc:
        log.warning(
            "cannot read thread %s for context: %s", question.thread_key, type(exc).__name__
        )
        return question
    return question.model_copy(update={"context": said}) if said else question


async def _read(
    channel: discord.abc.Messageable, *, before: int, bot_id: int, limits: ContextLimits
) -> tuple[Said, ...]:
    newest_first: list[Said] = []
    looked_at = min(MAX_LOOKED_AT, limits.max_messages * LOOK_FACTOR)
    async for message in channel.history(limit=looked_at, before=discord.Object(id=before)):
        if message.author.id == bot_id:
            break  # the agent saw everything up to its own message
        if any(user.id == bot_id for user in message.mentions):
            continue  # a question to the bot: its own turn
        said = _said(message)
        if said is None:
            continue
        newest_first.append(said)
        if len(newest_first) >= limits.max_messages:
            break
    return tuple(reversed(newest_first))


async def _chain(
    channel: discord.abc.Messageable, first: int, *, bot_id: int, limits: ContextLimits
) -> tuple[Said, ...]:
    """The replied-to message and its own replied-to chain, oldest first; the bot's
    messages are part of it (marked), as the conversation replied to them."""
    newest_first: list[Said] = []
    next_id: int | None = first
    while next_id and len(newest_first) < limits.max_messages:
        message = await channel.fetch_message(next_id)
        said = _said(message, by_bot=message.author.id == bot_id)
        if said is not None:
            newest_first.append(said)
        ref = message.reference
        next_id = (
            ref.message_id if ref is not None and ref.channel_id == message.channel.id else None
        )
    return tuple(reversed(newest_first))


def shown_text(message: discord.Message) -> str:
    """What a message shows as text: its content, else (a bot's answer) its embeds'."""
    text = message.clean_content.strip()
    return text or " ".join(e.description or "" for e in message.embeds).strip()


def _said(message: discord.Message, *, by_bot: bool = False) -> Said | None:
    files = tuple(a.filename for a in message.attachments)
    text = shown_text(message) if by_bot else message.clean_content
    if not (text.strip() or files):
        return None
    return Said(speaker=message.author.display_name, text=text, by_bot=by_bot, files=files)
