"""The pipeline's own overhead: `ask()` against the dev server with no latency.

Overhead per question = the time `ask()` took minus the time spent inside Meibel calls:
what remains is the store, the thread locks and the pipeline itself. Measured
- one question at a time (the pipeline's cost with nothing else running), and
- 200 threads asking at once for several rounds (round 1 starts the sessions), where the
  figure also holds the time each step waits for the shared event loop; beside it, the
  same load sent straight through the Meibel client, with no pipeline, as the baseline.
The dev server runs in its own process. Run: .venv/bin/python -m bench.pipeline
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
import uuid
from collections.abc import Sequence
from typing import Any

from bench.common import dev_server_process, ms, percentile
from bot.domain import Question
from bot.meibel.client import MeibelClient
from bot.meibel.models import ChatMessageResponse
from bot.pipeline import Pipeline, PipelineConfig
from bot.routing import AgentRef, Router
from bot.store import RedisStore, SqliteStore, Store


class TimedMeibel:
    """The real client, with the time spent in its calls added up per asyncio task."""

    def __init__(self, client: MeibelClient) -> None:
        self.client = client
        self.timeout_seconds = client.timeout_seconds
        self.spent: dict[asyncio.Task[object] | None, float] = {}

    def _add(self, started: float) -> None:
        task = asyncio.current_task()
        self.spent[task] = self.spent.get(task, 0.0) + time.perf_counter() - started

    async def start_session(
        self,
        agent: AgentRef,
        *,
        initial_context: dict[str, Any] | None = None,
        execution_policy_ids: Sequence[str] = (),
    ) -> str:
        started = time.perf_counter()
        try:
            return await self.client.start_session(
                agent, initial_context=initial_context, execution_policy_ids=execution_policy_ids
            )
        finally:
            self._add(started)

    async def chat(self, session_id: str, user_message: str) -> ChatMessageResponse:
        started = time.perf_counter()
        try:
            return await self.client.chat(session_id, user_message)
        finally:
            self._add(started)


class Bench:
    def __init__(self, store: Store, client: MeibelClient) -> None:
        self.meibel = TimedMeibel(client)
        self.pipeline = Pipeline(
            meibel=self.meibel,
            store=store,
            config=PipelineConfig(router=Router(default=AgentRef("name", "bench"), routes={})),
        )
        self.workspace = uuid.uuid4().hex[:8]

    async def ask(self, thread: str, text: str) -> float:
        """One question; returns its overhead in seconds."""
        question = Question(
            platform="bench",
            workspace=self.workspace,
            channel="C1",
            thread=thread,
            user="U1",
            text=text,
        )
        started = time.perf_counter()
        answer = await self.pipeline.ask(question)
        took = time.perf_counter() - started
        assert answer.ok, answer.text
        return took - self.meibel.spent.pop(asyncio.current_task(), 0.0)


def line(label: str, values: list[float]) -> str:
    return f"{label} p50 {ms(percentile(values, 50))}  p99 {ms(percentile(values, 99))}"


async def run_store(name: str, store: Store, base_url: str, threads: int, rounds: int) -> None:
    client = MeibelClient(base_url=base_url, api_key="bench", timeout_seconds=30)
    bench = Bench(store, client)
    await asyncio.gather(*(bench.ask(f"warm{i}", "warm up") for i in range(threads)))

    sequential = []
    for i in range(threads):
        sequential.append(await bench.ask(f"seq{i % 20}", f"question {i}"))

    new_thread: list[float] = []
    continuing: list[float] = []
    wall = 0.0
    for round_ in range(rounds):
        started = time.perf_counter()
        results = await asyncio.gather(
            *(bench.ask(f"t{t}", f"question {round_} in thread {t}") for t in range(threads))
        )
        wall += time.perf_counter() - started
        (new_thread if round_ == 0 else continuing).extend(results)
    await client.aclose()
    print(f"[{name}]")
    print(f"  one at a time      {line('overhead', sequential)}")
    print(f"  {threads} at once, new threads   {line('overhead', new_thread)}")
    print(f"  {threads} at once, continuing    {line('overhead', continuing)}")
    print(f"  {threads} at once: {threads * rounds / wall:6.0f} questions/s through ask()")


async def run_baseline(base_url: str, threads: int, rounds: int) -> None:
    """The same concurrent load straight through the client: what Meibel I/O alone costs."""
    client = MeibelClient(base_url=base_url, api_key="bench", timeout_seconds=30)
    sessions = await asyncio.gather(
        *(client.start_session(AgentRef("name", "bench")) for _ in range(threads))
    )
    started = time.perf_counter()
    for round_ in range(rounds):
        await asyncio.gather(*(client.chat(s, f"question {round_}") for s in sessions))
    wall = time.perf_counter() - started
    await client.aclose()
    print(f"[baseline: Meibel client alone] {threads * rounds / wall:6.0f} chats/s")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--redis-url", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    )
    args = parser.parse_args()
    print(f"ask() overhead against the dev server (no latency), {args.threads} threads")
    async with dev_server_process() as base_url:
        await run_baseline(base_url, args.threads, args.rounds)
        with tempfile.TemporaryDirectory() as tmp:
            sqlite = await SqliteStore.open(os.path.join(tmp, "bench.db"))
            await run_store("embedded store (SQLite)", sqlite, base_url, args.threads, args.rounds)
            await sqlite.aclose()
        redis = RedisStore.from_url(args.redis_url, prefix=f"bench-{uuid.uuid4().hex[:6]}")
        await run_store("Redis", redis, base_url, args.threads, args.rounds)
        await redis.aclose()


if __name__ == "__main__":
    asyncio.run(main())
