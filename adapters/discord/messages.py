"""Messages: @mentions, replies in the bot's threads, and DMs."""

from __future__ import annotations

import logging

import discord

from adapters.discord import texts
from adapters.discord.access import AllowList
from adapters.discord.answering import Answerer
from adapters.discord.delivery import NO_PINGS, ChannelTarget, Target
from adapters.discord.inbound import (
    PLATFORM,
    Place,
    message_event_id,
    role_ids,
    strip_mentions,
    thread_name,
    to_question,
)
from adapters.discord.interactions import open_thread
from adapters.discord.places import resolve_place
from adapters.discord.question_files import question_text
from bot import replies
from bot.domain import Tenant, ThreadKey
from bot.store.base import StoreError

log = logging.getLogger(__name__)

# Only what people write; joins, pins, thread starts and the like are not questions.
ANSWERED_TYPES = (discord.MessageType.default, discord.MessageType.reply)


class MessageHandler:
    def __init__(
        self,
        *,
        client: discord.Client,
        answerer: Answerer,
        allow: AllowList,
        reply_without_mention: bool,
    ) -> None:
        self.client = client
        self.answerer = answerer
        self.allow = allow
        self.reply_without_mention = reply_without_mention

    async def on_message(self, message: discord.Message) -> None:
        try:
            addressed = await self._addressed(message)
        except Exception:  # not known to be for the bot: log, but say nothing in public
            log.exception("failed to look at message %s", message.id)
            return
        if addressed is None:
            return
        try:
            await self._handle(message, mentioned=addressed)
        except Exception:
            log.exception("failed to handle message %s", message.id)
            await self._post_or_tell(message, texts.INTERNAL)

    async def _addressed(self, message: discord.Message) -> bool | None:
        """None when the message is not for the bot; else whether it mentions the bot."""
        me = self.client.user
        if me is None or message.author.bot or message.author.id == me.id:
            return None  # never answer bots, itself included: no loops
        if message.type not in ANSWERED_TYPES:
            return None
        mentioned = any(user.id == me.id for user in message.mentions)
        if mentioned or message.guild is None:
            return mentioned
        return False if await self._in_own_thread(message, bot_id=me.id) else None

    async def _handle(self, message: discord.Message, *, mentioned: bool) -> None:
        me = self.client.user
        if me is None:  # not connected (any more)
            return
        is_dm = message.guild is None
        place = await resolve_place(
            self.client,
            self.answerer,
            channel=message.channel,
            channel_id=message.channel.id,
            guild_id=message.guild.id if message.guild else None,
        )
        if place is None or not await self._claim(place, message):
            return
        refusal = self.allow.refusal(place, roles=role_ids(message.author))
        if refusal is not None:
            log.info("refused user %s in %s: not allowed", message.author.id, place.channel)
            if is_dm:
                await self.answerer.notify(refusal, [ChannelTarget(message.channel)])
            elif mentioned:  # a plain reply in a thread was not addressed to the bot
                await self._tell_privately(message.author, refusal)
            return
        text = question_text(
            strip_mentions(message.content, bot_id=me.id),
            message.attachments,
            streaming=self.answerer.services.streaming,
        )
        if place.thread is None and text:
            await self._answer_in_new_thread(message, place, text)
            return
        key = place.key(None if place.thread else str(message.id))
        if not mentioned and not is_dm:  # a reply in the bot's thread: keep it known
            await self.answerer.remember_thread(
                place.tenant, thread_id=message.channel.id, parent_id=place.channel
            )
        await self._answer(message, key, text, targets=[ChannelTarget(message.channel, message)])

    async def _answer_in_new_thread(
        self, message: discord.Message, place: Place, text: str
    ) -> None:
        outcome = await open_thread(message, name=thread_name(text))
        if isinstance(outcome, discord.Thread):
            await self.answerer.remember_thread(
                place.tenant, thread_id=outcome.id, parent_id=place.channel
            )
            targets: list[Target] = [
                ChannelTarget(outcome, name="thread"),
                ChannelTarget(message.channel, message),
            ]
            await self._answer(message, place.key(str(outcome.id)), text, targets=targets)
            return
        note = (
            texts.NO_THREAD_PERMISSION
            if isinstance(outcome, discord.Forbidden)
            else texts.NO_THREAD
        )
        here = ChannelTarget(message.channel, message)
        if not await self.answerer.notify(note, [here]):
            await self._tell_privately(
                message.author, texts.NO_SEND_PERMISSION.format(channel=message.channel.id)
            )
            return
        await self._answer(message, place.key(str(message.id)), text, targets=[here])

    async def _answer(
        self, message: discord.Message, key: ThreadKey, text: str, *, targets: list[Target]
    ) -> None:
        question = to_question(
            key,
            user=message.author.id,
            text=text,
            event_id=message_event_id(message),
            reply_to={"channel_id": str(message.channel.id), "message_id": str(message.id)},
        )
        typing_channel = targets[0].channel if isinstance(targets[0], ChannelTarget) else None
        answered = await self.answerer.answer(
            question,
            typing_channel=typing_channel,
            targets=targets,
            attachments=message.attachments,
        )
        if not answered:
            await self._tell_privately(
                message.author, texts.NO_SEND_PERMISSION.format(channel=message.channel.id)
            )

    async def _in_own_thread(self, message: discord.Message, *, bot_id: int) -> bool:
        """A message in a thread the bot opened, which it answers without a mention."""
        if not (self.reply_without_mention and self.client.intents.message_content):
            return False
        channel = message.channel
        if isinstance(channel, discord.Thread):
            return channel.owner_id == bot_id
        if not isinstance(channel, discord.PartialMessageable):
            return False
        # Not in the cache (e.g. after a restart): the store knows the bot's threads.
        tenant = Tenant(PLATFORM, str(message.guild.id if message.guild else ""))
        try:
            return await self.answerer.bot_thread_parent(tenant, channel.id) is not None
        except StoreError as exc:
            log.warning("could not check thread %s: %s", channel.id, exc)
            return False

    async def _claim(self, place: Place, message: discord.Message) -> bool:
        services = self.answerer.services
        try:
            first = await services.store.claim_event(
                place.tenant, message_event_id(message), ttl_seconds=services.event_ttl_seconds
            )
        except StoreError as exc:
            log.warning("could not claim message %s: %s", message.id, exc)
            await self._post_or_tell(message, replies.STORE_UNAVAILABLE.text)
            return False
        if not first:
            log.info("message %s was already handled", message.id)
        return first

    async def _post_or_tell(self, message: discord.Message, text: str) -> None:
        """A notice where the message was, or privately when that is refused."""
        if not await self.answerer.notify(text, [ChannelTarget(message.channel, message)]):
            await self._tell_privately(message.author, text)

    async def _tell_privately(self, user: discord.User | discord.Member, text: str) -> None:
        try:
            await user.send(text, allowed_mentions=NO_PINGS)
        except discord.HTTPException as exc:
            log.warning("could not message user %s privately (status %s)", user.id, exc.status)
