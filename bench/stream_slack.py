"""Time to the first word in Slack: from Meibel's first text to Slack receiving it.

100 questions go through the real Slack adapter: a signed event to its HTTP endpoint,
Bolt, the pipeline streaming from the dev Meibel server (which writes the answer in paced
pieces), and the answer streamed to the fake Slack Web API. Per answer, the time from the
dev server writing its first `partial_response` event to the fake Slack receiving the
first text (chat.startStream / appendStream with Markdown, or in edit mode the placeholder
post or edit that first holds text). All servers share this process and its event loop, so
both ends are stamped with the same time.monotonic(); the figure includes every wait for
the loop. Target: p99 under 150 ms.

The fake Slack and the signed-event helpers are the test suite's (tests/fixtures/slack.py,
tests/slack/conftest.py), so the benchmark drives exactly what the tests check.
Run: .venv/bin/python -m bench.stream_slack [--answers 100] [--concurrency 10] [--mode edit]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from pydantic import SecretStr

from adapters.slack.app import SlackBot
from adapters.slack.server import HttpServer
from adapters.slack.settings import SlackSettings
from bench.common import ms, percentile
from bot.devserver import DevServer
from bot.devserver.recording import RecordedRequest
from bot.meibel.client import MeibelClient
from bot.pipeline import Pipeline, PipelineConfig
from bot.routing import AgentRef, Router
from bot.store import RedisStore, SqliteStore, Store
from tests.fixtures.slack import BOT_TOKEN, TEAM, FakeSlack, SlackCall
from tests.fixtures.slack_messages import streamed_text
from tests.slack.conftest import SIGNING_SECRET, event_envelope, mention, signed_headers

CHANNEL = "C0BENCH01"
TARGET_P99 = 0.150


@asynccontextmanager
async def open_store(redis_url: str | None) -> AsyncIterator[Store]:
    if redis_url:
        redis = RedisStore.from_url(redis_url, prefix=f"bench-{uuid.uuid4().hex[:6]}")
        try:
            yield redis
        finally:
            await redis.aclose()
        return
    with tempfile.TemporaryDirectory() as tmp:
        sqlite = await SqliteStore.open(os.path.join(tmp, "bench.db"))
        try:
            yield sqlite
        finally:
            await sqlite.aclose()


def first_text(slack: FakeSlack, thread: str) -> SlackCall | None:
    """The first call that brought text of the answer in `thread` to Slack."""
    stream_ts: str | None = None
    for call in slack.calls:
        if not call.ok:
            continue
        if call.method == "chat.startStream" and call.get("thread_ts") == thread:
            stream_ts = str(call.result.get("ts"))
            if streamed_text(call.args):
                return call
        elif call.method == "chat.appendStream" and call.get("ts") == stream_ts:
            if streamed_text(call.args):
                return call
        elif call.method in ("chat.postMessage", "chat.update") and _holds_text(
            call, slack, thread
        ):
            return call
    return None


def _holds_text(call: SlackCall, slack: FakeSlack, thread: str) -> bool:
    ts = call.get("ts") if call.method == "chat.update" else call.result.get("ts")
    message = slack.conversations.messages.get(str(ts))
    blocks = call.get("blocks") or []
    return (
        message is not None
        and message.thread_ts == thread
        and any(b.get("type") in ("section", "header") for b in blocks)
    )


async def run(args: argparse.Namespace) -> None:
    logging.basicConfig(level=logging.ERROR)
    slack = FakeSlack()
    await slack.start()
    meibel = DevServer(
        api_key=None, stream_chunk_delay_seconds=args.chunk_delay, stream_mode="cumulative"
    )
    await meibel.start()
    client = MeibelClient(base_url=meibel.base_url, api_key="bench", timeout_seconds=30)
    async with open_store(args.redis_url) as store:
        pipeline = Pipeline(
            meibel=client,
            store=store,
            config=PipelineConfig(router=Router(default=AgentRef("name", "bench"), routes={})),
        )
        settings = SlackSettings(
            _env_file=None,  # type: ignore[call-arg]  # pydantic-settings init kwarg
            slack_bot_token=SecretStr(BOT_TOKEN),
            slack_signing_secret=SecretStr(SIGNING_SECRET),
            slack_api_url=slack.base_url,
            slack_streaming=True,
            slack_streaming_mode=args.mode,
        )
        bot = SlackBot(settings=settings, pipeline=pipeline, store=store, session_ttl_seconds=3600)
        server = HttpServer(bot, host="127.0.0.1", port=0)
        server.start()
        worker = asyncio.create_task(bot.work.run())  # answers the jobs the events queue
        try:
            async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
                await measure(args, slack=slack, meibel=meibel, bot=bot, http=http)
        finally:
            await server.stop()
            await bot.work.stop()
            await worker
            await bot.background.drain(grace_seconds=10)
            await bot.aclose()
            await client.aclose()
            await meibel.stop()
            await slack.stop()


async def measure(
    args: argparse.Namespace,
    *,
    slack: FakeSlack,
    meibel: DevServer,
    bot: SlackBot,
    http: httpx.AsyncClient,
) -> None:
    threads = {f"1720000000.{i:06d}": f"Benchmark question number {i}" for i in range(args.answers)}
    gate = asyncio.Semaphore(args.concurrency)

    async def ask(thread: str, question: str) -> None:
        async with gate:
            event = mention(question, ts=thread, channel=CHANNEL)
            body = json.dumps(event_envelope(event, team=TEAM, event_id=f"Ev{thread}")).encode()
            headers = {"Content-Type": "application/json", **signed_headers(body)}
            response = await http.post("/slack/events", content=body, headers=headers)
            assert response.status_code == 200, response.text
            try:
                await slack.wait_until(
                    lambda: _finished(slack, thread), what=f"the answer in {thread}", timeout=60
                )
            except AssertionError:
                return  # counted below as not completed

    started = time.monotonic()
    await asyncio.gather(*(ask(t, q) for t, q in threads.items()))
    wall = time.monotonic() - started
    await asyncio.wait_for(bot.background.idle(), timeout=30)

    requests: dict[str, RecordedRequest] = {
        str(r.user_message): r for r in meibel.chat_requests() if r.first_partial_at is not None
    }
    latencies: list[float] = []
    completed = 0
    for thread, question in threads.items():
        record, call = requests.get(question), first_text(slack, thread)
        if _finished(slack, thread):
            completed += 1
        if record is not None and record.first_partial_at is not None and call is not None:
            latencies.append(call.at - record.first_partial_at)
    print(
        f"Slack ({args.mode} streaming): {args.answers} answers, {args.concurrency} at a time, "
        f"Meibel writing a piece every {args.chunk_delay * 1000:.0f} ms"
    )
    print(f"  answers completed: {completed}/{args.answers} in {wall:.1f} s")
    if latencies:
        p99 = percentile(latencies, 99)
        verdict = "ok" if p99 < TARGET_P99 else "OVER TARGET"
        print(f"  first partial -> first text in Slack (n={len(latencies)}):")
        print(f"    p50 {ms(percentile(latencies, 50))}")
        print(f"    p99 {ms(p99)}   (target < {TARGET_P99 * 1000:.0f} ms: {verdict})")
        print(f"    max {ms(max(latencies))}")


def _finished(slack: FakeSlack, thread: str) -> bool:
    """The answer is complete: a message in the thread with its feedback buttons, not streaming."""
    for message in slack.conversations.in_thread(thread):
        if not message.streaming and any(
            b.get("type") == "context_actions" for b in message.blocks
        ):
            return True
    return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--answers", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument(
        "--chunk-delay", type=float, default=0.05, help="seconds between Meibel's pieces"
    )
    parser.add_argument("--mode", choices=("native", "edit"), default="native")
    parser.add_argument(
        "--redis-url", default=None, help="use Redis for the store (default: SQLite in a temp dir)"
    )
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
