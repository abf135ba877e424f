"""A flaky Meibel behind the queue: 20% 5xx and some 429s, and still every question gets a
real answer, once, in its thread's order (fault test of issue 6, at the core's level)."""

from __future__ import annotations

from collections import defaultdict

from bot.devserver import DevServer, Faults
from bot.domain import Answer
from bot.meibel.client import MeibelClient
from bot.meibel.retry import RetryPolicy
from bot.pipeline import Pipeline, PipelineConfig
from bot.routing import AgentRef, Router
from bot.store import RedisStore
from bot.work import Job, RedisWorkQueue
from tests.fixtures.meibel import DEV_KEY
from tests.work.helpers import FAST, eventually, job, running

# Enough attempts that 25% failures per call never exhaust them (0.25**10 per question),
# with waits short enough for a test; Retry-After 0 keeps the 429s quick.
PATIENT = RetryPolicy(max_attempts=10, base_delay=0.005, max_delay=0.02, max_total_wait=10)


async def test_every_question_answered_once_despite_5xx_and_429(redis_store: RedisStore) -> None:
    faults = Faults(error_rate=0.2, rate_limit_rate=0.05, retry_after_seconds=0, seed=7)
    async with DevServer(api_key=DEV_KEY, faults=faults) as server:
        meibel = MeibelClient(
            base_url=server.base_url, api_key=DEV_KEY, timeout_seconds=10, retry=PATIENT
        )
        pipeline = Pipeline(
            meibel=meibel,
            store=redis_store,
            config=PipelineConfig(router=Router(default=AgentRef("name", "a"), routes={})),
        )
        queue = RedisWorkQueue(redis_store, name="faults", config=FAST)
        answers: dict[str, list[Answer]] = defaultdict(list)
        by_thread: dict[str, list[int]] = defaultdict(list)

        async def handle(work: Job) -> None:
            answer = await pipeline.ask(work.question)
            answers[work.id].append(answer)
            by_thread[work.question.thread].append(int(work.data["n"]))

        jobs = [job(n, thread=f"t{n % 10}") for n in range(100)]
        for work in jobs:
            await queue.submit(work)
        async with running(queue, handle, concurrency=32):

            async def all_answered() -> bool:
                return len(answers) == len(jobs)

            await eventually(all_answered, within=60)
        await meibel.aclose()

    failures = sum(1 for r in server.requests if r.status in (429, 503))
    assert failures >= 10  # the faults really happened
    assert all(len(given) == 1 for given in answers.values())  # none twice
    assert all(given[0].ok for given in answers.values()), [
        a[0].text for a in answers.values() if not a[0].ok
    ]
    for work in jobs:
        assert f'You asked: "{work.question.text}"' in answers[work.id][0].text
    for thread, order in by_thread.items():
        assert order == sorted(order), thread
