"""OPS_PORT: /healthz, /readyz and /metrics of a Discord process; secrets out of the logs."""

from __future__ import annotations

import asyncio
import logging

import httpx

from adapters.discord.redact import RedactInteractionTokens
from bot.devserver import DevServer
from tests.discord.fakes.server import FakeDiscord
from tests.discord.helpers import answer_in
from tests.fixtures.discord import StartBot, fleet_options

WAIT = 10.0


def sample(metrics: str, name: str) -> float:
    """The value of one sample line of a Prometheus text page."""
    [line] = [line for line in metrics.splitlines() if line.startswith(name + " ")]
    return float(line.split()[-1])


async def test_the_ops_port_serves_health_readiness_and_metrics_with_queue_gauges(
    fake_discord: FakeDiscord, start_discord_bot: StartBot, meibel_server: DevServer
) -> None:
    bot = await start_discord_bot(fleet=fleet_options(ops_port=0, ops_token="t0ken"))
    assert bot.process.ops is not None
    w = fake_discord.world
    base = f"http://127.0.0.1:{bot.process.ops.port}"
    headers = {"Authorization": "Bearer t0ken"}
    async with httpx.AsyncClient(base_url=base, headers=headers) as http:
        assert (await http.get("/healthz")).status_code == 200
        assert (await http.get("/metrics", headers={"Authorization": ""})).status_code == 401
        ready = await http.get("/readyz")
        assert ready.status_code == 200 and ready.json() == {
            "ready": True,
            "store": "ok",
            "meibel": "ok",
        }
        said = await fake_discord.say(
            "Counted?", user=w.alice, channel_id=w.general_id, mention_bot=True
        )
        await answer_in(fake_discord, int(said["id"]))

        # One answer in flight and one waiting behind it in the same thread.
        meibel_server.hold_chats()
        for text in ("In flight", "Waiting"):
            await fake_discord.say(text, user=w.alice, channel_id=int(said["id"]))
        async with asyncio.timeout(WAIT):
            await meibel_server.wait_for_in_flight(1)
        page = (await http.get("/metrics")).text
        meibel_server.release_chats()

    assert sample(page, 'meibel_bot_questions_total{platform="discord"}') == 2.0
    assert sample(page, 'meibel_bot_answers_total{kind="answer",platform="discord"}') == 1.0
    assert sample(page, "meibel_bot_in_flight") == 1.0
    # Both are taken by this process's worker (the second waits its turn in the thread).
    assert sample(page, "meibel_bot_queue_pending") == 2.0
    assert sample(page, "meibel_bot_queue_depth") == 0.0
    assert "meibel_bot_meibel_latency_seconds_bucket" in page


def test_interaction_tokens_in_discord_py_log_lines_are_redacted() -> None:
    token = "aW50ZXJhY3Rpb246MTIzNDU2Nzg5MDEyMzQ1Njc4OnNlY3JldA"
    record = logging.LogRecord(
        "discord.http",
        logging.WARNING,
        __file__,
        1,
        "We are being rate limited. %s %s responded with 429. Retrying in %.2f seconds.",
        ("POST", f"https://discord.com/api/v10/interactions/123456/{token}/callback", 1.0),
        None,
    )
    assert RedactInteractionTokens().filter(record)
    assert token not in record.getMessage()
    assert "/interactions/123456/[redacted]/callback" in record.getMessage()
    webhook = logging.LogRecord(
        "discord.webhook",
        logging.DEBUG,
        __file__,
        1,
        "PATCH %s",
        (f"/webhooks/99/{token}/messages/@original",),
        None,
    )
    RedactInteractionTokens().filter(webhook)
    assert webhook.getMessage() == "PATCH /webhooks/99/[redacted]/messages/@original"
