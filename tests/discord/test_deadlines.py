"""A job run that lost its job writes nothing more to Discord; a job whose answer cannot be
shown in time ends within its deadline with an honest notice, and its thread answers the
next message."""

from __future__ import annotations

import asyncio
import dataclasses
import time

import pytest

from adapters.discord import texts
from adapters.discord.journal import Journal
from adapters.discord.process import STOP_MARGIN_SECONDS
from adapters.discord.process import FleetOptions as DiscordFleet
from bot.devserver import DevServer
from bot.domain import Question
from bot.settings import Settings
from bot.work import Job, dispatch
from bot.work.fence import FenceLost, fenced
from tests.discord.fakes.recorder import Call
from tests.discord.fakes.server import FakeDiscord
from tests.discord.helpers import answer_in, text_of, thread_opened_in
from tests.fixtures.discord import FAST_WORK, StartBot, fleet_options

DEADLINE = 3.0  # the job's; a quarter of it is kept for the notice


class FenceThatRefuses:
    """Lets `allowed` checks through, then refuses every one: the run lost its job."""

    def __init__(self, allowed: int) -> None:
        self.allowed = allowed
        self.checks = 0
        self.refused_at: float | None = None  # time.monotonic() of the first refusal

    async def check(self) -> None:
        self.checks += 1
        if self.checks > self.allowed:
            if self.refused_at is None:
                self.refused_at = time.monotonic()
            raise FenceLost("taken over")


def writes(calls: list[Call]) -> list[Call]:
    return [c for c in calls if c.method not in ("GET", "HEAD")]


@pytest.mark.parametrize("streaming", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("allowed", [0, 2])
async def test_a_run_that_lost_its_job_writes_nothing_more_to_discord(
    fake_discord: FakeDiscord, start_discord_bot: StartBot, streaming: bool, allowed: int
) -> None:
    bot = await start_discord_bot(
        discord_streaming=streaming, edit_interval=0.05, fleet=fleet_options(worker=False)
    )
    process = bot.process
    fence = FenceThatRefuses(allowed)
    lost = asyncio.Event()
    handle = dispatch(process.work.handlers())

    async def fenced_handler(job: Job) -> None:
        with fenced(fence):
            try:
                await handle(job)
            except FenceLost:
                lost.set()  # it propagated out of the handler, as it must

    before = len(fake_discord.recorder.calls)
    worker = asyncio.create_task(process.queue.run(fenced_handler, concurrency=1))
    try:
        w = fake_discord.world
        await fake_discord.say("Fenced?", user=w.alice, channel_id=w.general_id, mention_bot=True)
        async with asyncio.timeout(10):
            await lost.wait()
    finally:
        await process.queue.stop(grace_seconds=2)
        await worker
    # Every write asked the fence first (so did the job's notes: the turn note is a fenced
    # write too), and nothing reached Discord after the first refusal (no apology, no
    # notice, no typing, no retry).
    written = writes(fake_discord.recorder.calls[before:])
    assert len(written) <= allowed and fence.checks > allowed
    assert fence.refused_at is not None
    assert all(c.at < fence.refused_at for c in written)


async def test_the_journal_keeps_the_pipelines_notes(start_discord_bot: StartBot) -> None:
    bot = await start_discord_bot()
    job = Job.accept(
        id="discord:notes", kind="discord.message", question=_question(), data={"x": "1"}
    )
    journal = await Journal.open(bot.process.queue.posted, job)
    await journal.note(turn="ses_1 1700000000.000")
    again = await Journal.open(bot.process.queue.posted, job)
    assert again.get("turn") == "ses_1 1700000000.000"
    assert again.get("nothing") is None


def _question() -> Question:
    return Question(
        platform="discord", workspace="1", channel="2", thread="3", user="4", text="notes"
    )


async def test_a_discord_call_that_never_answers_ends_in_the_notice_within_the_deadline(
    fake_discord: FakeDiscord, start_discord_bot: StartBot, meibel_server: DevServer
) -> None:
    work = dataclasses.replace(FAST_WORK, job_deadline=DEADLINE, visibility_timeout=30.0)
    await start_discord_bot(
        discord_streaming=True, edit_interval=0.05, fleet=fleet_options(work=work)
    )
    meibel_server.stream_chunk_delay_seconds = 0.1
    w = fake_discord.world
    # The live answer's edits in the thread never get an answer.
    stalled = fake_discord.recorder.hold("PATCH", r"/channels/\d+/messages/\d+")
    asked_at = time.monotonic()
    await fake_discord.say("Slow?", user=w.alice, channel_id=w.general_id, mention_bot=True)
    thread_id, _ = await thread_opened_in(fake_discord, w.general_id)
    [notice] = await fake_discord.recorder.wait_for(
        lambda c: (
            c.matches("POST", rf"/channels/{thread_id}/messages")
            and text_of(c) == texts.STILL_WORKING
        ),
        within=DEADLINE + 5,
    )
    assert notice.at - asked_at < DEADLINE  # in the reserve, before the run's deadline
    assert stalled.arrived.is_set()

    stalled.release()
    await fake_discord.say("And now?", user=w.alice, channel_id=thread_id)
    answer = await answer_in(fake_discord, thread_id)
    assert "Answer 2:" in text_of(answer)


async def test_a_worker_that_does_not_stop_is_cancelled_after_the_grace(
    start_discord_bot: StartBot,
) -> None:
    """A queue task can live through its cancellation (redis-py may swallow one that lands
    during a command); shutdown must still end, soon after the grace."""
    grace = 0.5
    bot = await start_discord_bot(fleet=fleet_options(grace_seconds=grace))
    queue = bot.process.queue
    stop = queue.stop

    async def stop_that_hangs(*, grace_seconds: float) -> None:
        await stop(grace_seconds=grace_seconds)
        await asyncio.Event().wait()  # as if a task of the queue never ended

    queue.stop = stop_that_hangs  # type: ignore[method-assign]
    loop = asyncio.get_running_loop()
    started = loop.time()
    await bot.stop()
    assert bot.task.done()
    assert loop.time() - started < grace + STOP_MARGIN_SECONDS + 2.0


def test_the_job_deadline_follows_the_meibel_timeout() -> None:
    settings = Settings(_env_file=None, meibel_timeout_seconds=30)  # type: ignore[call-arg]
    assert DiscordFleet.of(settings).work.job_deadline == settings.job_deadline_seconds == 150
