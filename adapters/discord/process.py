"""One Discord process of a fleet: the gateway (intake), a worker (answers), ops endpoints.

Every process takes events from the shards it runs (DISCORD_SHARD_IDS) and queues them on
the "discord" queue; every process's worker answers any Discord job over REST, whichever
process accepted it. With Redis the queue is a stream shared by the fleet; with the
embedded store it is in-process (one process). On shutdown the gateway closes first (no
new work), answers in flight get SHUTDOWN_GRACE_SECONDS to finish, and the rest stays
queued for the next worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

from adapters.discord.acks import Acks
from adapters.discord.answering import Answerer
from adapters.discord.app import DiscordRunner
from adapters.discord.intake import Intake
from adapters.discord.ops import OpsServer
from adapters.discord.rest import DiscordRest, rest_client
from adapters.discord.services import Services
from adapters.discord.settings import DiscordSettings
from adapters.discord.work import DiscordWork
from bot.meibel.client import MeibelClient
from bot.ratelimit import RateLimit, UserRateLimiter
from bot.settings import Settings
from bot.work import WorkConfig, dispatch, open_queue
from bot.work.queue import with_deadline

log = logging.getLogger(__name__)

QUEUE = "discord"  # only processes that can post to Discord take these jobs
# Intake must queue (or refuse) well inside Discord's 3 seconds for an interaction, rate
# limit check included, even when Redis hangs rather than fails.
SUBMIT_TIMEOUT_SECONDS = 1.5
RATE_LIMIT_TIMEOUT_SECONDS = 0.5
CLOSE_TIMEOUT_SECONDS = 10.0
# Beyond the grace, what the queue may take to hand back what it holds.
STOP_MARGIN_SECONDS = 3.0


@dataclass(frozen=True, slots=True)
class FleetOptions:
    """How this process takes part in the fleet."""

    concurrency: int = 2048
    grace_seconds: float = 25.0
    ops_port: int | None = None
    ops_token: str | None = None  # OPS_TOKEN: required for /metrics and /readyz's detail
    rate_limit: RateLimit | None = None
    work: WorkConfig = field(
        default_factory=lambda: WorkConfig(submit_timeout=SUBMIT_TIMEOUT_SECONDS)
    )
    gateway: bool = True  # take events from Discord; False: a worker only
    worker: bool = True  # answer jobs; False: intake only

    @classmethod
    def of(cls, settings: Settings) -> FleetOptions:
        limit = settings.user_rate_limit
        return cls(
            concurrency=settings.worker_concurrency,
            grace_seconds=settings.shutdown_grace_seconds,
            ops_port=settings.ops_port,
            ops_token=settings.ops_token.get_secret_value() if settings.ops_token else None,
            rate_limit=RateLimit.parse(limit) if limit else None,
            work=with_deadline(
                WorkConfig(submit_timeout=SUBMIT_TIMEOUT_SECONDS), settings.job_deadline_seconds
            ),
        )


class DiscordProcess:
    """Runs until cancelled, then stops gracefully (see the module docstring).

    `client_options` go to the gateway client (discord.py's Client options).
    """

    def __init__(
        self,
        *,
        services: Services,
        settings: DiscordSettings,
        fleet: FleetOptions,
        meibel: MeibelClient | None = None,
        **client_options: Any,
    ) -> None:
        self.services = services
        self.settings = settings
        self.fleet = fleet
        self.meibel = meibel
        store = services.store
        self.queue = open_queue(store, name=QUEUE, config=fleet.work)
        limiter = UserRateLimiter(
            store, fleet.rate_limit, timeout_seconds=RATE_LIMIT_TIMEOUT_SECONDS
        )
        self.intake = Intake(queue=self.queue, limiter=limiter, acks=Acks(store))
        self.runner = DiscordRunner(
            services=services, settings=settings, intake=self.intake, **client_options
        )
        # Answers go out through a client of their own, which needs no gateway and
        # outlives it at shutdown, while the answers in flight are posted.
        self.rest_client = rest_client()
        self.work = DiscordWork(
            answerer=Answerer(services),
            rest=DiscordRest(self.rest_client),
            acks=self.intake.acks,
            posted=self.queue.posted,
            job_deadline=fleet.work.job_deadline,
        )
        self.ops: OpsServer | None = None
        self.working = asyncio.Event()  # the worker runs

    @property
    def ready(self) -> asyncio.Event:
        """Set once the process takes work: connected to the gateway (or, a worker only,
        working)."""
        return self.runner.ready if self.fleet.gateway else self.working

    async def run(self) -> None:
        """Serve until cancelled; raises discord.LoginFailure for a refused token."""
        tasks: dict[str, asyncio.Task[None]] = {}
        try:
            await self.rest_client.login(self.settings.token)
            self._start_ops()
            if self.fleet.worker:
                handler = dispatch(self.work.handlers())
                run = self.queue.run(handler, concurrency=self.fleet.concurrency)
                tasks["worker"] = asyncio.create_task(run, name="discord-worker")
                self.working.set()
            if self.fleet.gateway:
                tasks["gateway"] = asyncio.create_task(self.runner.run(), name="discord-gateway")
            if tasks:
                done, _ = await asyncio.wait(tasks.values(), return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    task.result()  # raises what ended it (a refused token, a bug)
        finally:
            await asyncio.shield(self._shutdown(tasks))

    def _start_ops(self) -> None:
        if self.fleet.ops_port is None:
            return
        if self.meibel is None:
            log.warning("OPS_PORT is set but no Meibel client was given: no ops endpoints")
            return
        self.ops = OpsServer(
            port=self.fleet.ops_port,
            store=self.services.store,
            meibel=self.meibel,
            metrics=self.services.pipeline.metrics,
            queue=self.queue,
            token=self.fleet.ops_token,
        )
        self.ops.start()

    async def _shutdown(self, tasks: dict[str, asyncio.Task[None]]) -> None:
        gateway, worker = tasks.get("gateway"), tasks.get("worker")
        if gateway is not None:
            log.info("Discord: closing the gateway; no new questions are taken")
            try:
                async with asyncio.timeout(CLOSE_TIMEOUT_SECONDS):
                    await self.runner.close()
            except TimeoutError:
                log.warning("the gateway did not close in %.0fs", CLOSE_TIMEOUT_SECONDS)
            await _settle(gateway, "gateway")
        if worker is not None:
            grace = self.fleet.grace_seconds
            try:
                # Bounded: a queue that does not stop by then (a task of it lived through
                # its cancellation) has its run cancelled at once, below.
                async with asyncio.timeout(grace + STOP_MARGIN_SECONDS):
                    await self.queue.stop(grace_seconds=grace)
            except TimeoutError:
                log.warning("the worker did not stop within %.0fs; cancelling it", grace)
                worker.cancel()
            await _settle(worker, "worker")
        if self.ops is not None:
            await self.ops.stop()
        await self.rest_client.close()
        log.info("Discord: stopped")


async def _settle(task: asyncio.Task[None], name: str) -> None:
    """Wait for a task that was told to stop; cancel it if it does not within a bound."""
    try:
        async with asyncio.timeout(CLOSE_TIMEOUT_SECONDS):
            await asyncio.shield(task)
    except TimeoutError:
        log.warning("the %s did not stop in %.0fs; cancelling it", name, CLOSE_TIMEOUT_SECONDS)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    except Exception as exc:  # run() raises it when it is what ended the process
        log.warning("the %s ended with %s", name, type(exc).__name__)
