"""A Discord process of its own, pointed at a test's fakes: `python -m tests.discord.proc`.

    worker API_BASE MEIBEL_URL REDIS_URL PREFIX [--streaming] [--edit-interval S]
        a worker-only process on the test's Redis prefix (for the kill -9 tests);
    cli API_BASE GATEWAY_URL
        `meibel-bot discord` itself, settings from the environment (for the SIGTERM test).

Either way discord.py is pointed at the fake Discord first, as the fixture does in-process.
"""

from __future__ import annotations

import argparse
import asyncio
import logging

import yarl
from discord.gateway import DiscordWebSocket
from discord.http import Route
from pydantic import SecretStr

from adapters.cli import main as cli_main
from adapters.discord.process import DiscordProcess
from adapters.discord.services import Services
from adapters.discord.settings import DiscordSettings
from bot.lifecycle import until_signalled
from bot.meibel.client import MeibelClient
from bot.meibel.retry import RetryPolicy
from bot.pipeline import Pipeline, PipelineConfig
from bot.routing import AgentRef, Router
from bot.store import RedisStore
from bot.threadlock import ThreadLocks
from tests.discord.fakes.server import TOKEN
from tests.fixtures.discord import LOCK_TTL_SECONDS, fleet_options
from tests.fixtures.meibel import DEV_KEY


async def worker(args: argparse.Namespace) -> None:
    store = RedisStore.from_url(args.redis_url, prefix=args.prefix)
    meibel = MeibelClient(
        base_url=args.meibel_url,
        api_key=DEV_KEY,
        timeout_seconds=10,
        retry=RetryPolicy(base_delay=0.01, max_delay=0.05),
    )
    pipeline = Pipeline(
        meibel=meibel,
        store=store,
        config=PipelineConfig(router=Router(default=AgentRef("name", "dev-agent"), routes={})),
        locks=ThreadLocks(store, ttl_seconds=LOCK_TTL_SECONDS),
    )
    services = Services(
        pipeline=pipeline,
        store=store,
        session_ttl_seconds=3600,
        streaming=args.streaming,
        edit_interval_seconds=args.edit_interval,
    )
    settings = DiscordSettings(_env_file=None, discord_token=SecretStr(TOKEN))  # type: ignore[call-arg]
    process = DiscordProcess(
        services=services, settings=settings, fleet=fleet_options(gateway=False), meibel=meibel
    )
    try:
        await until_signalled(process.run())
    finally:
        await meibel.aclose()
        await store.aclose()


def point_at_fakes(api_base: str, gateway: str | None = None) -> None:
    Route.BASE = api_base
    if gateway is not None:
        DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway)


def main() -> int:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="mode", required=True)
    work = sub.add_parser("worker")
    for name in ("api_base", "meibel_url", "redis_url", "prefix"):
        work.add_argument(name)
    work.add_argument("--streaming", action="store_true")
    work.add_argument("--edit-interval", type=float, default=0.2)
    cli = sub.add_parser("cli")
    cli.add_argument("api_base")
    cli.add_argument("gateway")
    args = parser.parse_args()
    if args.mode == "cli":
        point_at_fakes(args.api_base, args.gateway)
        return cli_main(["discord"])
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    point_at_fakes(args.api_base)
    asyncio.run(worker(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
