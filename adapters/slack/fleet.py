"""How a Slack process takes part in a fleet: the work queue, its worker, fair use, the
shutdown grace and the ops port, from the core settings."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from adapters.slack.intake import SUBMIT_SECONDS
from bot.ratelimit import RateLimit
from bot.settings import Settings
from bot.store.base import Store
from bot.work import WorkConfig, WorkQueue, open_queue
from bot.work.queue import with_deadline

QUEUE_NAME = "slack"  # only processes that can post to Slack take Slack jobs


def work_config(**overrides: Any) -> WorkConfig:
    """The queue's tuning for Slack: a submit short enough to ack inside Slack's 3 s."""
    return dataclasses.replace(WorkConfig(submit_timeout=SUBMIT_SECONDS), **overrides)


@dataclass(frozen=True, slots=True)
class FleetOptions:
    concurrency: int = 2048  # WORKER_CONCURRENCY: the most answers this process holds
    grace_seconds: float = 25.0  # SHUTDOWN_GRACE_SECONDS
    rate_limit: RateLimit | None = None  # USER_RATE_LIMIT; None: no limit
    ops_port: int | None = None  # OPS_PORT: /healthz, /readyz, /metrics in Socket Mode
    ops_token: str | None = None  # OPS_TOKEN: required for /metrics and /readyz's detail
    work: WorkConfig = field(default_factory=work_config)

    @classmethod
    def from_settings(cls, settings: Settings) -> FleetOptions:
        limit = settings.user_rate_limit
        return cls(
            concurrency=settings.worker_concurrency,
            grace_seconds=settings.shutdown_grace_seconds,
            rate_limit=RateLimit.parse(limit) if limit else None,
            ops_port=settings.ops_port,
            ops_token=settings.ops_token.get_secret_value() if settings.ops_token else None,
            work=with_deadline(work_config(), settings.job_deadline_seconds),
        )

    def open_queue(self, store: Store) -> WorkQueue:
        """Redis Streams on a Redis store (shared by the fleet), else in this process."""
        return open_queue(store, name=QUEUE_NAME, config=self.work)
