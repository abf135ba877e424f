"""Slack's App Home: how to ask, and the person's own recent questions linked to their threads."""

from __future__ import annotations

from typing import Any

from slack_sdk.models.views import View

from tests.slack.conftest import CHANNEL, OTHER_USER, USER, Harness, mention


def home_opened(user: str) -> dict[str, Any]:
    return {"type": "app_home_opened", "user": user, "channel": "D0000001", "tab": "home",
            "event_ts": "1.0"}  # fmt: skip


async def published_for(harness: Harness, user: str, count: int) -> dict[str, Any]:
    calls = await harness.slack.wait_for("views.publish", count=count)
    [call] = [c for c in calls if c.args["user_id"] == user][-1:]
    view = call.args["view"]
    View(**view).validate_json()  # a Home view Slack accepts
    return view  # type: ignore[no-any-return]


async def test_the_home_tab_shows_how_to_ask_and_only_your_own_recent_questions(
    harness: Harness,
) -> None:
    await harness.bot.learn_bot_user()  # as at start-up: auth.test gives the workspace's URL
    root = harness.slack.next_ts()
    await harness.event(mention("How do refunds &amp; returns work?", ts=root))  # Slack escapes &
    await harness.answers(1, thread_ts=root)
    await harness.settle()  # the job is done, the question noted

    await harness.event(home_opened(USER))
    text = str((await published_for(harness, USER, 1))["blocks"])
    assert "How to ask" in text
    link = f"https://test.slack.com/archives/{CHANNEL}/p{root.replace('.', '')}"
    assert f"<{link}|How do refunds &amp; returns work?>" in text  # escaped, linked

    await harness.event(home_opened(OTHER_USER))
    other = str((await published_for(harness, OTHER_USER, 2))["blocks"])
    assert "returns" not in other and "your questions will show here" in other
