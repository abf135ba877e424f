"""Building the running core from settings: store, Meibel client, pipeline."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from bot.meibel.client import MeibelClient
from bot.metrics import Metrics
from bot.pipeline import Pipeline, PipelineConfig
from bot.settings import Settings
from bot.store import Store, open_store


@dataclass(frozen=True, slots=True)
class Runtime:
    settings: Settings
    store: Store
    meibel: MeibelClient
    pipeline: Pipeline
    metrics: Metrics


@contextlib.asynccontextmanager
async def open_runtime(settings: Settings) -> AsyncIterator[Runtime]:
    """Open the store and the Meibel client for the life of the process, then close both."""
    store = await open_store(redis_url=settings.redis_dsn, sqlite_path=settings.meibel_bot_db)
    metrics = Metrics()
    meibel = MeibelClient(
        base_url=settings.meibel_base_url,
        api_key=settings.api_key,
        timeout_seconds=settings.meibel_timeout_seconds,
        # A streamed answer holds its connection while the agent writes: one each.
        max_connections=settings.worker_concurrency,
        metrics=metrics,  # waiting for Meibel's rate limit shows in /metrics
    )
    try:
        pipeline = Pipeline(
            meibel=meibel,
            store=store,
            config=PipelineConfig(
                router=settings.router(),
                session_ttl_seconds=settings.session_ttl_seconds,
                max_question_chars=settings.max_question_chars,
                context=settings.context_limits(),
                identity=settings.identity_options(),
                policies=settings.policy_rules(),
            ),
            metrics=metrics,
        )
        yield Runtime(
            settings=settings, store=store, meibel=meibel, pipeline=pipeline, metrics=metrics
        )
    finally:
        await meibel.aclose()
        await store.aclose()
