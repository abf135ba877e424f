"""The fleet benchmark: meibel-bot (one and two processes) beside the tutorial Slack bot.

Each system gets its own dev Meibel server (`--latency` seconds per chat, in its own
process), its own fake Slack Web API (bench.fleet_slack, in its own process, reporting
each answer as it arrives) and, for meibel-bot, its own throwaway redis-server; then
`--questions` @mentions, each in a thread of its own and signed with the signing secret
and a fresh timestamp, are POSTed to /slack/events by `--senders` concurrent senders (two
processes: alternately to each, like a load balancer).

- ack: from sending the POST to its HTTP 200 (a signed body is built before the clock
  starts);
- seconds to answer all: from the first POST to the arrival at Slack of the call that
  finished the last question's answer (a message holding the dev server's
  `You asked: "<question>"`); answers/s is questions / that;
- exactly once: after all are answered, `--settle` seconds more are watched; then every
  question must have one answer message in its thread, none two;
- RSS: the peak resident memory (VmHWM) of each bot process.

Systems (each at the bot's defaults, WORKER_CONCURRENCY included, unless told otherwise):
- meibel-bot: `meibel-bot slack` in HTTP mode with REDIS_URL, with STREAMING off (the whole
  answer in one post, as the tutorial bot does) and, as `fleet1-streamed`, on;
- tutorial: bench.tutorial_bot, Bolt's sync App on Bolt's development server.
The dev server answers as a real agent would: Markdown with a heading, a list and a code
fence, sources, follow-ups, calls to action and a text artifact.
A few warm-up questions go to every process first (not measured): a fleet runs warm.
Beside the table: per answer, the bot's CPU time, its Slack calls and its Redis commands;
the peak of questions in flight; the CPU time each process (and the rest of the machine)
used while measured, since every process shares the machine's processors; `--profile DIR`
samples the bots with py-spy, `--dump FILE` writes per-question times, `--fleet-module`
runs another entry point as meibel-bot (to try a change).
`--slow`: the slow-agent scenario, 2,000 questions in 200 channels, each answer streamed by
the agent over 20 s, against the streamed bot alone.
Run: .venv/bin/python -m bench.fleet [--questions 300] [--senders 50] [--systems ...] [--slow]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import secrets
import shutil
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import redis
from httpx_aiohttp import AiohttpTransport
from slack_sdk.signature import SignatureVerifier

from bench.common import dev_server_process
from bench.fleet_load import Sender, answered, asks
from bench.fleet_procs import (
    OTHERS,
    Child,
    SlackWatch,
    child,
    child_cpu,
    clean_environment,
    code_version,
    fake_slack,
    listen_overflows,
    memory_mb,
    profiled,
    scratch_dir,
    wait_listening,
)
from bench.fleet_report import Result, dump, print_report
from tests.fixtures.redis import free_port, start_redis_server
from tests.fixtures.slack import BOT_TOKEN

MEIBEL_KEY = "bench-key"  # the dev server takes any key (--any-key)
AGENT = "bench-agent"
MEASURED_TS = 1720000000
WARMUP_TS = 1710000000
# CPUs' worth of work outside the benchmark's processes above which a run is flagged as
# disturbed. It holds the kernel's share of the benchmark's own loopback traffic and the
# machine's idle chatter (about 0.2 on a quiet machine), so the bar is not zero.
BUSY_MACHINE = 0.5


@dataclass(frozen=True)
class System:
    key: str
    label: str
    processes: int
    fleet: bool  # meibel-bot (else the tutorial bot)
    streaming: bool = False  # meibel-bot's STREAMING


SYSTEMS = {
    "fleet1": System("fleet1", "meibel-bot, 1 process", 1, True),
    "fleet1-streamed": System("fleet1-streamed", "meibel-bot, 1 process, streamed", 1, True, True),
    "fleet2": System("fleet2", "meibel-bot, 2 processes", 2, True),
    "tutorial": System("tutorial", "tutorial bot (Bolt sync App)", 1, False),
}
# The slow-agent scenario (--slow): each answer streamed by the agent over about 20 s.
SLOW_QUESTIONS = 2000
SLOW_STREAM_SECONDS = 20.0
SLOW_PIECES = 20
SLOW_CHANNELS = 200


def bot_settings(
    system: System,
    args: argparse.Namespace,
    *,
    secret: str,
    slack: str,
    meibel: str,
    redis: str | None,
    port: int,
) -> dict[str, str]:
    settings = {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": secret,
        "SLACK_API_URL": slack,
        "PORT": str(port),
        "MEIBEL_BASE_URL": meibel,
        "MEIBEL_API_KEY": MEIBEL_KEY,
        "MEIBEL_AGENT_NAME": AGENT,
    }
    if redis is not None:
        settings |= {
            "REDIS_URL": redis,
            "STREAMING": "on" if system.streaming else "off",
            "LOG_LEVEL": "WARNING",
            "SHUTDOWN_GRACE_SECONDS": "5",
        }
        if args.worker_concurrency is not None:  # None: the bot's default
            settings["WORKER_CONCURRENCY"] = str(args.worker_concurrency)
        if system.processes > 1:  # the processes share the workspace's Slack budgets
            settings["SLACK_RATE_PROCESSES"] = str(system.processes)
        if args.slack_posts_per_minute is not None:
            settings["SLACK_POSTS_PER_MINUTE"] = str(args.slack_posts_per_minute)
    return clean_environment(settings)


@contextlib.asynccontextmanager
async def bots(
    system: System,
    args: argparse.Namespace,
    *,
    workdir: Path,
    secret: str,
    slack: str,
    meibel: str,
    redis: str | None,
) -> AsyncIterator[list[tuple[Child, str]]]:
    """The system's bot processes, listening; yields (process, events URL) pairs."""
    async with contextlib.AsyncExitStack() as stack:
        started: list[tuple[Child, str]] = []
        for n in range(system.processes):
            port = free_port()
            env = bot_settings(
                system, args, secret=secret, slack=slack, meibel=meibel, redis=redis, port=port
            )
            module, command = (
                (args.fleet_module, ("slack",)) if system.fleet else ("bench.tutorial_bot", ())
            )
            bot = await stack.enter_async_context(
                child(f"{system.key} bot {n + 1}", module, *command, env=env, workdir=workdir)
            )
            base = f"http://127.0.0.1:{port}"
            await wait_listening(bot, f"{base}/healthz" if system.fleet else f"{base}/slack/events")
            started.append((bot, f"{base}/slack/events"))
        yield started


