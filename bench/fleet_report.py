"""The fleet benchmark's figures: one Result per system, the table and the targets."""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import percentile
from bench.fleet_procs import Answer

ACK_P99_TARGET = 0.100
RATE_TARGET = 150.0
SPEEDUP_TARGET = 20.0
RSS_TARGET_MB = 150.0
SLOW_SECONDS_TARGET = 40.0
SLOW_IN_FLIGHT_TARGET = 1000
SLOW_RSS_TARGET_MB = 300.0
SLACK_RETRIES_AFTER = 3.0  # Slack re-sends an event not acked within 3 s


@dataclass
class Result:
    system: str
    questions: int
    fleet: bool
    acks: list[float] = field(default_factory=list)
    ack_failures: list[str] = field(default_factory=list)
    started: float = 0.0
    sent_at: dict[str, float] = field(default_factory=dict)
    acked_at: dict[str, float] = field(default_factory=dict)
    answers: list[Answer] = field(default_factory=list)
    expected: dict[str, str] = field(default_factory=dict)  # thread ts -> question
    others: int = 0
    rss_mb: list[float] = field(default_factory=list)
    log_problems: list[int] = field(default_factory=list)
    slack_summary: dict[str, Any] = field(default_factory=dict)
    redis_calls: dict[str, int] = field(default_factory=dict)  # Redis commands while measured
    cpu: dict[str, float] = field(default_factory=dict)  # CPU s per process while measured
    listen_overflows: int = 0
    notes: list[str] = field(default_factory=list)

    # -- derived --------------------------------------------------------------------------
    def per_thread(self) -> Counter[str]:
        return Counter(a.thread for a in self.answers)

    def first_answer(self) -> dict[str, float]:
        first: dict[str, float] = {}
        for a in self.answers:
            first[a.thread] = min(a.at, first.get(a.thread, math.inf))
        return first

    @property
    def missing(self) -> int:
        return sum(1 for t in self.expected if self.per_thread()[t] == 0)

    @property
    def twice(self) -> int:
        return sum(1 for n in self.per_thread().values() if n > 1)

    @property
    def wrong(self) -> int:
        """Answers quoting another question than their thread's."""
        return sum(1 for a in self.answers if a.question != self.expected.get(a.thread))

    @property
    def exactly_once(self) -> bool:
        return bool(self.expected) and self.missing == 0 and self.twice == 0 and self.wrong == 0

    @property
    def seconds(self) -> float:
        """Until the last question had its answer (or the last answer, when some are missing)."""
        first = self.first_answer()
        return max(first.values()) - self.started if first else math.nan

    @property
    def rate(self) -> float:
        answered = len(self.first_answer())
        return answered / self.seconds if answered else 0.0

    def ack(self, p: float) -> float:
        return percentile(self.acks, p) if self.acks else math.nan

    @property
    def peak_in_flight(self) -> int:
        """The most questions acknowledged but not yet answered at one moment."""
        first = self.first_answer()
        moments = [(at, 1) for t, at in self.acked_at.items() if t in first]
        moments += [(at, -1) for t, at in first.items() if t in self.acked_at]
        peak = now = 0
        for _, step in sorted(moments):
            now += step
            peak = max(peak, now)
        return peak

    @property
    def bot_cpu(self) -> float:
        return sum(s for name, s in self.cpu.items() if name.startswith("bot "))

    def per_answer(self) -> str:
        """CPU ms, Slack calls and Redis commands per answered question."""
        answered = len(self.first_answer())
        if not answered:
            return "-"
        calls = self.slack_summary.get("calls") or {}
        slack = sum(n for m, n in calls.items() if m != "auth.test") / answered
        parts = [f"{self.bot_cpu * 1000 / answered:.1f} ms CPU", f"{slack:.1f} Slack calls"]
        if self.redis_calls:
            parts.append(f"{sum(self.redis_calls.values()) / answered:.1f} Redis commands")
        return ", ".join(parts)


def _ms(seconds: float) -> str:
    return "-" if math.isnan(seconds) else f"{seconds * 1000:.1f} ms"


def _row(r: Result) -> list[str]:
    answered = len(r.first_answer())
    seconds = "-" if math.isnan(r.seconds) else f"{r.seconds:.2f}"
    if answered < r.questions:
        seconds += f" ({answered}/{r.questions})"
    once = "yes" if r.exactly_once else f"NO: {r.missing} missing, {r.twice} twice"
    if r.wrong:
        once += f", {r.wrong} wrong"
    rss = " + ".join(f"{mb:.0f}" for mb in r.rss_mb) or "-"
    return [r.system, _ms(r.ack(50)), _ms(r.ack(99)), seconds, f"{r.rate:.1f}", once, rss]


