"""Channel-scoped access on Slack: a new session starts with the execution policies of its
place; a Slack Connect channel gets the external ones; people from another organisation
can be refused."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from adapters.slack import texts
from bot.policies import PolicyRules, parse_policies
from tests.slack.conftest import CHANNEL, Harness, mention

OTHER_CHANNEL = "C0000099"
RULES = parse_policies(f"default=pol_kb,slack:{CHANNEL}=pol_hr+pol_kb", "pol_public")


def use(harness: Harness, rules: PolicyRules) -> None:
    harness.bot.policies = rules
    pipeline = harness.bot.responder.pipeline
    pipeline.config = dataclasses.replace(pipeline.config, policies=rules)


async def shared_event(harness: Harness, event: dict[str, Any]) -> int:
    """An event from a Slack Connect channel (Slack marks the envelope)."""
    body = harness.envelope(event) | {"is_ext_shared_channel": True}
    response = await harness.send(json.dumps(body).encode(), content_type="application/json")
    return response.status_code


def policies_of_session(harness: Harness, n: int = -1) -> list[str] | None:
    request = list(harness.meibel.sessions.values())[n].request or {}
    return request.get("execution_policy_ids")


async def test_a_session_starts_with_its_channels_policies_else_the_default(
    harness: Harness,
) -> None:
    use(harness, RULES)
    root = harness.slack.next_ts()
    await harness.event(mention("payroll dates?", ts=root))
    await harness.answers(1, thread_ts=root)
    assert policies_of_session(harness) == ["pol_hr", "pol_kb"]

    other = harness.slack.next_ts()
    await harness.event(mention("what is SSO?", ts=other, channel=OTHER_CHANNEL))
    await harness.answers(1, thread_ts=other)
    assert policies_of_session(harness) == ["pol_kb"]


async def test_a_slack_connect_channel_gets_the_external_policies(harness: Harness) -> None:
    use(harness, RULES)
    root = harness.slack.next_ts()
    assert await shared_event(harness, mention("payroll dates?", ts=root)) == 200
    await harness.answers(1, thread_ts=root)
    assert policies_of_session(harness) == ["pol_public"]  # not the channel's HR access


async def test_people_from_another_organisation_can_be_refused_privately(
    harness: Harness,
) -> None:
    use(harness, dataclasses.replace(RULES, refuse_external=True))
    root = harness.slack.next_ts()
    event = mention("payroll dates?", ts=root, user_team="T0OUTSIDE")
    assert await shared_event(harness, event) == 200
    [note] = await harness.slack.wait_for("chat.postEphemeral")
    assert note.args["text"] == texts.EXTERNAL_REFUSED
    await harness.settle()
    assert not harness.meibel.sessions  # the agent was never asked

    # the same channel's own people are answered
    mine = harness.slack.next_ts()
    assert await shared_event(harness, mention("payroll dates?", ts=mine)) == 200
    await harness.answers(1, thread_ts=mine)
    assert policies_of_session(harness) == ["pol_public"]
