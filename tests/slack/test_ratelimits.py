"""Slack's rate limits kept: calls wait for their budget, decorations are skipped without it,
and every question is still answered once. The bot runs with small budgets against a fake
Slack that counts, as calls arrive, any beyond the same limits (tests/fixtures/slack_limits)."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from adapters.slack.fleet import FleetOptions, work_config
from adapters.slack.ratelimits import (
    Budgets,
    CallSkipped,
    Limits,
    PacingMetrics,
    Rate,
    optional,
    slack_limits,
    unlimited,
)
from bot.work.queue import with_deadline
from tests.fixtures.slack_limits import LimitChecker
from tests.slack.conftest import Harness, mention
from tests.slack.test_ops import sample

PACED = "meibel_bot_slack_paced_seconds_total"
SKIPPED = "meibel_bot_slack_skipped_calls_total"


def small_limits(**methods: Rate) -> Limits:
    """Slack's limits, with a few budgets small enough to run out in a test."""
    limits = slack_limits()
    renamed = {name.replace("_", "."): rate for name, rate in methods.items()}
    return dataclasses.replace(
        limits,
        methods={**limits.methods, **renamed},
        post_per_channel=Rate(per_minute=120, burst=2),
    )


def counted(metrics: str, name: str, method: str) -> float:
    try:
        return sample(metrics, name, f'method="{method}"')
    except AssertionError:
        return 0.0  # never counted: no sample yet


# -- the buckets ---------------------------------------------------------------------------
async def test_calls_over_the_burst_wait_their_turn_in_order_and_the_wait_is_counted() -> None:
    registry = CollectorRegistry()
    budgets = Budgets(
        Limits(
            methods={"chat.update": Rate(per_minute=600, burst=2)},  # 10 a second
            post_per_channel=Rate(60, 1),
            post_per_workspace=Rate(60, 1),
        ),
        metrics=PacingMetrics(registry),
    )
    started = time.monotonic()
    done: list[int] = []

    async def call(index: int) -> None:
        await budgets.take("chat.update", {})
        done.append(index)

    await asyncio.gather(*(call(i) for i in range(5)))
    assert done == [0, 1, 2, 3, 4]  # in order of arrival
    assert time.monotonic() - started >= 0.29  # the burst of 2, then one every 0.1 s
    waited = registry.get_sample_value(
        "meibel_bot_slack_paced_seconds_total", {"method": "chat.update"}
    )
    assert waited == pytest.approx(0.1 + 0.2 + 0.3, abs=0.05)


async def test_an_optional_call_without_budget_is_skipped_and_spends_nothing() -> None:
    registry = CollectorRegistry()
    budgets = Budgets(
        Limits(
            methods={"reactions.add": Rate(per_minute=1, burst=1)},
            post_per_channel=Rate(60, 1),
            post_per_workspace=Rate(60, 1),
        ),
        metrics=PacingMetrics(registry),
    )
    with optional():
        assert await budgets.take("reactions.add", {}) == 0.0
        with pytest.raises(CallSkipped):
            await budgets.take("reactions.add", {})
    assert budgets.buckets("reactions.add", {})[0].tokens == pytest.approx(0.0, abs=0.01)
    skipped = registry.get_sample_value(SKIPPED, {"method": "reactions.add"})
    assert skipped == 1.0
    assert await budgets.take("users.info", {}) == 0.0  # a method without a budget: never paced