def print_table(results: list[Result]) -> None:
    head = ["system", "ack p50", "ack p99", "s to answer all", "answers/s", "exactly once"]
    rows = [[*head, "RSS MB (peak)"], *(_row(r) for r in results)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(head) + 1)]
    for n, row in enumerate(rows):
        print(" | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
        if n == 0:
            print("-+-".join("-" * w for w in widths))


def print_details(r: Result) -> None:
    print(f"[{r.system}]")
    waits = [at - r.sent_at[t] for t, at in r.first_answer().items() if t in r.sent_at]
    if waits:
        print(
            f"  question -> answer in Slack: p50 {percentile(waits, 50):.2f} s, "
            f"p99 {percentile(waits, 99):.2f} s, max {max(waits):.2f} s"
        )
    if r.acks:
        slow = sum(1 for a in r.acks if a > SLACK_RETRIES_AFTER)
        print(
            f"  acks: {len(r.acks)} x 200, max {_ms(max(r.acks))}"
            + (f", {slow} over 3 s (Slack would re-send them)" if slow else "")
        )
    if r.fleet:
        print(f"  per answer: {r.per_answer()}; peak in flight: {r.peak_in_flight}")
    over = r.slack_summary.get("over_limit")
    if over is not None:
        print(f"  Slack calls over its rate limits: {over or 'none'}")
    if r.cpu:
        print(
            "  CPU s while measured: "
            + ", ".join(f"{name} {s:.2f}" for name, s in sorted(r.cpu.items(), key=lambda i: -i[1]))
        )
    if r.listen_overflows:
        print(
            f"  connections dropped by a full listen queue (machine-wide): {r.listen_overflows}"
            " (each costs its client a SYN retry of 1 s or more)"
        )
    if r.ack_failures:
        print(f"  acks failed: {dict(Counter(r.ack_failures))}")
    if r.others:
        print(f"  other messages posted in question threads (notices): {r.others}")
    calls = r.slack_summary.get("calls") or {}
    if calls:
        print("  Slack calls: " + ", ".join(f"{m} {n}" for m, n in sorted(calls.items())))
    if r.redis_calls:
        total = sum(r.redis_calls.values())
        top = ", ".join(f"{c} {n}" for c, n in sorted(r.redis_calls.items(), key=lambda i: -i[1]))
        print(f"  Redis commands: {total / max(1, r.questions):.1f} per question ({top})")
    refusals = r.slack_summary.get("refusals") or {}
    if refusals:
        print(f"  Slack refused: {refusals}")
    if any(r.log_problems):
        print(f"  error lines in the bot's log: {r.log_problems}")
    for note in r.notes:
        print(f"  note: {note}")


def _verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def print_slow_targets(results: list[Result]) -> None:
    print("targets (slow agents):")
    for r in (r for r in results if r.fleet):
        print(f"  {r.system}:")
        print(f"    every question answered exactly once: {_verdict(r.exactly_once)}")
        print(
            f"    all answered within {SLOW_SECONDS_TARGET:.0f} s: {r.seconds:.1f} s, "
            f"{_verdict(r.exactly_once and r.seconds <= SLOW_SECONDS_TARGET)}"
        )
        print(
            f"    >= {SLOW_IN_FLIGHT_TARGET} in flight at once: {r.peak_in_flight}, "
            f"{_verdict(r.peak_in_flight >= SLOW_IN_FLIGHT_TARGET)}"
        )
        worst = max(r.rss_mb, default=math.nan)
        print(
            f"    RSS <= {SLOW_RSS_TARGET_MB:.0f} MB: {worst:.0f} MB, "
            f"{_verdict(worst <= SLOW_RSS_TARGET_MB)}"
        )
        over = r.slack_summary.get("over_limit")
        if over is not None:
            print(f"    no Slack call over its rate limit: {_verdict(not over)}")


def print_targets(results: list[Result], *, one_process: list[str], tutorial: str) -> None:
    fleet = [r for r in results if r.fleet]
    by_name = {r.system: r for r in results}
    print("targets:")
    for r in fleet:
        print(f"  {r.system}:")
        print(f"    every question answered exactly once: {_verdict(r.exactly_once)}")
        p99 = r.ack(99)
        print(f"    ack p99 <= 100 ms: {_ms(p99)}, {_verdict(p99 <= ACK_P99_TARGET)}")
        worst = max(r.rss_mb, default=math.nan)
        print(f"    RSS <= 150 MB per process: {worst:.0f} MB, {_verdict(worst <= RSS_TARGET_MB)}")
    base = by_name.get(tutorial)
    for single in (by_name[name] for name in one_process if name in by_name):
        rate = single.rate if single.exactly_once else 0.0
        print(
            f"  >= 150 answers/s, {single.system}: {single.rate:.1f}/s, "
            f"{_verdict(rate >= RATE_TARGET)}"
        )
        if base is not None and base.rate > 0:
            speedup = single.rate / base.rate
            print(
                f"  >= 20x the tutorial bot ({base.rate:.1f}/s), {single.system}: "
                f"{speedup:.1f}x, {_verdict(speedup >= SPEEDUP_TARGET and single.exactly_once)}"
            )


def print_report(
    results: list[Result], *, one_process: list[str], tutorial: str, slow: bool = False
) -> None:
    print()
    print_table(results)
    print()
    for r in results:
        print_details(r)
    print()
    if slow:
        print_slow_targets(results)
    else:
        print_targets(results, one_process=one_process, tutorial=tutorial)


def dump(results: list[Result], path: Path) -> None:
    """One JSON line per question: seconds from the system's first POST to its send, its
    ack and each answer."""

    def rel(at: float | None) -> float | None:
        return None if at is None else round(at - r.started, 4)

    with path.open("w") as out:
        for r in results:
            answers: dict[str, list[float]] = {}
            for a in r.answers:
                answers.setdefault(a.thread, []).append(a.at)
            for thread in r.expected:
                row = {
                    "system": r.system,
                    "thread": thread,
                    "sent": rel(r.sent_at.get(thread)),
                    "acked": rel(r.acked_at.get(thread)),
                    "answers": [rel(at) for at in sorted(answers.get(thread, []))],
                }
                out.write(json.dumps(row) + "\n")
