"""A job run that lost its job shows nothing more; a job whose answer cannot be shown in time
ends within its deadline with an honest notice, and its thread answers the next message."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import pytest

from adapters.slack import texts
from adapters.slack.fleet import FleetOptions, work_config
from adapters.slack.journal import Journal
from adapters.slack.webclient import VISIBLE
from adapters.slack.work import STOP_MARGIN_SECONDS
from bot.settings import Settings
from bot.threadlock import ThreadLocks
from bot.work.fence import FenceLost, fenced
from tests.fixtures.slack import SlackCall
from tests.slack.conftest import Harness, mention, message_event
from tests.slack.test_rerun import a_post

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


def visible(calls: list[SlackCall]) -> list[SlackCall]:
    return [c for c in calls if c.method.startswith(VISIBLE)]


@pytest.mark.parametrize("mode", ["native", "edit"])
@pytest.mark.parametrize("allowed", [0, 2])
async def test_a_run_that_lost_its_job_sends_slack_nothing_more(
    start_bot: Any, mode: str, allowed: int
) -> None:
    harness: Harness = await start_bot(worker=False, slack_streaming_mode=mode)
    harness.meibel.stream_chunk_delay_seconds = 0.02
    job = a_post("Fenced?", ts="1710000021.000100")
    fence = FenceThatRefuses(allowed)
    with fenced(fence), pytest.raises(FenceLost):
        await harness.bot.work.handler()(job)
    # Every visible call asked the fence first (so did the job's notes: the turn note is a
    # fenced write too), and nothing at all reached Slack after the first refusal (no
    # notice, no clean-up, no retry).
    shown = visible(harness.slack.calls)
    assert len(shown) <= allowed and fence.checks > allowed
    assert fence.refused_at is not None
    assert all(c.at < fence.refused_at for c in shown)
    assert not [c for c in harness.slack.posts() if texts.STILL_WORKING in str(c.args)]


async def test_the_journal_keeps_the_pipelines_notes(start_bot: Any) -> None:
    harness: Harness = await start_bot(worker=False)
    job = a_post("Notes?", ts="1710000022.000100")
    journal = await Journal.open(harness.bot.queue.posted, job)
    await journal.note(turn="ses_1 1700000000.000")
    again = await Journal.open(harness.bot.queue.posted, job)
    assert again.get("turn") == "ses_1 1700000000.000"
    assert again.get("nothing") is None


def fleet() -> dict[str, Any]:
    return {"fleet": FleetOptions(work=work_config(job_deadline=DEADLINE))}


async def notice_and_next_answer(harness: Harness, *, root: str, asked_at: float) -> None:
    """The honest notice came within the deadline; the next message in the thread is
    answered as usual."""
    [notice] = await harness.slack.wait_for(
        "chat.postMessage",
        where=lambda c: texts.STILL_WORKING in str(c.args),
        timeout=DEADLINE + 5,
    )
    assert notice["thread_ts"] == root
    assert notice.at - asked_at < DEADLINE  # in the reserve, before the run's deadline
    assert "Try again" in str(notice["blocks"])
    await harness.settle()  # the job ended: acknowledged, nothing pending

    await harness.event(message_event("And now?", ts="1710000031.000300", thread_ts=root))
    await harness.settle(timeout=10)
    shown = [m for m in harness.slack.messages(root) if not m["streaming"]]
    assert any("Answer 2: And now" in str(m["blocks"]) for m in shown), "the next answer"


async def test_a_slack_call_that_never_answers_ends_in_the_notice_within_the_deadline(
    start_bot: Any,
) -> None:
    # Edit mode: the answer replaces its placeholder with chat.update, which never answers.
    harness: Harness = await start_bot(slack_streaming_mode="edit", bot_options=fleet())
    harness.slack.hang("chat.update")
    root = "1710000031.000100"
    asked_at = time.monotonic()
    await harness.event(mention("Hang on", ts=root))
    await notice_and_next_answer(harness, root=root, asked_at=asked_at)
    assert [c.method for c in harness.slack.calls if c.error == "hung"] == ["chat.update"]


async def test_a_pacing_wait_that_is_never_woken_ends_in_the_notice_within_the_deadline(
    start_bot: Any,
) -> None:
    # The pacer's append never comes back; the answer's end waits for the pacer.
    harness: Harness = await start_bot(bot_options={**fleet(), "stream_interval": 0.05})
    harness.meibel.stream_chunk_delay_seconds = 0.1
    harness.slack.hang("chat.appendStream")
    root = "1710000032.000100"
    asked_at = time.monotonic()
    await harness.event(mention("Stream and stall", ts=root))
    await notice_and_next_answer(harness, root=root, asked_at=asked_at)
    assert [c.method for c in harness.slack.calls if c.error == "hung"] == ["chat.appendStream"]


async def test_a_worker_that_does_not_stop_is_cancelled_after_the_grace(start_bot: Any) -> None:
    """A queue task can live through its cancellation (redis-py may swallow one that lands
    during a command); stopping the worker must still end, soon after the grace."""
    grace = 0.5
    harness: Harness = await start_bot(bot_options={"fleet": FleetOptions(grace_seconds=grace)})
    worker = harness.worker
    assert worker is not None

    async def stop_that_hangs(*, grace_seconds: float) -> None:
        await asyncio.Event().wait()  # as if a task of the queue never ended

    harness.bot.queue.stop = stop_that_hangs  # type: ignore[method-assign]
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with asyncio.timeout(grace + STOP_MARGIN_SECONDS + 5):
        await harness.stop_worker()
    assert worker.done()
    assert loop.time() - started < grace + STOP_MARGIN_SECONDS + 2.0


class LocksWhoseRenewerSurvivesItsCancel(ThreadLocks):
    """Issue 9, item 7: redis-py can swallow a cancellation that lands while a command is in
    flight. When that is the thread lock's renewer, releasing the lock waits for a task
    that goes on renewing forever, and the answer's stream never ends. Played here without
    the race: the renewer's first cancellation is swallowed, as redis-py would."""

    async def _renew(self, *args: Any) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.Event().wait()
        await super()._renew(*args)


