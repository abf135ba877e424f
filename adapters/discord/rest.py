"""Discord by ids alone: what a worker needs to answer a job that another process accepted.

The process that answers may not have the server in its cache (another process holds its
shard) or may have started after the event, so everything here works from ids over REST:
channels as partial messageables, the interaction's follow-up webhook from the application
id and token, threads opened by channel and message id, messages an earlier run posted.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast

import aiohttp
import discord

from adapters.discord.delivery import NO_PINGS, Editable, Sent
from adapters.discord.question_files import download
from bot.work.fence import guard

log = logging.getLogger(__name__)

# Threads the bot opens stay open for a day without messages (the Discord default is 3).
THREAD_ARCHIVE_MINUTES: Literal[1440] = 1440
THREAD_EXISTS = 160004  # "A thread has already been created for this message"
WEBHOOK_TYPE_APPLICATION = 3
# The interaction's original response, in the webhook routes that take a message id.
ORIGINAL = cast(int, "@original")


@dataclass(frozen=True, slots=True)
class WebhookMessageRef:
    """A message posted through the interaction's webhook, known only by its id."""

    webhook: discord.Webhook
    message_id: int

    async def edit(self, *args: Any, **kwargs: Any) -> Any:
        return await self.webhook.edit_message(self.message_id, *args, **kwargs)

    async def delete(self) -> None:
        await self.webhook.delete_message(self.message_id)


# REST methods that change nothing a user sees.
READS = frozenset({"GET", "HEAD", "OPTIONS"})
# A rate limit that asks for a longer wait is an error (discord.RateLimited), not a sleep.
MAX_RATELIMIT_SECONDS = 20.0


def fenced_writes() -> aiohttp.TraceConfig:
    """Every REST write, webhooks and interaction responses included, first runs
    `bot.work.fence.guard()`: a job run that lost its job raises FenceLost there, before
    Discord hears anything (outside a job it is a no-op). Discord.py sends all of them
    through the client's one aiohttp session, whose traces run in the caller's task."""

    async def before(
        _session: aiohttp.ClientSession,
        _context: object,
        params: aiohttp.TraceRequestStartParams,
    ) -> None:
        if params.method.upper() not in READS:
            await guard()

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(before)
    return trace


def rest_client() -> discord.Client:
    """The client a worker answers through: fenced writes, bounded rate-limit waits.

    It never connects to the gateway, so intents change nothing; `guilds` only keeps
    discord.py from warning that state may be incomplete."""
    return discord.Client(
        intents=discord.Intents(guilds=True),
        http_trace=fenced_writes(),
        max_ratelimit_timeout=MAX_RATELIMIT_SECONDS,
    )


class DiscordRest:
    """REST calls by id on a logged-in client (it needs no gateway connection)."""

    def __init__(self, client: discord.Client) -> None:
        self.client = client

    def channel(self, channel_id: int) -> discord.PartialMessageable:
        return self.client.get_partial_messageable(channel_id)

    def followup(self, *, application_id: int, token: str) -> discord.Webhook:
        """The interaction's follow-up webhook, as `Interaction.followup` builds it."""
        data: Any = {"id": application_id, "type": WEBHOOK_TYPE_APPLICATION, "token": token}
        # The client's state lets the webhook send views with buttons.
        return discord.Webhook.from_state(data, self.client._connection)

    @staticmethod
    def reference(
        *, channel_id: int, message_id: int, guild_id: int | None
    ) -> discord.MessageReference:
        """A reply to the message that asked; still posts if it was deleted meanwhile."""
        return discord.MessageReference(
            message_id=message_id,
            channel_id=channel_id,
            guild_id=guild_id,
            fail_if_not_exists=False,
        )

    async def show_original(self, webhook: discord.Webhook, content: str) -> int | None:
        """Replace the interaction's "thinking" response with `content`; its message id."""
        try:
            message = await webhook.edit_message(
                ORIGINAL, content=content, allowed_mentions=NO_PINGS
            )
        except discord.HTTPException as exc:
            log.warning("could not show the question (status %s)", exc.status)
            return None
        return message.id

    async def open_thread(
        self, *, channel_id: int, message_id: int, name: str
    ) -> int | discord.HTTPException:
        """A public thread from the message (its id is the message's), or why not."""
        try:
            data = await self.client.http.start_thread_with_message(
                channel_id, message_id, name=name, auto_archive_duration=THREAD_ARCHIVE_MINUTES
            )
        except discord.HTTPException as exc:
            if exc.code == THREAD_EXISTS:
                # Opened by an earlier run that died before noting it: the same thread.
                return message_id
            log.warning(
                "could not open a thread in channel %s (status %s, code %s)",
                channel_id,
                exc.status,
                exc.code,
            )
            return exc
        return int(data["id"])

    async def download(self, url: str, limit: int) -> bytes:
        """A file attached to a question, read up to `limit` bytes (see question_files)."""
        return await download(url, limit)

    async def tell_user(self, user_id: int, text: str) -> bool:
        """A direct message to the user; False when Discord refuses (DMs closed)."""
        try:
            channel = await self.client.create_dm(discord.Object(id=user_id))
            await channel.send(text, allowed_mentions=NO_PINGS)
        except discord.HTTPException as exc:
            log.warning("could not message user %s privately (status %s)", user_id, exc.status)
            return False
        return True

    def shown(self, refs: Sequence[str], webhook: discord.Webhook | None) -> list[Sent]:
        """Messages an earlier run posted (journal refs), to edit instead of posting anew."""
        found: list[Sent] = []
        for ref in refs:
            message = self._message(ref, webhook)
            if message is None:
                log.warning("cannot reach an earlier message (%s) again; leaving it", ref)
                continue
            found.append(Sent(ref, message))
        return found

    def _message(self, ref: str, webhook: discord.Webhook | None) -> Editable | None:
        kind, rest = ref[:1], ref[1:]
        try:
            if kind == "c":
                channel_id, message_id = (int(part) for part in rest.split("/"))
                return self.channel(channel_id).get_partial_message(message_id)
            if kind == "w" and webhook is not None:
                return WebhookMessageRef(webhook, int(rest))
        except ValueError:
            pass
        return None
