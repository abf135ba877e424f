"""Messages: @mentions, replies in the bot's threads, DMs, and questions in channels set
to answer them without a mention (reply mode `questions`): the intake side.

A message for the bot is checked against the allow-lists and queued on receipt; a worker
(adapters.discord.work) answers it. A message Discord delivers twice is the same job,
queued once.
"""

from __future__ import annotations

import logging
from typing import Literal

import discord

from adapters.discord import texts
from adapters.discord.access import AllowList
from adapters.discord.answering import Answerer
from adapters.discord.delivery import NO_PINGS, ChannelTarget
from adapters.discord.inbound import (
    PLATFORM,
    asker_of,
    message_event_id,
    role_ids,
    strip_mentions,
    thread_name,
    to_question,
    where_of,
)
from adapters.discord.intake import Intake, Verdict
from adapters.discord.jobs import MESSAGE_JOB, MessageWork, file_refs, job_id
from adapters.discord.places import resolve_place
from adapters.discord.question_files import question_text
from bot.channel_settings import looks_like_question
from bot.domain import Tenant
from bot.ordering import ArrivalOrder
from bot.store.base import StoreError
from bot.work import Job

log = logging.getLogger(__name__)

# Only what people write; joins, pins, thread starts and the like are not questions.
ANSWERED_TYPES = (discord.MessageType.default, discord.MessageType.reply)
# Why a message is for the bot: it mentions the bot (or is a DM), it is a reply in the
# bot's own thread, or it looks like a question in a channel set to answer those.
Why = Literal["mention", "thread", "question"]


