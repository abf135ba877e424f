"""The Slack bot under test, whole: signed requests to its real HTTP endpoint (uvicorn on
port 0), the fake Slack Web API, the dev Meibel server and a real Redis."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from slack_sdk.models.blocks import Block
from slack_sdk.signature import SignatureVerifier

from adapters.slack.app import SlackBot
from adapters.slack.server import HttpServer
from adapters.slack.settings import SlackSettings
from bot.devserver import DevServer
from bot.meibel.client import MeibelClient
from bot.meibel.retry import RetryPolicy
from bot.pipeline import Pipeline, PipelineConfig
from bot.routing import AgentRef, Router
from bot.store.base import Store
from tests.fixtures.meibel import DEV_KEY
from tests.fixtures.slack import BOT_TOKEN, BOT_USER, TEAM, FakeSlack

SIGNING_SECRET = "3f9c1d2e4b5a69788796a5b4c3d2e1f0"
CHANNEL = "C0000001"
USER = "U0000001"
OTHER_USER = "U0000002"
SESSION_TTL = 3600
# Longer than the bot's progress delay (1.5 s): a slow agent, whose question gets the eyes.
SLOW_AGENT_SECONDS = 2.0


def signed_headers(
    body: bytes, *, secret: str = SIGNING_SECRET, timestamp: int | None = None
) -> dict[str, str]:
    """Headers Slack sends: a v0 HMAC-SHA256 of `v0:<timestamp>:<body>`."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=stamp, body=body)
    assert signature is not None
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": signature}


def slack_settings(slack_api: FakeSlack, **overrides: Any) -> SlackSettings:
    """Settings for a test, independent of the environment and any .env file."""
    values: dict[str, Any] = {
        "slack_bot_token": BOT_TOKEN,
        "slack_signing_secret": SIGNING_SECRET,
        "slack_app_token": None,
        "slack_api_url": slack_api.base_url,
        "slack_allowed_channels": "",
        "slack_reply_without_mention": True,
        "slack_streaming": None,
        "slack_streaming_mode": "native",
        "port": 0,
    }
    values.update(overrides)
    return SlackSettings(_env_file=None, **values)  # type: ignore[call-arg]  # pydantic-settings init kwarg


def message_event(
    text: str,
    *,
    ts: str,
    channel: str = CHANNEL,
    user: str = USER,
    thread_ts: str | None = None,
    type_: str = "message",
    channel_type: str | None = "channel",
    **extra: Any,
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": type_,
        "user": user,
        "text": text,
        "ts": ts,
        "channel": channel,
        "event_ts": ts,
    }
    if type_ == "message" and channel_type:
        event["channel_type"] = channel_type
    if thread_ts:
        event["thread_ts"] = thread_ts
    event.update(extra)
    return event


def mention(text: str, *, ts: str, **kwargs: Any) -> dict[str, Any]:
    return message_event(f"<@{BOT_USER}> {text}", ts=ts, type_="app_mention", **kwargs)


def event_envelope(event: dict[str, Any], *, team: str = TEAM, event_id: str) -> dict[str, Any]:
    """An Events API `event_callback` body around `event`."""
    return {
        "token": "legacy-verification-token",
        "team_id": team,
        "api_app_id": "A0000001",
        "event": event,
        "type": "event_callback",
        "event_id": event_id,
        "event_time": int(time.time()),
        "authorizations": [
            {"team_id": team, "user_id": BOT_USER, "is_bot": True, "is_enterprise_install": False}
        ],
    }


