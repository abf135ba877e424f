"""`meibel-bot discord`, the Discord part of `meibel-bot check`, and `run`'s hooks."""

from __future__ import annotations

import argparse
import asyncio
import logging
from typing import Any

import discord

from adapters.discord.app import invite_url, services_of
from adapters.discord.client import without_voice_warnings
from adapters.discord.process import DiscordProcess, FleetOptions
from adapters.discord.redact import redact_discord_secrets
from adapters.discord.settings import DiscordSettings, load_discord_settings
from adapters.discord.startup import TOKEN_REFUSED, verify_discord
from adapters.launch import run_platform
from bot.check import CheckReport, as_written, mask
from bot.runtime import Runtime
from bot.settings import SettingsError
from bot.startup import PlatformRefused

log = logging.getLogger(__name__)

TOKEN_MISSING = (
    "DISCORD_TOKEN is not set: it should hold your bot's token "
    "(Developer Portal -> your application -> Bot -> Reset Token); see docs/discord.md."
)
CHECK_TIMEOUT_SECONDS = 15.0
GATEWAY_AUTH_FAILED = 4004  # the gateway's close code for a refused token
DISCORD_HELP = """Run the Discord bot until SIGTERM or Ctrl-C: /ask, the "Ask Meibel" message
command, /meibel settings for channel managers and (optionally) replies in its threads. A
token Discord refuses stops it at once (exit 2); Discord out of reach at start, after a few
tries (exit 1). See docs/discord.md.

Reads: DISCORD_TOKEN, DISCORD_GUILD_IDS, DISCORD_ALLOWED_CHANNEL_IDS, DISCORD_ALLOWED_ROLE_IDS,
DISCORD_REPLY_WITHOUT_MENTION, DISCORD_STREAMING, DISCORD_SHARD_COUNT, DISCORD_SHARD_IDS, and
every core setting (MEIBEL_*, REDIS_URL, AGENT_ROUTES, ...; see .env.example)."""


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "discord",
        help="the Discord bot",
        description=DISCORD_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(handler=cmd_discord)


def configured() -> bool:
    """DISCORD_TOKEN is set (invalid other settings count too, so `run` reports them)."""
    try:
        return bool(load_discord_settings().token)
    except SettingsError:
        return True


def discord_settings() -> DiscordSettings:
    """The settings with a token, or SettingsError naming what to fix."""
    settings = load_discord_settings()
    if not settings.token:
        raise SettingsError([TOKEN_MISSING])
    return settings


async def serve(runtime: Runtime) -> None:
    """Run the Discord bot until cancelled (used by `meibel-bot run` and `discord`); on
    cancellation, stop gracefully: no new questions, answers in flight finished (up to
    SHUTDOWN_GRACE_SECONDS), the rest left queued."""
    settings = discord_settings()
    redact_discord_secrets(settings.token)
    await verify_discord(settings.token, retries=runtime.settings.start_retries)
    process = DiscordProcess(
        services=services_of(runtime, settings),
        settings=settings,
        fleet=FleetOptions.of(runtime.settings),
        meibel=runtime.meibel,
    )
    try:
        await process.run()
    except discord.LoginFailure:  # the token was reset between the check and the login
        raise PlatformRefused(TOKEN_REFUSED) from None
    except discord.ConnectionClosed as exc:
        if exc.code == GATEWAY_AUTH_FAILED:  # the gateway refused what REST accepted
            raise PlatformRefused(TOKEN_REFUSED) from None
        raise


async def cmd_discord(args: argparse.Namespace) -> int:
    return await run_platform(
        load=discord_settings,
        secrets=lambda config: [config.token],
        serve=lambda runtime, _config: serve(runtime),
    )


async def check(report: CheckReport) -> None:
    report.section("Discord")
    try:
        settings = load_discord_settings()
    except SettingsError as exc:
        for problem in exc.problems:
            report.fail(problem)
        return
    if not settings.token:
        report.warn("DISCORD_TOKEN is not set: Discord is off")
        return
    report_settings(settings, report)
    await check_connection(settings, report)


def report_settings(settings: DiscordSettings, report: CheckReport) -> None:
    def ids(values: list[int], unset: str) -> str:
        return ",".join(str(v) for v in values) if values else f"(not set: {unset})"

    report.ok(f"DISCORD_TOKEN = {mask(settings.token)}")
    report.ok(
        "DISCORD_GUILD_IDS = "
        + ids(settings.discord_guild_ids, "commands sync globally, up to an hour to appear")
    )
    report.ok(
        "DISCORD_ALLOWED_CHANNEL_IDS = "
        + ids(settings.discord_allowed_channel_ids, "every channel")
    )
    report.ok("DISCORD_ALLOWED_ROLE_IDS = " + ids(settings.discord_allowed_role_ids, "everyone"))
    written = as_written(["DISCORD_REPLY_WITHOUT_MENTION"]).get("DISCORD_REPLY_WITHOUT_MENTION")
    shown = written or f"(not set: {'on' if settings.discord_reply_without_mention else 'off'})"
    report.ok(f"DISCORD_REPLY_WITHOUT_MENTION = {shown}")
    streaming = settings.discord_streaming
    report.ok(
        "DISCORD_STREAMING = "
        + ("on" if streaming else "off" if streaming is not None else "(not set: STREAMING)")
    )
    count = settings.discord_shard_count
    report.ok(f"DISCORD_SHARD_COUNT = {count if count else '(not set: Discord chooses)'}")
    report.ok("DISCORD_SHARD_IDS = " + ids(settings.discord_shard_ids, "all shards"))
    if settings.needs_message_content:
        report.info(
            "the Message Content intent: needed (DISCORD_REPLY_WITHOUT_MENTION is on): "
            "enable it under Bot -> Privileged Gateway Intents"
        )
    else:
        report.info("the Message Content intent: not needed (DISCORD_REPLY_WITHOUT_MENTION is off)")


async def check_connection(settings: DiscordSettings, report: CheckReport) -> None:
    """Log in over HTTP (no gateway): the token, the application, the intent's switch."""
    without_voice_warnings()
    client = discord.Client(intents=discord.Intents.none())
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS), client:
            await client.login(settings.token)
            application = client.application
    except discord.LoginFailure:
        report.fail(TOKEN_REFUSED)
        return
    except (discord.HTTPException, OSError, TimeoutError) as exc:
        report.warn(f"could not reach Discord to check the token ({type(exc).__name__})")
        return
    if application is None:  # login always fetches it; be explicit rather than assume
        report.warn("Discord did not describe the application")
        return
    report.ok(f"the token is accepted: application {application.name!r} (id {application.id})")
    flags = application.flags
    enabled = flags.gateway_message_content or flags.gateway_message_content_limited
    if enabled:
        report.ok("the Message Content intent is enabled")
    elif settings.needs_message_content:
        report.warn(
            "the Message Content intent is NOT enabled: the bot will answer mentions, DMs and "
            "commands only. Enable it under Bot -> Privileged Gateway Intents, or set "
            "DISCORD_REPLY_WITHOUT_MENTION=false"
        )
    report.ok(f"invite URL: {invite_url(application.id)}")
