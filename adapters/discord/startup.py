"""Before `meibel-bot discord` connects: Discord must accept DISCORD_TOKEN (else exit 2 at
once), and must answer at all (a few tries, else exit 1)."""

from __future__ import annotations

import asyncio

import aiohttp
import discord

from adapters.discord.client import without_voice_warnings
from bot.startup import PlatformRefused, StartRetries, reach

TOKEN_REFUSED = (
    "Discord refused DISCORD_TOKEN (401 Unauthorized): it is wrong or was reset. Copy a "
    "fresh one from the Developer Portal (your application -> Bot -> Reset Token)."
)
UNREACHABLE = (aiohttp.ClientError, discord.DiscordServerError, OSError, TimeoutError)


async def verify_discord(token: str, *, retries: StartRetries) -> None:
    """Log in over HTTP (GET /users/@me), no gateway: PlatformRefused for a refused token,
    PlatformUnreachable when Discord does not answer."""
    without_voice_warnings()

    async def attempt() -> None:
        # The HTTP client alone: a whole discord.Client would log and warn about intents.
        http = discord.http.HTTPClient(asyncio.get_running_loop())
        try:
            await http.static_login(token)
        except discord.LoginFailure:
            raise PlatformRefused(TOKEN_REFUSED) from None
        finally:
            await http.close()

    await reach(attempt, what="Discord", retries=retries, unreachable=UNREACHABLE)