def dev_server_options(args: argparse.Namespace) -> list[str]:
    """The agent's pace: `--latency` before each answer; with --slow, each streamed answer
    in SLOW_PIECES pieces over SLOW_STREAM_SECONDS."""
    options = ["--latency", str(args.latency)]
    if args.slow:
        # The dev server's answer to a bench question is about 400 characters.
        options += [
            "--stream-chunk-delay", str(SLOW_STREAM_SECONDS / SLOW_PIECES),
            "--stream-piece-chars", str(400 // SLOW_PIECES),
        ]  # fmt: skip
    return options


async def run_system(system: System, args: argparse.Namespace) -> Result:
    result = Result(system=system.label, questions=args.questions, fleet=system.fleet)
    secret = secrets.token_hex(16)
    tag = secrets.token_hex(3)
    with scratch_dir() as tmp, contextlib.ExitStack() as sync_stack:
        redis = sync_stack.enter_context(start_redis_server())[0] if system.fleet else None
        async with (
            dev_server_process(*dev_server_options(args)) as meibel,
            fake_slack(Path(tmp)) as slack,
            bots(
                system,
                args,
                workdir=Path(tmp),
                secret=secret,
                slack=slack.base_url,
                meibel=meibel,
                redis=redis,
            ) as started,
        ):
            limits = httpx.Limits(
                max_connections=args.senders, max_keepalive_connections=args.senders
            )
            # httpx's own pool (httpcore) spends ~4 ms of CPU per request at 50 at once,
            # which alone made acks look 100-800 ms slow; aiohttp's pool keeps the
            # senders' cost near 0.3 ms, so the figures are the bot's.
            transport = AiohttpTransport(limits=limits)
            async with httpx.AsyncClient(timeout=30, limits=limits, transport=transport) as http:
                signer = SignatureVerifier(secret)
                urls = [url for _bot, url in started]
                await warm_up(Sender(http, urls, signer), slack, args, tag=tag, result=result)
                before, window, overflows = child_cpu(), time.monotonic(), listen_overflows()
                commands = redis_commands(redis)
                async with profiled(system.key, [bot for bot, _url in started], args.profile):
                    await measure(Sender(http, urls, signer), slack, args, tag=tag, result=result)
                after, window = child_cpu(), time.monotonic() - window
                result.redis_calls = {
                    name: n - commands.get(name, 0)
                    for name, n in redis_commands(redis).items()
                    if n > commands.get(name, 0) and name not in ("info",)
                }
                result.cpu = {k: after[k] - before[k] for k in after if k in before}
                result.listen_overflows = listen_overflows() - overflows
                if result.cpu.get(OTHERS, 0.0) > BUSY_MACHINE * window:
                    result.notes.append(
                        f"work outside the benchmark used {result.cpu[OTHERS] / window:.1f} CPUs "
                        "meanwhile: the machine was not quiet, figures are pessimistic"
                    )
            result.rss_mb = [memory_mb(bot.pid)[1] for bot, _url in started]
            result.log_problems = [problem_lines(bot) for bot, _url in started]
        result.slack_summary = slack.summary
    return result


def redis_commands(url: str | None) -> dict[str, int]:
    """Calls per Redis command so far (INFO commandstats); empty without Redis."""
    if url is None:
        return {}
    client = redis.Redis.from_url(url)
    try:
        stats = client.info("commandstats")
    finally:
        client.close()
    return {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()}


def problem_lines(bot: Child) -> int:
    """Lines of the bot's stderr that report a failure (the tutorial logs every request)."""
    with contextlib.suppress(OSError):
        text = bot.log_path.read_text(errors="replace")
        return sum(1 for line in text.splitlines() if "ERROR" in line or "Traceback" in line)
    return 0


async def warm_up(
    sender: Sender, slack: SlackWatch, args: argparse.Namespace, *, tag: str, result: Result
) -> None:
    items = asks(args.warmup * len(sender.urls), base=WARMUP_TS, tag=tag, channels=args.channels)
    await sender.send_all(items, senders=min(args.senders, len(items)))
    threads = {a.ts for a in items}
    if not await slack.wait(lambda: answered(slack, threads) == threads, timeout=60):
        result.notes.append(f"warm-up: {len(answered(slack, threads))}/{len(items)} answered")


async def measure(
    sender: Sender, slack: SlackWatch, args: argparse.Namespace, *, tag: str, result: Result
) -> None:
    items = asks(args.questions, base=MEASURED_TS, tag=tag, channels=args.channels)
    threads = {a.ts: a.text for a in items}
    wanted = set(threads)
    first = time.monotonic()
    await sender.send_all(items, senders=args.senders)
    left = args.timeout - (time.monotonic() - first)
    complete = await slack.wait(lambda: answered(slack, wanted) == wanted, timeout=left)
    if not complete:
        result.notes.append(f"stopped waiting after {args.timeout:.0f} s")
    await asyncio.sleep(args.settle)  # watch for late duplicates
    result.acks = sender.acks
    result.ack_failures = sender.failures
    result.started = first
    result.sent_at = sender.sent_at
    result.acked_at = sender.acked_at
    result.answers = [a for a in slack.answers if a.thread in wanted]
    result.expected = threads
    result.others = sum(1 for t in slack.others if t in wanted)


async def main_async(args: argparse.Namespace) -> None:
    if shutil.which("redis-server") is None:
        raise SystemExit("bench.fleet: redis-server is not installed (it runs a throwaway one)")
    if args.slow:
        args.questions, args.latency, args.channels = SLOW_QUESTIONS, 0.0, SLOW_CHANNELS
        args.systems, args.timeout = "fleet1-streamed", max(args.timeout, 90.0)
    chosen = [SYSTEMS[key] for key in args.systems.split(",")]
    pace = (
        f"each answer streamed over {SLOW_STREAM_SECONDS:g} s"
        if args.slow
        else f"Meibel latency {args.latency:g} s"
    )
    print(
        f"fleet benchmark: {args.questions} questions in {args.questions} threads of "
        f"{args.channels} channels, {args.senders} senders, {pace}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    concurrency = args.worker_concurrency or "default"
    posts = args.slack_posts_per_minute or "default"
    print(
        f"meibel-bot: its defaults (WORKER_CONCURRENCY {concurrency}, "
        f"SLACK_POSTS_PER_MINUTE {posts}), "
        f"{args.warmup} warm-up question(s) per process; each system at most {args.timeout:.0f} s"
    )
    print(f"code under test: {code_version()}")
    results: list[Result] = []
    for system in chosen:
        print(f"... {system.label}", flush=True)
        try:
            results.append(await run_system(system, args))
        except (RuntimeError, TimeoutError, OSError) as exc:
            failed = Result(system=system.label, questions=args.questions, fleet=system.fleet)
            failed.notes.append(f"did not run: {exc}")
            results.append(failed)
    print_report(
        results,
        one_process=[SYSTEMS["fleet1"].label, SYSTEMS["fleet1-streamed"].label],
        tutorial=SYSTEMS["tutorial"].label,
        slow=args.slow,
    )
    if args.dump:
        dump(results, Path(args.dump))
        print(f"per-question times written to {args.dump}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--questions", type=int, default=300)
    parser.add_argument("--senders", type=int, default=50)
    parser.add_argument("--latency", type=float, default=1.0, help="seconds per Meibel chat")
    parser.add_argument(
        "--worker-concurrency",
        type=int,
        default=None,
        help="WORKER_CONCURRENCY of meibel-bot (default: the bot's own default)",
    )
    parser.add_argument(
        "--channels",
        type=int,
        default=300,
        help="channels the threads are spread over (Slack allows about one message a second "
        "per channel: 300 threads in 10 channels cannot be answered faster than 10/s)",
    )
    parser.add_argument(
        "--slack-posts-per-minute",
        type=float,
        default=None,
        help="SLACK_POSTS_PER_MINUTE of meibel-bot (default: the bot's own, Slack's documented "
        "floor); a higher one measures what the bot could do where Slack allows more",
    )
    parser.add_argument(
        "--slow",
        action="store_true",
        help=f"the slow-agent scenario: {SLOW_QUESTIONS} questions, each answer streamed over "
        f"{SLOW_STREAM_SECONDS:g} s, in {SLOW_CHANNELS} channels, streamed meibel-bot only",
    )
    parser.add_argument("--warmup", type=int, default=3, help="warm-up questions per process")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per system")
    parser.add_argument("--settle", type=float, default=3.0, help="seconds watched for duplicates")
    parser.add_argument(
        "--fleet-module",
        default="adapters.cli",
        help="run `python -m MODULE slack` as meibel-bot (to try a change; default adapters.cli)",
    )
    parser.add_argument(
        "--dump", metavar="FILE", help="write per-question times (JSON lines) to FILE"
    )
    parser.add_argument(
        "--profile", metavar="DIR", help="py-spy each bot process into DIR (collapsed stacks)"
    )
    parser.add_argument(
        "--systems",
        default="fleet1,fleet1-streamed,tutorial",
        help="comma-separated: " + ",".join(SYSTEMS),
    )
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
