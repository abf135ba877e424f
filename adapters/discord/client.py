"""The gateway client: commands, message events and button clicks, wired to intake."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import discord
from discord import app_commands

from adapters.discord import texts
from adapters.discord.access import AllowList
from adapters.discord.answering import Answerer
from adapters.discord.buttons import register_buttons, reply_privately
from adapters.discord.intake import Intake
from adapters.discord.interactions import InteractionHandlers
from adapters.discord.manage import SettingsPanel
from adapters.discord.messages import MessageHandler
from adapters.discord.place_actions import PlaceActions
from adapters.discord.place_items import register_place_items
from adapters.discord.services import Services
from adapters.discord.settings import DiscordSettings

log = logging.getLogger(__name__)

ASK_MENU = "Ask Meibel"
QUESTION_MAX = 4000  # a slash-command text option takes up to 6,000


def intents_for(*, message_content: bool) -> discord.Intents:
    """Only what the bot listens to: servers, messages (mentions, threads) and DMs."""
    intents = discord.Intents.none()
    intents.guilds = True
    intents.guild_messages = True
    intents.dm_messages = True
    intents.message_content = message_content
    return intents


def without_voice_warnings() -> None:
    """The bot never joins voice: discord.py's start-up warnings about missing voice
    libraries would only send admins looking for a problem that is not there."""
    discord.VoiceClient.warn_nacl = False
    discord.VoiceClient.warn_dave = False


class MeibelDiscordClient(discord.AutoShardedClient):
    """One client for all shards this process runs (all of them unless set)."""

    def __init__(
        self,
        *,
        services: Services,
        settings: DiscordSettings,
        intake: Intake,
        message_content: bool,
        **options: Any,
    ) -> None:
        without_voice_warnings()
        if settings.discord_shard_ids:
            options["shard_ids"] = settings.discord_shard_ids
        super().__init__(
            intents=intents_for(message_content=message_content),
            # The last line of defence: whatever a send forgets, nothing pings.
            allowed_mentions=discord.AllowedMentions.none(),
            shard_count=settings.discord_shard_count,
            **options,
        )
        self.settings = settings
        allow = AllowList.of(
            channels=settings.discord_allowed_channel_ids,
            roles=settings.discord_allowed_role_ids,
        )
        answerer = Answerer(services)
        self.meibel_buttons = InteractionHandlers(
            client=self, answerer=answerer, allow=allow, intake=intake
        )
        # Settings, share and hand-off (adapters.discord.place_items routes clicks here).
        self.meibel_places = PlaceActions(client=self, answerer=answerer)
        self.messages = MessageHandler(
            client=self,
            answerer=answerer,
            allow=allow,
            intake=intake,
            reply_without_mention=settings.discord_reply_without_mention,
        )
        self.tree = CommandTree(self)
        self.synced = False
        self.ready_event: asyncio.Event | None = None  # set on ready, for whoever runs us

    async def setup_hook(self) -> None:
        """Runs once before the gateway connects: buttons, commands, command sync.

        Sync belongs here rather than in on_ready, which fires again on every reconnect.
        """
        register_buttons(self)
        register_place_items(self)
        guilds = [discord.Object(id=guild_id) for guild_id in self.settings.discord_guild_ids]
        for command in build_commands(self.meibel_buttons, self.meibel_places.panel):
            if guilds:
                self.tree.add_command(command, guilds=guilds)
            else:
                self.tree.add_command(command)
        try:
            if guilds:
                for guild in guilds:
                    await self.tree.sync(guild=guild)
                log.info("commands synced to servers %s", self.settings.discord_guild_ids)
            else:
                await self.tree.sync()
                log.info("commands synced globally (they can take up to an hour to appear)")
            self.synced = True
        except discord.HTTPException as exc:
            # Mentions and DMs still work; say what to fix instead of failing to start.
            log.error(
                "could not sync the slash commands (status %s, code %s): invite the bot with "
                "the applications.commands scope (see docs/discord.md)",
                exc.status,
                exc.code,
            )

    async def on_ready(self) -> None:
        user = self.user
        log.info(
            "connected to Discord as %s (id %s) in %d server(s); message content %s",
            user,
            user.id if user else "?",
            len(self.guilds),
            "on" if self.intents.message_content else "off: mentions, DMs and commands only",
        )
        if self.ready_event is not None:
            self.ready_event.set()

    async def on_message(self, message: discord.Message) -> None:
        await self.messages.on_message(message)


class CommandTree(app_commands.CommandTree[MeibelDiscordClient]):
    async def on_error(
        self,
        interaction: discord.Interaction[MeibelDiscordClient],
        error: app_commands.AppCommandError,
    ) -> None:
        # The handlers answer their own failures; this catches what happens around them
        # (e.g. an option Discord sent that does not match the command).
        log.error("command failed: %s", type(error).__name__, exc_info=error)
        await reply_privately(interaction, texts.INTERNAL)


def build_commands(
    handlers: InteractionHandlers, panel: SettingsPanel
) -> list[app_commands.Command[Any, ..., None] | app_commands.ContextMenu | app_commands.Group]:
    """/ask, /new, /meibel settings and the "Ask Meibel" message menu."""

    @app_commands.command(name="ask", description="Ask Meibel; the answer opens a thread")
    @app_commands.describe(
        question="What you want to know", file="A file for the agent to read with it"
    )
    async def ask(
        interaction: discord.Interaction[Any],
        question: app_commands.Range[str, 1, QUESTION_MAX],
        file: discord.Attachment | None = None,
    ) -> None:
        await handlers.ask(interaction, question, file)

    @app_commands.command(name="new", description="Start a fresh conversation in this thread")
    async def new(interaction: discord.Interaction[Any]) -> None:
        await handlers.new(interaction)

    @app_commands.context_menu(name=ASK_MENU)
    async def ask_about(interaction: discord.Interaction[Any], message: discord.Message) -> None:
        await handlers.ask_about(interaction, message)

    meibel = app_commands.Group(
        name="meibel",
        description="Meibel in this server",
        guild_only=True,
        # Shown to channel managers by default (servers can change that); whoever runs
        # it, the bot checks Manage Channels or Manage Server itself.
        default_permissions=discord.Permissions(manage_channels=True),
    )

    @meibel.command(name="settings", description="How Meibel answers in this channel")
    async def settings(interaction: discord.Interaction[Any]) -> None:
        await panel.open(interaction)

    return [ask, new, ask_about, meibel]
