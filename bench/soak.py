"""Soak: thousands of streamed answers, many in flight at once, through one meibel-bot.

One `meibel-bot slack` process (HTTP mode, a throwaway redis-server, STREAMING on and every
other setting at its default) gets `--questions` signed @mentions, each in a thread of its
own, from `--senders` concurrent senders. The dev Meibel server (its own process) streams
each answer in about six pieces `--chunk-delay` seconds apart after `--latency` seconds,
so one answer takes about latency + 6 x chunk-delay seconds and many are in flight at once.
The fake Slack Web API (bench.fleet_slack, its own process) reports each finished answer.

It prints, and exits 1 unless every promise held:
- answered once / twice / never: each question's thread must hold exactly one answer;
- notices: threads that got a failure notice instead (counted, not an answer);
- peak in flight: the most answers the bot's /metrics showed in flight at once;
- overdue: jobs the worker's watchdog saw held past their deadline (/metrics), which must
  stay 0, so no job outlived its deadline;
- seconds to answer all, RSS peak and the bot's CPU time per answer.
Run: .venv/bin/python -m bench.soak [--questions 2000] [--senders 100] [--chunk-delay 3]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import secrets
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from httpx_aiohttp import AiohttpTransport
from slack_sdk.signature import SignatureVerifier

from bench.common import dev_server_process
from bench.fleet import SYSTEMS, bots
from bench.fleet_load import Sender, answered, asks
from bench.fleet_procs import cpu_seconds, fake_slack, memory_mb, scratch_dir
from tests.fixtures.redis import start_redis_server

MEASURED_TS = 1730000000


@dataclass
class Watch:
    """What the bot's /metrics showed over the run."""

    peak_in_flight: float = 0.0
    overdue: float = 0.0
    samples: int = 0
    errors: list[str] = field(default_factory=list)


def metric(text: str, name: str) -> float:
    """The sum of a metric's samples (all label sets) in Prometheus text; 0 when absent."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and not line.startswith("#"):
            rest = line[len(name) :]
            if rest[:1] in (" ", "{"):
                with contextlib.suppress(ValueError):
                    total += float(line.rsplit(" ", 1)[1])
    return total


def overdue_count(text: str) -> float:
    """Jobs the watchdog reported held past their deadline (any metric naming 'overdue')."""
    names = {
        line.split("{")[0].split(" ")[0]
        for line in text.splitlines()
        if "overdue" in line and not line.startswith("#")
    }
    return sum(metric(text, name) for name in names if not name.endswith("_created"))


async def watch_metrics(http: httpx.AsyncClient, url: str, watch: Watch) -> None:
    while True:
        try:
            text = (await http.get(url, timeout=5)).text
            watch.peak_in_flight = max(watch.peak_in_flight, metric(text, "meibel_bot_in_flight"))
            watch.overdue = max(watch.overdue, overdue_count(text))
            watch.samples += 1
        except httpx.HTTPError as exc:
            watch.errors.append(type(exc).__name__)
        await asyncio.sleep(0.5)


async def soak(args: argparse.Namespace) -> int:
    secret, tag = secrets.token_hex(16), secrets.token_hex(3)
    fleet_args = argparse.Namespace(
        streaming=True, worker_concurrency=None, fleet_module=args.module
    )
    with scratch_dir() as tmp, start_redis_server() as (redis, _port):
        async with (
            dev_server_process(
                "--latency", str(args.latency), "--stream-chunk-delay", str(args.chunk_delay)
            ) as meibel,
            fake_slack(Path(tmp)) as slack,
            bots(
                SYSTEMS["fleet1"],
                fleet_args,
                workdir=Path(tmp),
                secret=secret,
                slack=slack.base_url,
                meibel=meibel,
                redis=redis,
            ) as started,
        ):
            bot, events_url = started[0]
            limits = httpx.Limits(
                max_connections=args.senders, max_keepalive_connections=args.senders
            )
            transport = AiohttpTransport(limits=limits)
            async with httpx.AsyncClient(timeout=30, limits=limits, transport=transport) as http:
                watch = Watch()
                metrics_url = events_url.replace("/slack/events", "/metrics")
                watcher = asyncio.create_task(watch_metrics(http, metrics_url, watch))
                items = asks(args.questions, base=MEASURED_TS, tag=tag)
                wanted = {a.ts for a in items}
                cpu_before, first = cpu_seconds(bot.pid), time.monotonic()
                sender = Sender(http, [events_url], SignatureVerifier(secret))
                await sender.send_all(items, senders=args.senders)
                done = await slack.wait(
                    lambda: answered(slack, wanted) == wanted, timeout=args.timeout
                )
                took = time.monotonic() - first
                await asyncio.sleep(args.settle)  # watch for late duplicates
                cpu = cpu_seconds(bot.pid) - cpu_before
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher
                text = (await http.get(metrics_url, timeout=5)).text
                watch.overdue = max(watch.overdue, overdue_count(text))
            rss = memory_mb(bot.pid)[1]
    per_thread = collections.Counter(a.thread for a in slack.answers if a.thread in wanted)
    once = sum(1 for t in wanted if per_thread[t] == 1)
    twice = sum(1 for t in wanted if per_thread[t] > 1)
    never = sum(1 for t in wanted if per_thread[t] == 0)
    notices = len({t for t in slack.others if t in wanted})
    stream_s = args.latency + 6 * args.chunk_delay
    print(
        f"soak: {args.questions} questions in {args.questions} threads, {args.senders} senders; "
        f"each answer streamed over about {stream_s:g} s; one meibel-bot slack process "
        "(STREAMING on, other settings at their defaults)"
    )
    rows = [
        ("answered once", f"{once}"),
        ("answered twice or more", f"{twice}"),
        ("never answered", f"{never}" + ("" if done else f" (stopped after {args.timeout:g} s)")),
        ("threads with a failure notice", f"{notices}"),
        ("peak answers in flight (/metrics)", f"{watch.peak_in_flight:.0f}"),
        ("jobs held past their deadline (/metrics)", f"{watch.overdue:.0f}"),
        ("seconds to answer all", f"{took:.1f}"),
        ("bot CPU ms per answer", f"{1000 * cpu / max(1, args.questions):.1f}"),
        ("bot RSS peak MB", f"{rss:.0f}"),
    ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"  {key:<{width}}  {value}")
    if watch.errors:
        print(f"  (/metrics unreadable {len(watch.errors)} times: {watch.errors[0]})")
    ok = once == args.questions and not twice and watch.overdue == 0
    print("soak: every question answered exactly once, no job overdue" if ok else "soak: FAILED")
    return 0 if ok else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--questions", type=int, default=2000)
    parser.add_argument("--senders", type=int, default=100)
    parser.add_argument("--latency", type=float, default=1.0, help="seconds before the stream")
    parser.add_argument(
        "--chunk-delay", type=float, default=3.0, help="seconds between streamed pieces"
    )
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds to answer all")
    parser.add_argument("--settle", type=float, default=5.0, help="seconds watched after")
    parser.add_argument("--module", default="adapters.cli", help="entry point run as meibel-bot")
    args = parser.parse_args()
    if shutil.which("redis-server") is None:
        raise SystemExit("bench.soak: redis-server is not installed (it runs a throwaway one)")
    sys.exit(asyncio.run(soak(args)))


if __name__ == "__main__":
    main()