class MessageHandler:
    def __init__(
        self,
        *,
        client: discord.Client,
        answerer: Answerer,
        allow: AllowList,
        intake: Intake,
        reply_without_mention: bool,
    ) -> None:
        self.client = client
        self.answerer = answerer
        self.allow = allow
        self.intake = intake
        self.reply_without_mention = reply_without_mention
        # discord.py runs each on_message as its own task: without turns, two messages of
        # one channel could reach the queue in the other order and be answered so.
        self._arrival: ArrivalOrder[int] = ArrivalOrder()

    async def on_message(self, message: discord.Message) -> None:
        async with self._arrival.turn(message.channel.id):
            await self._take(message)

    async def _take(self, message: discord.Message) -> None:
        try:
            why = await self._addressed(message)
        except Exception:  # not known to be for the bot: log, but say nothing in public
            log.exception("failed to look at message %s", message.id)
            return
        if why is None:
            return
        try:
            await self._handle(message, why=why)
        except Exception:
            log.exception("failed to handle message %s", message.id)
            await self._post_or_tell(message, texts.INTERNAL)

    async def _addressed(self, message: discord.Message) -> Why | None:
        """Why the message is for the bot; None when it is not."""
        me = self.client.user
        if me is None or message.author.bot or message.author.id == me.id:
            return None  # never answer bots, itself included: no loops
        if message.type not in ANSWERED_TYPES:
            return None
        if message.guild is None or any(user.id == me.id for user in message.mentions):
            return "mention"
        if await self._in_own_thread(message, bot_id=me.id):
            return "thread"
        return "question" if await self._asked_here(message) else None

    async def _asked_here(self, message: discord.Message) -> bool:
        """A question nobody was named in, in a channel (or a thread of one) whose settings
        say to answer questions without a mention. Needs the Message Content intent."""
        if not self.client.intents.message_content or message.mentions:
            return False
        if message.role_mentions or message.mention_everyone:
            return False
        if not looks_like_question(message.content):
            return False
        place = await resolve_place(
            self.client,
            self.answerer,
            channel=message.channel,
            channel_id=message.channel.id,
            guild_id=message.guild.id if message.guild else None,
        )
        if place is None or place.is_dm:
            return False
        places = self.answerer.services.pipeline.places
        return (await places.get(place.tenant, place.channel)).answers_questions()

    async def _handle(self, message: discord.Message, *, why: Why) -> None:
        me = self.client.user
        if me is None:  # not connected (any more)
            return
        # A question answered without a mention is treated as a mention from here on,
        # except that nobody is told anything when it cannot be answered.
        mentioned = why != "thread"
        is_dm = message.guild is None
        guild_id = message.guild.id if message.guild else None
        place = await resolve_place(
            self.client,
            self.answerer,
            channel=message.channel,
            channel_id=message.channel.id,
            guild_id=guild_id,
        )
        if place is None:
            return
        refusal = self.allow.refusal(place, roles=role_ids(message.author))
        if refusal is not None:
            log.info("refused user %s in %s: not allowed", message.author.id, place.channel)
            if is_dm:
                await self.answerer.notify(refusal, [ChannelTarget(message.channel)])
            elif why == "mention":  # a reply or a question was not addressed to the bot
                await self._tell_privately(message.author, refusal)
            return
        if not is_dm and await self._private_here(place.tenant, place.channel):
            # No interaction, so no message only the asker would see: say how to ask
            # (to whoever addressed the bot; an unaddressed question gets no note).
            if why != "question":
                await self._post_or_tell(message, texts.PRIVATE_CHANNEL)
            return
        text = question_text(
            strip_mentions(message.content, bot_id=me.id),
            message.attachments,
            streaming=self.answerer.services.streaming,
        )
        # In a plain channel the answer opens a thread from the message, which gets the
        # message's id: the conversation's key is known now (and stays the message's if
        # no thread can be opened). A blank mention gets the hint right there.
        open_thread = place.thread is None and bool(text)
        # In a thread, what people said before goes to the agent, unless it is the bot's
        # own thread where every message is a turn already (replied to without a mention).
        context = (
            place.thread is not None
            and not is_dm
            and mentioned
            and not await self._in_own_thread(message, bot_id=me.id)
        )
        work = MessageWork(
            channel_id=message.channel.id,
            message_id=message.id,
            guild_id=guild_id,
            author_id=message.author.id,
            open_thread=open_thread,
            thread_name=thread_name(text) if open_thread else "",
            remember_thread=why == "thread" and not is_dm,
            files=file_refs(message.attachments),
            context=context,
            bot_id=me.id,
            replied_to=_replied_to(message) if place.thread is None else 0,
        )
        question = to_question(
            place.key(None if place.thread else str(message.id)),
            user=message.author.id,
            text=text,
            event_id=message_event_id(message),
            reply_to={"channel_id": str(message.channel.id), "message_id": str(message.id)},
            asker=asker_of(message.author),
            where=where_of(message.channel, message.guild),
        )
        job = Job.accept(
            id=job_id(guild_id, message.id),
            kind=MESSAGE_JOB,
            question=question,
            data=work.to_data(),
        )
        verdict = await self.intake.accept(job)
        if verdict is Verdict.LIMITED:
            await self._tell_privately(message.author, self.intake.refusal(verdict))
        elif verdict is Verdict.UNAVAILABLE:
            await self._post_or_tell(message, self.intake.refusal(verdict))

    async def _private_here(self, tenant: Tenant, channel: str) -> bool:
        return (await self.answerer.services.pipeline.places.get(tenant, channel)).private()

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

    async def _post_or_tell(self, message: discord.Message, text: str) -> None:
        """A notice where the message was, or privately when that is refused."""
        if not await self.answerer.notify(text, [ChannelTarget(message.channel, message)]):
            await self._tell_privately(message.author, text)

    async def _tell_privately(self, user: discord.User | discord.Member, text: str) -> None:
        try:
            await user.send(text, allowed_mentions=NO_PINGS)
        except discord.HTTPException as exc:
            log.warning("could not message user %s privately (status %s)", user.id, exc.status)


def _replied_to(message: discord.Message) -> int:
    """The id of the message this one replies to (in the same channel), else 0."""
    ref = message.reference
    if ref is None or ref.message_id is None or ref.channel_id != message.channel.id:
        return 0
    return ref.message_id
