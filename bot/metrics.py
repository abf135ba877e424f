"""Prometheus metrics: what an operator watches. One registry per process, passed in."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from bot.domain import Answer

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Metrics:
    """Counters, a latency histogram and queue gauges, on a registry of their own (so
    tests and several bots in one process never collide on a global one)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.questions = Counter(
            "meibel_bot_questions", "Questions accepted", ["platform"], registry=self.registry
        )
        self.answers = Counter(
            "meibel_bot_answers",
            "Replies shown, by kind (answer, hint, error)",
            ["platform", "kind"],
            registry=self.registry,
        )
        self.feedback = Counter(
            "meibel_bot_feedback",
            "Feedback on answers, by verdict (up, down)",
            ["platform", "verdict"],
            registry=self.registry,
        )
        self.errors = Counter(
            "meibel_bot_errors", "Failures by kind", ["platform", "kind"], registry=self.registry
        )
        self.meibel_latency = Histogram(
            "meibel_bot_meibel_latency_seconds",
            "Time spent in Meibel calls",
            ["call"],
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120),
            registry=self.registry,
        )
        self.queue_waiting = Gauge(
            "meibel_bot_queue_depth",
            "Accepted questions no worker took yet",
            registry=self.registry,
        )
        self.queue_pending = Gauge(
            "meibel_bot_queue_pending",
            "Questions taken by a worker and not done",
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "meibel_bot_in_flight",
            "Answers being worked on in this process",
            registry=self.registry,
        )
        # Pacing by Meibel's rate-limit headers (bot.meibel.pacing): waiting shows here.
        self.meibel_paced_seconds = Counter(
            "meibel_bot_meibel_paced_seconds",
            "Seconds Meibel calls waited, before being sent, for the API key's rate limit",
            registry=self.registry,
        )
        self.meibel_paced_waiting = Gauge(
            "meibel_bot_meibel_paced_waiting",
            "Meibel calls waiting now for the API key's rate limit",
            registry=self.registry,
        )
        self.meibel_rate_limited = Counter(
            "meibel_bot_meibel_rate_limited",
            "429 answers from Meibel (each holds every new call for its Retry-After)",
            registry=self.registry,
        )
        self.jobs_overdue = Gauge(
            "meibel_bot_jobs_overdue",
            "Jobs this process held past their deadline since it started (the watchdog's count)",
            registry=self.registry,
        )

    def answered(self, platform: str, answer: Answer) -> None:
        self.answers.labels(platform, answer.kind.value).inc()
        if answer.error_code:
            self.errors.labels(platform, answer.error_code).inc()

    @contextmanager
    def meibel_call(self, call: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.meibel_latency.labels(call).observe(time.perf_counter() - started)

    def render(self) -> bytes:
        return generate_latest(self.registry)