async def test_a_lock_that_is_never_released_ends_the_job_in_its_deadline(
    start_bot: Any,
) -> None:
    harness: Harness = await start_bot(bot_options=fleet())
    pipeline = harness.bot.responder.pipeline
    pipeline.locks = LocksWhoseRenewerSurvivesItsCancel(harness.store, ttl_seconds=1.0)
    harness.meibel.stream_chunk_delay_seconds = 0.02  # the renewer runs before the end
    root = "1710000033.000100"
    asked_at = time.monotonic()
    await harness.event(mention("Answered, then stuck", ts=root))
    # The stream would never end: the job's deadline cuts the wait for the renewer short,
    # the lock is released, the answer is finished (late), and the job ends.
    await harness.settle(timeout=DEADLINE + 5)
    assert time.monotonic() - asked_at < DEADLINE + 1.0
    [answer] = await harness.answers(1, thread_ts=root)
    assert "Answer 1" in str(answer["blocks"])

    await harness.event(message_event("And now?", ts="1710000033.000300", thread_ts=root))
    await harness.settle(timeout=10)
    shown = [m for m in harness.slack.messages(root) if not m["streaming"]]
    assert any("Answer 2: And now" in str(m["blocks"]) for m in shown), "the next answer"


def test_the_job_deadline_follows_the_meibel_timeout() -> None:
    settings = Settings(_env_file=None, meibel_timeout_seconds=30)  # type: ignore[call-arg]
    # The turn and one check of its session, each within the timeout, then a minute to post.
    assert settings.job_deadline_seconds == 2 * (30 + 15) + 60
    assert FleetOptions.from_settings(settings).work.job_deadline == 150
