"""Graceful shutdown: the gateway closes at once (no new work), the answer in flight is
finished, what had not started stays queued for the next process; SIGTERM exits 0."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

from bot.devserver import DevServer
from bot.store import RedisStore
from bot.work import RedisWorkQueue
from tests.discord.fakes.server import FakeDiscord
from tests.discord.helpers import answer_in, session_with, text_of
from tests.fixtures.discord import StartBot
from tests.fixtures.meibel import DEV_KEY
from tests.work.helpers import eventually

ROOT = Path(__file__).resolve().parents[2]
WAIT = 10.0
STARTUP = 30.0


async def gateway_closed(fake: FakeDiscord) -> None:
    async def closed() -> bool:
        return not fake.gateway.sessions

    await eventually(closed, within=WAIT)


async def test_a_stop_finishes_the_answer_in_flight_and_leaves_the_rest_queued(
    fake_discord: FakeDiscord,
    start_discord_bot: StartBot,
    meibel_server: DevServer,
    redis_store: RedisStore,
) -> None:
    first = await start_discord_bot()
    w = fake_discord.world
    said = await fake_discord.say("Start", user=w.alice, channel_id=w.general_id, mention_bot=True)
    thread_id = int(said["id"])
    await answer_in(fake_discord, thread_id)

    meibel_server.hold_chats()
    await fake_discord.say("In flight", user=w.alice, channel_id=thread_id)
    async with asyncio.timeout(WAIT):
        await meibel_server.wait_for_in_flight(1)
    await fake_discord.say("Not started", user=w.alice, channel_id=thread_id)
    queue = RedisWorkQueue(redis_store, name="discord")

    async def both_queued() -> bool:
        stats = await queue.stats()
        return stats.waiting + stats.pending == 2

    await eventually(both_queued)

    stopping = asyncio.create_task(first.stop())  # what SIGTERM does
    await gateway_closed(fake_discord)
    assert not stopping.done()  # still finishing the answer in flight
    meibel_server.release_chats()
    async with asyncio.timeout(WAIT):
        await stopping
    finished = await answer_in(fake_discord, thread_id, nth=2)
    assert "Answer 2: In flight" in text_of(finished)
    stats = await queue.stats()
    assert stats.waiting + stats.pending == 1  # "Not started" is still queued

    await start_discord_bot()  # the next process answers it
    later = await answer_in(fake_discord, thread_id, nth=3)
    assert "Answer 3: Not started" in text_of(later)
    assert session_with(meibel_server, "Start").user_messages == [
        "Start",
        "In flight",
        "Not started",
    ]


def start_cli(fake: FakeDiscord, meibel: DevServer, tmp_path: Path) -> subprocess.Popen[bytes]:
    """`meibel-bot discord` in a process of its own, on the embedded store, at the fakes."""
    settings = {
        "DISCORD_TOKEN": fake.token,
        "DISCORD_STREAMING": "off",
        "MEIBEL_API_KEY": DEV_KEY,
        "MEIBEL_BASE_URL": meibel.base_url,
        "MEIBEL_AGENT_NAME": "dev-agent",
        "MEIBEL_BOT_DB": str(tmp_path / "store.db"),
        "REDIS_URL": "",
        "SHUTDOWN_GRACE_SECONDS": "20",
        "PYTHONPATH": str(ROOT),
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "MEIBEL_"))}
    with (tmp_path / "bot.log").open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "tests.discord.proc", "cli", fake.api_base, fake.gateway_url],
            cwd=tmp_path,  # no .env of the repository
            env={**env, **settings},
            stdout=out,
            stderr=subprocess.STDOUT,
        )


async def test_sigterm_stops_meibel_bot_discord_gracefully_with_exit_code_0(
    fake_discord: FakeDiscord, meibel_server: DevServer, tmp_path: Path
) -> None:
    bot = start_cli(fake_discord, meibel_server, tmp_path)
    try:
        await fake_discord.gateway.wait_identified(within=STARTUP)
        w = fake_discord.world
        meibel_server.hold_chats()
        said = await fake_discord.say(
            "Busy?", user=w.alice, channel_id=w.general_id, mention_bot=True
        )
        async with asyncio.timeout(WAIT):
            await meibel_server.wait_for_in_flight(1)

        bot.send_signal(signal.SIGTERM)
        await gateway_closed(fake_discord)
        assert bot.poll() is None  # still finishing the answer in flight
        meibel_server.release_chats()
        answer = await answer_in(fake_discord, int(said["id"]))
        assert "Answer 1: Busy" in text_of(answer)
        code = await asyncio.to_thread(bot.wait, WAIT)
        assert code == 0, (tmp_path / "bot.log").read_text()
    finally:
        if bot.poll() is None:
            bot.kill()
            bot.wait()
    log = (tmp_path / "bot.log").read_text()
    assert "Traceback" not in log and fake_discord.token not in log