@dataclass
class Harness:
    slack: FakeSlack
    meibel: DevServer
    bot: SlackBot
    server: HttpServer
    http: httpx.AsyncClient
    store: Store
    worker: asyncio.Task[None] | None = None
    _events: int = field(default=0)

    async def stop_worker(self) -> None:
        if self.worker is not None:
            await self.bot.work.stop()
            await asyncio.wait({self.worker})  # stop() may have had to cancel it
            if not self.worker.cancelled():
                self.worker.result()
            self.worker = None

    # -- sending signed requests ------------------------------------------------------
    async def send(
        self,
        body: bytes,
        *,
        content_type: str,
        headers: dict[str, str] | None = None,
        secret: str = SIGNING_SECRET,
        timestamp: int | None = None,
    ) -> httpx.Response:
        all_headers = {
            "Content-Type": content_type,
            **signed_headers(body, secret=secret, timestamp=timestamp),
        }
        all_headers.update(headers or {})
        return await self.http.post("/slack/events", content=body, headers=all_headers)

    def envelope(
        self, event: dict[str, Any], *, team: str = TEAM, event_id: str | None = None
    ) -> dict[str, Any]:
        self._events += 1
        return event_envelope(event, team=team, event_id=event_id or f"Ev{self._events:08d}")

    async def event(
        self,
        event: dict[str, Any],
        *,
        team: str = TEAM,
        retry_num: int | None = None,
        event_id: str | None = None,
        **send: Any,
    ) -> httpx.Response:
        body = json.dumps(self.envelope(event, team=team, event_id=event_id)).encode()
        headers = {}
        if retry_num is not None:
            headers = {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": "http_timeout"}
        response = await self.send(body, content_type="application/json", headers=headers, **send)
        return response

    async def command(
        self,
        text: str,
        *,
        channel: str = CHANNEL,
        user: str = USER,
        team: str = TEAM,
        name: str = "/ask",
    ) -> tuple[httpx.Response, str]:
        """Run `/ask <text>` (or the command `name`); returns the HTTP response and the
        command's response_url."""
        response_url = self.slack.response_url()
        form = {
            "token": "legacy",
            "team_id": team,
            "team_domain": "test",
            "channel_id": channel,
            "channel_name": "general",
            "user_id": user,
            "user_name": "ann",
            "command": name,
            "text": text,
            "api_app_id": "A0000001",
            "is_enterprise_install": "false",
            "response_url": response_url,
            "trigger_id": f"trig.{uuid.uuid4().hex}",
        }
        body = urlencode(form).encode()
        response = await self.send(body, content_type="application/x-www-form-urlencoded")
        return response, response_url

    async def click(
        self,
        *,
        action_id: str,
        value: str,
        message: dict[str, Any],
        channel: str = CHANNEL,
        user: str = OTHER_USER,
        team: str = TEAM,
        ephemeral: bool = False,
    ) -> httpx.Response:
        """Click a button of a message the bot posted (as recorded by the fake); an
        `ephemeral` one has no message in the payload, as Slack sends it."""
        ts = message["ts"]
        payload = {
            "type": "block_actions",
            "user": {"id": user, "username": "bob", "team_id": team},
            "api_app_id": "A0000001",
            "token": "legacy",
            "container": {
                "type": "message",
                "message_ts": ts,
                "channel_id": channel,
                "is_ephemeral": ephemeral,
                "thread_ts": message.get("thread_ts"),
            },
            "trigger_id": f"trig.{uuid.uuid4().hex}",
            "team": {"id": team, "domain": "test"},
            "enterprise": None,
            "is_enterprise_install": False,
            "channel": {"id": channel, "name": "general"},
            "message": {
                "type": "message",
                "user": BOT_USER,
                "ts": ts,
                "thread_ts": message.get("thread_ts"),
                "text": message.get("text", ""),
                "blocks": message.get("blocks", []),
            },
            "response_url": self.slack.response_url(),
            "actions": [
                {
                    "action_id": action_id,
                    "block_id": "b1",
                    "value": value,
                    "type": "button",
                    "action_ts": f"{time.time():.6f}",
                }
            ],
        }
        if ephemeral:
            del payload["message"]
        body = urlencode({"payload": json.dumps(payload)}).encode()
        return await self.send(body, content_type="application/x-www-form-urlencoded")

    async def submit(self, view: dict[str, Any], values: dict[str, Any], *, user: str) -> Any:
        """Submit a modal the bot opened with these state values; Bolt's JSON reply
        (`response_action` errors), or None for a plain acknowledgement."""
        submission = {
            "type": "view_submission",
            "team": {"id": TEAM, "domain": "test"},
            "user": {"id": user, "team_id": TEAM},
            "api_app_id": "A0000001",
            "trigger_id": f"trig.{uuid.uuid4().hex}",
            "view": {**view, "id": "V0000001", "team_id": TEAM, "state": {"values": values}},
        }
        body = urlencode({"payload": json.dumps(submission)}).encode()
        response = await self.send(body, content_type="application/x-www-form-urlencoded")
        assert response.status_code == 200
        return response.json() if response.content else None

    def slow_agent(self, seconds: float = SLOW_AGENT_SECONDS) -> None:
        """Every agent answer takes `seconds` (the dev server's latency knob): longer than
        the bot's progress delay, so questions get the :eyes: while they wait."""
        self.meibel.faults.latency_seconds = seconds

    def eyes_left(self) -> int:
        """Progress reactions added and not taken away (0 once every answer is done)."""
        added = [c for c in self.slack.calls_to("reactions.add") if c["name"] == "eyes"]
        removed = [c for c in self.slack.calls_to("reactions.remove") if c["name"] == "eyes"]
        return len(added) - len(removed)

    # -- waiting ------------------------------------------------------------------------
    async def settle(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109 - a bounded wait
        """Wait (bounded) until every accepted job is done and no background work is left.

        Jobs are queued before Slack's ack, so once a request has returned, its job is
        counted here. The queue is polled: a job may be finishing in another process."""
        async with asyncio.timeout(timeout):
            while True:
                await self.bot.background.idle()
                stats = await self.bot.queue.stats()
                if stats.waiting == 0 and stats.pending == 0 and not self.bot.background.tasks:
                    return
                await asyncio.sleep(0.01)

    async def answers(
        self, count: int = 1, *, thread_ts: str | None = None
    ) -> list[dict[str, Any]]:
        """The bot's finished messages (posted, or streamed and stopped) in `thread_ts`,
        oldest first, as a person sees them; waits for `count` of them.

        Streamed text shows as a leading `markdown` block. An edited placeholder counts as
        soon as it is posted: tests of edit mode settle() before reading."""

        def finished() -> list[dict[str, Any]]:
            return [m for m in self.slack.messages(thread_ts) if m["blocks"] and not m["streaming"]]

        await self.slack.wait_until(
            lambda: len(finished()) >= count, what=f"{count} answer(s) in {thread_ts}"
        )
        return finished()


def validate_blocks(blocks: list[dict[str, Any]]) -> None:
    """Run every block through slack_sdk's Block Kit models and their limit checks."""
    for block in blocks:
        parsed = Block.parse(block)
        assert parsed is not None, f"slack_sdk does not know this block: {block}"
        parsed.validate_json()


def make_pipeline(meibel: DevServer, store: Store) -> Pipeline:
    client = MeibelClient(
        base_url=meibel.base_url,
        api_key=DEV_KEY,
        timeout_seconds=10,
        retry=RetryPolicy(base_delay=0.01, max_delay=0.05),
    )
    return Pipeline(
        meibel=client,
        store=store,
        config=PipelineConfig(
            router=Router(default=AgentRef("name", "dev-agent"), routes={}),
            session_ttl_seconds=SESSION_TTL,
        ),
    )


StartBot = Callable[..., Awaitable[Harness]]


@pytest.fixture
async def start_bot(
    slack_api: FakeSlack, meibel_server: DevServer, redis_store: Store
) -> AsyncIterator[StartBot]:
    """Start a bot (settings overrides as keywords; `store=` for a second instance)."""
    started: list[Harness] = []

    async def start(
        *,
        store: Store | None = None,
        bot_options: dict[str, Any] | None = None,
        worker: bool = True,
        **overrides: Any,
    ) -> Harness:
        """`worker=False`: events are queued but nobody answers them (until
        `harness.worker` is started)."""
        store = store or redis_store
        settings = slack_settings(slack_api, **overrides)
        pipeline = make_pipeline(meibel_server, store)
        bot = SlackBot(
            settings=settings,
            pipeline=pipeline,
            store=store,
            session_ttl_seconds=SESSION_TTL,
            **(bot_options or {}),
        )
        server = HttpServer(bot, host="127.0.0.1", port=0)
        server.start()
        http = httpx.AsyncClient(base_url=server.url, timeout=10.0)
        harness = Harness(slack_api, meibel_server, bot, server, http, store)
        if worker:
            harness.worker = asyncio.create_task(bot.work.run())
        started.append(harness)
        return harness

    try:
        yield start
        # Whatever a test did, every message the bot posted, edited or streamed must be one
        # Slack accepts, as sent and as it ends up.
        for call in slack_api.calls:
            if call.method in ("chat.postMessage", "chat.update", "chat.stopStream"):
                validate_blocks(call.get("blocks") or [])
        for message in slack_api.messages():
            validate_blocks(message["blocks"])
    finally:
        for harness in started:
            await harness.http.aclose()
            await harness.server.stop()
            await harness.stop_worker()
            await harness.bot.background.drain(grace_seconds=5)
            await harness.bot.aclose()
            await harness.bot.responder.pipeline.meibel.aclose()  # type: ignore[attr-defined]


@pytest.fixture
async def harness(start_bot: StartBot) -> Harness:
    return await start_bot()
