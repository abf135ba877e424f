"""Running the Discord bot: the client, and the fallback when message content is refused."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import discord

from adapters.discord.client import MeibelDiscordClient
from adapters.discord.intake import Intake
from adapters.discord.services import Services
from adapters.discord.settings import DiscordSettings
from bot.attachments import AttachmentPolicy
from bot.runtime import Runtime

log = logging.getLogger(__name__)

# What the bot needs in a channel: read, answer, open threads and post in them, embeds
# for sources, files for artifacts, history to reply to a message, reactions to mark a
# question handed off to a person.
PERMISSIONS = discord.Permissions(
    view_channel=True,
    send_messages=True,
    send_messages_in_threads=True,
    create_public_threads=True,
    embed_links=True,
    attach_files=True,
    read_message_history=True,
    add_reactions=True,
)
SCOPES = ("bot", "applications.commands")

CONTENT_INTENT_REFUSED = (
    "Discord refused the Message Content intent: it is not enabled for this bot "
    "(Developer Portal -> your application -> Bot -> Privileged Gateway Intents). "
    "Answering mentions, DMs and commands only; replies in the bot's threads need a "
    "mention until it is enabled. Set DISCORD_REPLY_WITHOUT_MENTION=false to not ask for it."
)


def invite_url(application_id: int) -> str:
    return discord.utils.oauth_url(application_id, permissions=PERMISSIONS, scopes=SCOPES)


def services_of(runtime: Runtime, settings: DiscordSettings) -> Services:
    core = runtime.settings
    return Services(
        pipeline=runtime.pipeline,
        store=runtime.store,
        session_ttl_seconds=runtime.pipeline.config.session_ttl_seconds,
        streaming=settings.streaming(default=core.streaming),
        attachments=AttachmentPolicy.from_megabytes(
            core.max_attachment_mb, max_count=core.max_attachments
        ),
    )


class DiscordRunner:
    """Runs the gateway client until cancelled or closed; without the privileged intent,
    runs again without it.

    `client` is the client of the current attempt; `ready` is set once it is connected.
    """

    def __init__(
        self, *, services: Services, settings: DiscordSettings, intake: Intake, **options: Any
    ) -> None:
        self.services = services
        self.settings = settings
        self.intake = intake
        self.options = options
        self.closing = False
        self.message_content = settings.needs_message_content
        self.client: MeibelDiscordClient | None = None
        self.ready = asyncio.Event()

    async def run(self) -> None:
        """Connect and serve; raises discord.LoginFailure when the token is refused."""
        while True:
            client = MeibelDiscordClient(
                services=self.services,
                settings=self.settings,
                intake=self.intake,
                message_content=self.message_content,
                **self.options,
            )
            client.ready_event = self.ready
            self.client = client
            try:
                async with client:
                    await client.start(self.settings.token)
                return
            except discord.PrivilegedIntentsRequired:
                if not self.message_content:
                    raise  # nothing else privileged is asked for: a real misconfiguration
                log.warning(CONTENT_INTENT_REFUSED)
                self.message_content = False
            if self.closing:
                return

    async def close(self) -> None:
        """Disconnect from the gateway: no new events, so no new work, from here on."""
        self.closing = True
        if self.client is not None:
            await self.client.close()
