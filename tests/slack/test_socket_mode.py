"""Socket Mode: the bot dials out with the app token; envelopes are acked over the socket."""

from __future__ import annotations

import asyncio
import contextlib
import json

from adapters.slack.app import SlackBot
from adapters.slack.server import run_bot
from bot.devserver import DevServer
from bot.store.base import Store
from tests.fixtures.slack import APP_TOKEN, FakeSlack
from tests.slack.conftest import (
    CHANNEL,
    SESSION_TTL,
    USER,
    event_envelope,
    make_pipeline,
    mention,
    slack_settings,
)


async def test_socket_mode_acks_envelopes_and_answers(
    slack_api: FakeSlack, meibel_server: DevServer, redis_store: Store
) -> None:
    settings = slack_settings(slack_api, slack_app_token=APP_TOKEN, slack_signing_secret=None)
    pipeline = make_pipeline(meibel_server, redis_store)
    bot = SlackBot(
        settings=settings, pipeline=pipeline, store=redis_store, session_ttl_seconds=SESSION_TTL
    )
    running = asyncio.create_task(run_bot(bot))
    try:
        await slack_api.wait_for_socket()
        [opened] = slack_api.calls_to("apps.connections.open")
        assert opened.token == APP_TOKEN
        ts = "1710000000.009900"
        envelope = event_envelope(mention("Over the socket", ts=ts), event_id="EvSocket")
        envelope_id = await slack_api.push("events_api", envelope)
        [ack] = await slack_api.wait_for(
            "socket_ack", where=lambda c: c["envelope_id"] == envelope_id
        )
        assert "payload" not in ack.args or not ack["payload"]
        await slack_api.wait_until(
            lambda: any(not m["streaming"] for m in slack_api.messages(ts)), what="the answer"
        )
        [answer] = slack_api.messages(ts)
        assert "Over the socket" in str(answer["blocks"])
        # an empty /ask over the socket: the hint travels in the ack
        command_id = await slack_api.push(
            "slash_commands",
            {
                "command": "/ask",
                "text": "",
                "team_id": "T0000001",
                "channel_id": CHANNEL,
                "user_id": USER,
                "trigger_id": "t1",
                "response_url": slack_api.response_url(),
            },
        )
        [ack] = await slack_api.wait_for(
            "socket_ack", where=lambda c: c["envelope_id"] == command_id
        )
        assert "Usage: `/ask" in json.dumps(ack["payload"])
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
        await pipeline.meibel.aclose()  # type: ignore[attr-defined]
