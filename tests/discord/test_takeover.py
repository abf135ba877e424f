"""kill -9 a Discord worker process in the middle of its answers: another worker finishes
every one of them after the visibility timeout, in the messages already shown, and no
question gets a second thread or a second answer."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from adapters.discord.jobs import job_id
from adapters.discord.process import QUEUE
from bot.devserver import DevServer
from bot.store import RedisStore
from bot.work.redis_keys import QueueKeys
from tests.discord.fakes.recorder import Call
from tests.discord.fakes.server import FakeDiscord
from tests.discord.helpers import FOLLOW_UP, custom_ids, text_of
from tests.fixtures.discord import StartBot, fleet_options
from tests.work.helpers import eventually

ROOT = Path(__file__).resolve().parents[2]
STARTUP = 30.0  # a fresh interpreter importing discord.py, on a slow machine
THREADS = r"/channels/\d+/messages/\d+/threads"


@pytest.fixture
def worker_process(
    fake_discord: FakeDiscord,
    meibel_server: DevServer,
    redis_url: str,
    redis_store: RedisStore,
    tmp_path: Path,
) -> Iterator[subprocess.Popen[bytes]]:
    """A worker-only Discord process on the test's queue, streaming, killed after the test."""
    log = tmp_path / "worker.log"
    args = [fake_discord.api_base, meibel_server.base_url, redis_url, redis_store.prefix]
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.discord.proc", "worker", *args, "--streaming"],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


def first_words(fake: FakeDiscord, channel_id: int, token: str) -> int:
    """How many answers have shown their first words: in the channel, or via the webhook."""
    return len(
        [
            c
            for c in fake.message_calls()
            if c.status == 200
            and "Answer" in text_of(c)
            and (c.matches("POST", rf"/channels/{channel_id}/messages") or token in c.path)
        ]
    )


# The end of every dev-server answer: its presence means the whole text is shown.
LAST_WORDS = "Meibel docs"


def whole(call: Call) -> bool:
    """The edit shows the whole answer. The dead worker's turn is not sent again: its
    answer is read back from the session, as text (follow-ups do not come back with it)."""
    return LAST_WORDS in text_of(call) or bool(custom_ids(call.json or {}, FOLLOW_UP))


def finished_in(thread: int) -> Callable[[Call], bool]:
    """The edit that makes a live message in the thread the whole answer."""
    return lambda c: c.matches("PATCH", rf"/channels/{thread}/messages/\d+") and whole(c)


async def test_answers_of_a_killed_worker_are_finished_by_another_exactly_once(
    fake_discord: FakeDiscord,
    start_discord_bot: StartBot,
    meibel_server: DevServer,
    worker_process: subprocess.Popen[bytes],
    redis_store: RedisStore,
) -> None:
    # This process only takes the questions in; the worker process answers them, slowly:
    # the first words at once, the rest two seconds a piece.
    await start_discord_bot(fleet=fleet_options(worker=False), discord_streaming=True)
    meibel_server.stream_chunk_delay_seconds = 2.0
    w = fake_discord.world
    threads = []
    for n in range(3):
        said = await fake_discord.say(
            f"Question {n}: how do quotas work?",
            user=w.alice,
            channel_id=w.general_id,
            mention_bot=True,
        )
        threads.append(int(said["id"]))
    dm_id = int(fake_discord.dm_with(w.alice_id)["id"])
    asked = await fake_discord.slash(
        "ask", user=w.alice, channel_id=dm_id, options={"question": "And in a DM?"}
    )

    def all_started() -> bool:
        shown = [first_words(fake_discord, t, asked["token"]) for t in threads]
        return all(shown) and first_words(fake_discord, -1, asked["token"]) >= 1

    await fake_discord.recorder.until(all_started, within=STARTUP)
    # ... and has noted it in its journal (a kill between posting and noting is the one
    # gap left: the re-run would post anew).
    jobs = [job_id(w.guild_id, t) for t in threads] + [job_id(None, int(asked["id"]))]
    keys = QueueKeys.of(redis_store.prefix, QUEUE)  # the queue keeps the posted log

    async def all_noted() -> bool:
        notes = [await redis_store.client.get(keys.posted(job)) for job in jobs]
        return all(note and '"messages"' in note for note in notes)

    await eventually(all_noted)
    worker_process.send_signal(signal.SIGKILL)  # mid-answer: each has shown its first words
    worker_process.wait(timeout=10)
    shown_before = {t: [m["id"] for m in fake_discord.posted(t)] for t in threads}
    assert all(len(ids) == 1 for ids in shown_before.values())

    # Another worker takes the jobs over once the dead one's claims lapse.
    meibel_server.stream_chunk_delay_seconds = 0.0
    await start_discord_bot(
        fleet=fleet_options(gateway=False), discord_streaming=True, edit_interval=0.2
    )
    for thread in threads:
        [final] = await fake_discord.recorder.wait_for(finished_in(thread))
        # The message the dead worker started became the whole answer: no second one.
        assert [m["id"] for m in fake_discord.posted(thread)] == shown_before[thread]
        assert final.path.endswith(f"/{shown_before[thread][0]}")
        assert "Answer" in text_of(final)
    [dm_final] = await fake_discord.recorder.wait_for(
        lambda c: c.method == "PATCH" and asked["token"] in c.path and whole(c)
    )
    [dm_message] = fake_discord.posted(dm_id)  # "thinking", then the answer, then finished
    assert dm_final.path.endswith(f"/{dm_message['id']}")
    assert len(fake_discord.recorder.find("POST", THREADS)) == 3  # one thread each, ever
    # The agent ran each turn once: the new worker asked the sessions, it did not re-send.
    texts = [f"Question {n}: how do quotas work?" for n in range(3)] + ["And in a DM?"]
    assert [meibel_server.received[t] for t in texts] == [1, 1, 1, 1]
