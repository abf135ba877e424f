"""Posting rendered messages: where they go, what to do when Discord refuses, typing."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import discord

from adapters.discord.journal import Journal
from adapters.discord.render import DiscordMessage

log = logging.getLogger(__name__)

NO_PINGS = discord.AllowedMentions.none()
# Discord shows "typing" for 10 seconds, or until the bot posts.
TYPING_REFRESH_SECONDS = 8.0
TYPING_STOP_SECONDS = 2.0


class Editable(Protocol):
    """A posted message the bot can change: discord.py's messages, or one known by id."""

    async def edit(self, *args: Any, **kwargs: Any) -> Any: ...

    async def delete(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Sent:
    """A message the bot posted: how to reach it again (`ref`, for the journal) and the
    message itself (to edit or delete it)."""

    ref: str
    message: Editable


class Target(Protocol):
    """Somewhere a message can be posted."""

    name: str

    async def send(self, message: DiscordMessage) -> Sent: ...


def send_kwargs(message: DiscordMessage) -> dict[str, Any]:
    """send() arguments common to channels and webhooks. Mentions never ping, whatever
    the renderer or the agent put in the message."""
    kwargs: dict[str, Any] = {"allowed_mentions": NO_PINGS}
    if message.content:
        kwargs["content"] = message.content
    if message.embeds:
        kwargs["embeds"] = message.embeds
    if message.files:
        kwargs["files"] = message.files
    if message.view is not None:
        kwargs["view"] = message.view
    return kwargs


def channel_ref(channel_id: int, message_id: int) -> str:
    return f"c{channel_id}/{message_id}"


def webhook_ref(message_id: int) -> str:
    return f"w{message_id}"


@dataclass(slots=True)
class ChannelTarget:
    """A channel, thread or DM; the first message may reply to the user's message."""

    channel: discord.abc.Messageable
    reference: discord.MessageReference | discord.Message | None = None
    name: str = "channel"

    async def send(self, message: DiscordMessage) -> Sent:
        kwargs = send_kwargs(message)
        reference = self.reference
        if isinstance(reference, discord.Message):
            reference = reference.to_reference(fail_if_not_exists=False)
        if reference is not None:
            kwargs["reference"] = reference
            kwargs["mention_author"] = False
            self.reference = None  # only the first part of an answer replies
        sent = await self.channel.send(**kwargs)
        return Sent(channel_ref(sent.channel.id, sent.id), sent)


@dataclass(slots=True)
class FollowupTarget:
    """The interaction's webhook: works without channel permissions, for 15 minutes."""

    webhook: discord.Webhook
    ephemeral: bool = False
    name: str = "interaction"

    async def send(self, message: DiscordMessage) -> Sent:
        kwargs = send_kwargs(message)
        if self.ephemeral:
            kwargs["ephemeral"] = True
        sent: discord.WebhookMessage = await self.webhook.send(wait=True, **kwargs)
        return Sent(webhook_ref(sent.id), sent)


@dataclass(slots=True)
class JournaledTarget:
    """A target whose every posted message is noted in the job's journal."""

    target: Target
    journal: Journal
    name: str = ""

    def __post_init__(self) -> None:
        self.name = self.name or self.target.name

    async def send(self, message: DiscordMessage) -> Sent:
        sent = await self.target.send(message)
        await self.journal.posted(sent.ref)
        return sent


def journaled(targets: Sequence[Target], journal: Journal) -> list[Target]:
    return [JournaledTarget(target, journal) for target in targets]


Renderer = Callable[[], list[DiscordMessage]]


async def send_all(render: Renderer, targets: Sequence[Target]) -> bool:
    """Post every message, moving to the next target when one refuses.

    A refused message is rendered afresh for the next target, because discord.py closes
    attached files after a request. True when every message was posted somewhere.
    """
    messages = render()
    index = 0
    for position, target in enumerate(targets):
        try:
            while index < len(messages):
                await target.send(messages[index])
                index += 1
            return True
        except discord.HTTPException as exc:
            log.warning(
                "discord refused a message to the %s (status %s, code %s)%s",
                target.name,
                exc.status,
                exc.code,
                "; trying the next place" if position + 1 < len(targets) else "",
            )
            messages = render()
    return False


class Typing:
    """Shows "typing" in a channel until stopped. Cosmetic: a refusal is logged, never raised."""

    def __init__(self, channel: discord.abc.Messageable | None) -> None:
        self.channel = channel
        self._refresher: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self.channel is not None and await _type_once(self.channel):
            self._refresher = asyncio.create_task(_keep_typing(self.channel))

    async def stop(self) -> None:
        """Stop refreshing (Discord clears "typing" when the bot posts, or after 10 s)."""
        refresher, self._refresher = self._refresher, None
        if refresher is not None:
            refresher.cancel()
            # Not `await refresher` under suppress(CancelledError): that would also swallow
            # a cancellation of this task (the job's deadline) while it waits.
            await asyncio.wait({refresher}, timeout=TYPING_STOP_SECONDS)


@contextlib.asynccontextmanager
async def typing_in(channel: discord.abc.Messageable | None) -> AsyncIterator[None]:
    """Show "typing" while the body runs."""
    typing = Typing(channel)
    await typing.start()
    try:
        yield
    finally:
        await typing.stop()


async def _type_once(channel: discord.abc.Messageable) -> bool:
    try:
        await channel.typing()
    except discord.HTTPException as exc:
        log.info("cannot show typing (status %s); answering without it", exc.status)
        return False
    return True


async def _keep_typing(channel: discord.abc.Messageable) -> None:
    while True:
        await asyncio.sleep(TYPING_REFRESH_SECONDS)
        if not await _type_once(channel):
            return