# -- the whole bot -------------------------------------------------------------------------
async def test_many_slow_answers_at_once_are_all_answered_once_within_the_limits(
    start_bot: Any,
) -> None:
    limits = small_limits(
        chat_startStream=Rate(per_minute=6, burst=3),
        chat_stopStream=Rate(per_minute=30, burst=2),
        reactions_add=Rate(per_minute=30, burst=4),
        reactions_remove=Rate(per_minute=60, burst=4),
    )
    harness: Harness = await start_bot(slack_streaming=True, bot_options={"limits": limits})
    harness.slack.limits = LimitChecker(limits)
    harness.slow_agent()
    questions = {f"1710000020.{i:06d}": f"C000000{i % 3 + 1}" for i in range(12)}
    for ts, channel in questions.items():
        await harness.event(mention(f"Question {ts}", ts=ts, channel=channel))

    for ts in questions:
        [answer] = await harness.answers(1, thread_ts=ts)
        assert f"Question {ts}" in str(answer["blocks"])
    await harness.settle()
    assert all(len(harness.slack.messages(ts)) == 1 for ts in questions)  # once each
    assert len(harness.meibel.chat_requests()) == len(questions)
    assert dict(harness.slack.limits.over) == {}  # nothing beyond Slack's limits

    metrics = harness.bot.metrics.render().decode()
    # Streams start only within chat.startStream's budget; the others are posted whole,
    # and every stream is ended by its stop (waited for, never skipped).
    started = len(harness.slack.calls_to("chat.startStream"))
    assert started >= 3
    assert started + counted(metrics, SKIPPED, "chat.startStream") == len(questions)
    assert len(harness.slack.calls_to("chat.stopStream")) == started
    assert counted(metrics, SKIPPED, "chat.stopStream") == 0
    # The eyes: added where the budget allowed, skipped (and counted) elsewhere, and every
    # one added was taken away.
    added = len(harness.slack.calls_to("reactions.add"))
    assert added >= 4
    assert added + counted(metrics, SKIPPED, "reactions.add") == len(questions)
    assert harness.eyes_left() == 0
    # Final answers waited for their channel's turn rather than being skipped.
    assert counted(metrics, PACED, "chat.postMessage") > 0
    assert counted(metrics, SKIPPED, "chat.postMessage") == 0


async def test_streams_sharing_a_small_append_budget_still_show_the_whole_answers(
    start_bot: Any,
) -> None:
    limits = small_limits(chat_appendStream=Rate(per_minute=60, burst=1))
    harness: Harness = await start_bot(slack_streaming=True, bot_options={"limits": limits})
    harness.slack.limits = LimitChecker(limits)
    harness.meibel.stream_piece_chars = 8
    harness.meibel.stream_chunk_delay_seconds = 0.05
    questions = [f"1710000021.{i:06d}" for i in range(4)]
    for ts in questions:
        await harness.event(mention(f"Long answer {ts}", ts=ts))

    for ts in questions:
        [answer] = await harness.answers(1, thread_ts=ts)
        assert f"Long answer {ts}" in str(answer["blocks"])
    await harness.settle()
    assert dict(harness.slack.limits.over) == {}
    # Four streams wanting an update a second, one update a second allowed: updates waited
    # (at most one interval) or were left to the next one; each stream ended with its stop.
    metrics = harness.bot.metrics.render().decode()
    held = counted(metrics, PACED, "chat.appendStream") + counted(
        metrics, SKIPPED, "chat.appendStream"
    )
    assert held > 0
    assert len(harness.slack.calls_to("chat.stopStream")) == len(questions)


async def test_the_checker_sees_a_bot_that_does_not_pace(start_bot: Any) -> None:
    """The proof above can fail: unpaced, the same answers break the per-channel limit."""
    harness: Harness = await start_bot(slack_streaming=False, bot_options={"limits": unlimited()})
    harness.slack.limits = LimitChecker(small_limits())
    questions = [f"1710000022.{i:06d}" for i in range(6)]
    for ts in questions:
        await harness.event(mention(f"Unpaced {ts}", ts=ts))
    for ts in questions:
        await harness.answers(1, thread_ts=ts)
    await harness.settle()
    assert harness.slack.limits.over["chat.postMessage"] > 0


async def test_a_process_holds_no_more_answers_than_slack_lets_it_post_in_time(
    start_bot: Any,
) -> None:
    """Answers beyond what the workspace's post budget can carry before their deadline wait
    in the queue, not in the process: every one is answered, none ends as "still working"."""
    limits = dataclasses.replace(
        slack_limits(),
        post_per_channel=Rate(per_minute=600, burst=10),
        post_per_workspace=Rate(per_minute=60, burst=2),  # a post a second after two
    )
    fleet = FleetOptions(work=with_deadline(work_config(), 8.0))
    harness: Harness = await start_bot(
        slack_streaming=False, bot_options={"limits": limits, "fleet": fleet}
    )
    assert harness.bot.work.held() == 4  # what the rate posts in half the deadline
    harness.slack.limits = LimitChecker(limits)
    questions = [f"1710000040.{i:06d}" for i in range(12)]
    for i, ts in enumerate(questions):
        await harness.event(mention(f"Question {ts}", ts=ts, channel=f"C00000{i:02d}"))

    for ts in questions:  # all twelve take about ten seconds to post, one a second
        [answer] = await harness.answers(1, thread_ts=ts)
        assert f"Question {ts}" in str(answer["blocks"])  # the answer, not a notice
    await harness.settle()
    assert all(len(harness.slack.messages(ts)) == 1 for ts in questions)
    assert harness.slack.limits.over == {}
