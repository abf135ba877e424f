"""The Slack hooks of the `meibel-bot` CLI: `meibel-bot slack`, `check` and `run`."""

from __future__ import annotations

import argparse
import logging
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.launch import run_platform
from adapters.slack.app import SlackBot
from adapters.slack.fleet import FleetOptions
from adapters.slack.responder import slack_error
from adapters.slack.server import run_bot
from adapters.slack.settings import (
    SlackSettings,
    load_slack_settings,
    require_slack_settings,
    slack_problems,
)
from adapters.slack.startup import verify_slack
from bot.attachments import AttachmentPolicy
from bot.check import CheckReport, as_written, mask, need
from bot.runtime import Runtime
from bot.settings import SettingsError

log = logging.getLogger(__name__)
SLACK_HELP = """Run the Slack app until SIGTERM or Ctrl-C: Socket Mode when SLACK_APP_TOKEN is
set, else HTTP on $PORT (events, interactivity and slash commands on /slack/events). A token
Slack refuses stops it at once (exit 2); Slack out of reach at start, after a few tries
(exit 1). See docs/slack.md.

Reads: SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET (HTTP) or SLACK_APP_TOKEN (Socket Mode), PORT,
SLACK_API_URL, SLACK_ALLOWED_CHANNELS, SLACK_REPLY_WITHOUT_MENTION, SLACK_STREAMING,
SLACK_STREAMING_MODE, SLACK_ADMIN_USERS, and every core setting (MEIBEL_*, REDIS_URL,
AGENT_ROUTES, ...)."""
SubParsers = Any  # argparse._SubParsersAction is private


def register(sub: SubParsers) -> None:
    parser = sub.add_parser(
        "slack",
        help="the Slack app (Socket Mode, or HTTP on $PORT)",
        description=SLACK_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(handler=cmd_slack)


def configured() -> bool:
    """True when Slack is meant to run: a Slack token or secret is set.

    A half-done set-up counts, so `meibel-bot run` reports what is missing instead of
    silently leaving Slack out.
    """
    try:
        settings = load_slack_settings()
    except SettingsError:
        return True
    return bool(settings.bot_token or settings.app_token or settings.signing_secret)


def build_bot(
    runtime: Runtime, settings: SlackSettings, *, fleet: FleetOptions | None = None
) -> SlackBot:
    """The bot on the runtime; `fleet` defaults to the core's fleet settings."""
    core = runtime.settings
    return SlackBot(
        settings=settings,
        pipeline=runtime.pipeline,
        store=runtime.store,
        session_ttl_seconds=core.session_ttl_seconds,
        core_streaming=core.streaming,
        attachments=AttachmentPolicy.from_megabytes(core.max_attachment_mb, core.max_attachments),
        fleet=fleet or FleetOptions.from_settings(core),
        meibel=runtime.meibel,
    )


async def serve(runtime: Runtime) -> None:
    """Run the Slack bot until cancelled; SettingsError names any missing variable."""
    await start_slack(runtime, require_slack_settings())


async def start_slack(runtime: Runtime, settings: SlackSettings) -> None:
    """Slack accepts the tokens (else PlatformRefused/PlatformUnreachable), then the bot."""
    await verify_slack(settings, retries=runtime.settings.start_retries)
    await run_bot(build_bot(runtime, settings))


async def cmd_slack(args: argparse.Namespace) -> int:
    return await run_platform(
        load=require_slack_settings, secrets=lambda slack: slack.secrets(), serve=start_slack
    )


async def check(report: CheckReport) -> None:
    """Slack's part of `meibel-bot check`: settings (secrets masked) and auth.test."""
    report.section("Slack")
    try:
        settings = load_slack_settings()
    except SettingsError as exc:
        for line in exc.problems:
            report.fail(line)
        return
    written = as_written(SlackSettings.model_fields)
    socket = settings.socket_mode
    mode = "Socket Mode" if socket else "HTTP mode"
    report.info(f"SLACK_BOT_TOKEN = {mask(settings.bot_token)} {need(True, 'both modes')}")
    report.info(
        f"SLACK_SIGNING_SECRET = {mask(settings.signing_secret)} "
        + need(
            not socket, f"{mode} ({'SLACK_APP_TOKEN is set' if socket else 'no SLACK_APP_TOKEN'})"
        )
    )
    report.info(
        f"SLACK_APP_TOKEN = {mask(settings.app_token)} "
        + need(socket, "Socket Mode" if socket else "HTTP mode; set it for Socket Mode")
    )
    for name in (
        "SLACK_API_URL",
        "SLACK_ALLOWED_CHANNELS",
        "SLACK_REPLY_WITHOUT_MENTION",
        "SLACK_STREAMING",
        "SLACK_STREAMING_MODE",
        "SLACK_ADMIN_USERS",
        "PORT",
    ):
        info = SlackSettings.model_fields[name.lower()]
        default = (
            "(not set: follows STREAMING)"
            if info.default is None
            else "(not set: on)"
            if info.default is True
            else "(not set: off)"
            if info.default is False
            else f"(not set: {info.default or 'all'})"
        )
        report.info(f"{name} = {written.get(name) or default}")
    if not configured():
        report.warn("Slack is not configured (SLACK_BOT_TOKEN is not set); skipping it")
        return
    for problem in slack_problems(settings):
        report.fail(problem)
    mode = "Socket Mode" if settings.socket_mode else f"HTTP mode on port {settings.port}"
    report.ok(f"mode: {mode}")
    if settings.bot_token:
        await _check_auth(settings, report)


async def _check_auth(settings: SlackSettings, report: CheckReport) -> None:
    client = AsyncWebClient(token=settings.bot_token, base_url=settings.slack_api_url, timeout=10)
    try:
        response = await client.auth_test()
    except SlackApiError as exc:
        error = slack_error(exc)
        report.fail(f"auth.test refused the bot token ({error}): check SLACK_BOT_TOKEN")
        return
    except (SlackClientError, aiohttp.ClientError, OSError, TimeoutError) as exc:
        report.fail(f"auth.test: cannot reach {settings.slack_api_url} ({type(exc).__name__})")
        return
    user, team = response.get("user") or "?", response.get("team") or "?"
    report.ok(f"auth.test: the bot token works: @{user} in {team} ({response.get('team_id')})")
    if response.get("bot_id") is None:
        report.warn("SLACK_BOT_TOKEN is not a bot token (auth.test names no bot)")
