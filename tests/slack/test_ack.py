"""Acknowledge at once: Slack gets its 200 while the agent is still thinking, and the user
already sees the working sign."""

from __future__ import annotations

import asyncio

from adapters.slack.render import FOLLOW_UP_ACTION
from tests.slack.conftest import Harness, mention

ACK_BUDGET = 2.0  # well inside Slack's 3 s


async def test_event_is_acked_before_the_answer_and_progress_shows_at_once(
    harness: Harness,
) -> None:
    harness.meibel.hold_chats()
    ts = "1710000004.000100"
    async with asyncio.timeout(ACK_BUDGET):
        response = await harness.event(mention("Take your time", ts=ts))
    assert response.status_code == 200
    await harness.meibel.wait_for_in_flight(1)
    [reaction] = await harness.slack.wait_for("reactions.add")
    assert reaction["timestamp"] == ts
    assert harness.slack.messages() == []  # still thinking
    harness.meibel.release_chats()
    await harness.answers(1, thread_ts=ts)
    await harness.slack.wait_for("reactions.remove")


async def test_command_and_click_are_acked_before_the_answer(harness: Harness) -> None:
    ts = "1710000004.000200"
    await harness.event(mention("First", ts=ts))
    [answer] = await harness.answers(1, thread_ts=ts)
    follow_up = next(
        e
        for b in answer["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"].startswith(FOLLOW_UP_ACTION)
    )
    harness.meibel.hold_chats()
    async with asyncio.timeout(ACK_BUDGET):
        click = await harness.click(
            action_id=follow_up["action_id"], value=follow_up["value"], message=answer
        )
        command, _ = await harness.command("Slow question")
    assert click.status_code == 200 and command.status_code == 200
    await harness.meibel.wait_for_in_flight(2)
    harness.meibel.release_chats()
    await harness.answers(2, thread_ts=ts)
    await harness.settle()
    answers = [m for m in harness.slack.messages() if m["blocks"]]
    assert len(answers) == 3 and not any(m["streaming"] for m in answers)
