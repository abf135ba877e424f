"""A Slack bot process for the fleet tests: `python -m tests.slack.bot_proc --prefix P`.

The real thing (settings from the environment, SlackBot, `run_bot` in HTTP mode, stopped
by SIGTERM like `meibel-bot slack`), with two test-sized timings it cannot get from the
environment: the queue's visibility timeout and the thread lock's TTL, so that a killed
process's work is taken over in seconds rather than a minute. Its store lives under the
given key prefix, so a test shares it with the bots it runs in-process.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses

from adapters.slack.app import SlackBot
from adapters.slack.fleet import FleetOptions, work_config
from adapters.slack.server import run_bot
from adapters.slack.settings import require_slack_settings
from bot.attachments import AttachmentPolicy
from bot.lifecycle import until_signalled
from bot.logs import configure_logging
from bot.meibel.client import MeibelClient
from bot.metrics import Metrics
from bot.pipeline import Pipeline, PipelineConfig
from bot.settings import load_settings
from bot.store import RedisStore
from bot.threadlock import ThreadLocks


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--visibility", type=float, default=1.5)
    args = parser.parse_args()
    core, slack = load_settings(), require_slack_settings()
    configure_logging(core.log_level, secrets=[core.api_key, *slack.secrets()])
    assert core.redis_dsn, "REDIS_URL must be set"
    store = RedisStore.from_url(core.redis_dsn, prefix=args.prefix)
    meibel = MeibelClient(base_url=core.meibel_base_url, api_key=core.api_key, timeout_seconds=10)
    pipeline = Pipeline(
        meibel=meibel,
        store=store,
        config=PipelineConfig(router=core.router()),
        locks=ThreadLocks(store, ttl_seconds=args.visibility),
        metrics=Metrics(),
    )
    fleet = dataclasses.replace(
        FleetOptions.from_settings(core),
        work=work_config(visibility_timeout=args.visibility, reclaim_interval=0.1),
    )
    bot = SlackBot(
        settings=slack,
        pipeline=pipeline,
        store=store,
        session_ttl_seconds=core.session_ttl_seconds,
        attachments=AttachmentPolicy(),
        fleet=fleet,
        meibel=meibel,
    )
    try:
        await until_signalled(run_bot(bot))
    finally:
        await meibel.aclose()
        await store.aclose()


if __name__ == "__main__":
    asyncio.run(main())
