"""Thread context: called into a thread, the agent gets what people said there before.

The fake Slack serves the thread's messages through `conversations.replies` (people's, as a
test `say`s them, and the bot's own) and display names through `users.info`; the dev
Meibel server records what the agent received.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from urllib.parse import urlencode

from adapters.slack.app import MESSAGE_SHORTCUT
from bot.context import CLOSE, HEADING, OPEN, ContextLimits
from bot.identity import IdentityOptions
from tests.fixtures.slack import TEAM, FakeSlack
from tests.slack.conftest import CHANNEL, OTHER_USER, USER, Harness, StartBot, mention

CAROL = "U0000003"


def names(slack: FakeSlack) -> None:
    slack.display_names.update({USER: "Ann", OTHER_USER: "Bob", CAROL: "Carol"})


def context_of(sent: str) -> list[str]:
    """The context lines of a turn the agent received (empty when it had none)."""
    if not sent.startswith(OPEN):
        return []
    body = sent[len(OPEN) : sent.index(CLOSE)].strip().splitlines()
    assert body[0] == HEADING
    return body[1:]


async def test_a_mention_mid_thread_brings_the_earlier_messages_in_order_with_names(
    harness: Harness,
) -> None:
    slack = harness.slack
    names(slack)
    root = slack.next_ts()
    slack.say(channel=CHANNEL, thread_ts=root, ts=root, user=USER, text="The deploy failed again")
    slack.say(
        channel=CHANNEL, thread_ts=root, ts=slack.next_ts(), user=OTHER_USER,
        text="Same here, log attached", files=[{"id": "F1", "name": "build.log"}],
    )  # fmt: skip
    slack.say(
        channel=CHANNEL, thread_ts=root, ts=slack.next_ts(), user=CAROL,
        text="<@U0000001> did you roll back?",
    )  # fmt: skip
    await harness.event(mention("what do you think?", ts=slack.next_ts(), thread_ts=root))
    await harness.answers(1, thread_ts=root)

    [session] = harness.meibel.sessions.values()
    [sent] = session.user_messages
    assert context_of(sent) == [
        "[Ann]: The deploy failed again",
        "[Bob] (files: build.log): Same here, log attached",
        "[Carol]: @U0000001 did you roll back?",
    ]
    assert sent.endswith("\n\nwhat do you think?")  # the question comes last
    [answer] = await harness.answers(1, thread_ts=root)
    shown = str(answer["blocks"])  # the agent answered the question, having read the thread
    assert 'You asked: "what do you think?"' in shown
    assert "I read 3 earlier message(s) of the thread" in shown
    assert "deploy failed" not in shown


async def test_a_later_turn_gets_only_what_was_said_since_the_bots_answer(
    harness: Harness,
) -> None:
    slack = harness.slack
    names(slack)
    root = slack.next_ts()
    slack.say(channel=CHANNEL, thread_ts=root, ts=root, user=USER, text="Which region is down?")
    await harness.event(mention("can you check?", ts=slack.next_ts(), thread_ts=root))
    await harness.answers(1, thread_ts=root)
    # people talk among themselves in the bot's thread (a reply naming someone else)
    slack.say(
        channel=CHANNEL, thread_ts=root, ts=slack.next_ts(), user=OTHER_USER,
        text=f"<@{CAROL}> it is eu-west, I checked the dashboard",
    )  # fmt: skip
    await harness.event(mention("so what now?", ts=slack.next_ts(), thread_ts=root))
    await harness.answers(2, thread_ts=root)
    # and a later turn with nothing said in between has no context at all
    await harness.event(mention("thanks, and then?", ts=slack.next_ts(), thread_ts=root))
    await harness.answers(3, thread_ts=root)

    [session] = harness.meibel.sessions.values()
    first, second, third = session.user_messages
    assert context_of(first) == ["[Ann]: Which region is down?"]
    assert context_of(second) == ["[Bob]: @U0000003 it is eu-west, I checked the dashboard"]
    assert second.endswith("so what now?")
    assert third == "thanks, and then?"


async def test_the_context_keeps_within_its_limits_and_0_turns_it_off(
    start_bot: StartBot,
) -> None:
    harness = await start_bot()
    slack = harness.slack
    names(slack)

    def limit(limits: ContextLimits) -> None:
        harness.bot.history.limits = limits
        pipeline = harness.bot.responder.pipeline
        pipeline.config = dataclasses.replace(pipeline.config, context=limits)

    async def ask_after(texts: list[str]) -> str:
        root = slack.next_ts()
        for n, text in enumerate(texts):
            ts = root if n == 0 else slack.next_ts()
            slack.say(channel=CHANNEL, thread_ts=root, ts=ts, user=USER, text=text)
        await harness.event(mention("summarize", ts=slack.next_ts(), thread_ts=root))
        await harness.answers(1, thread_ts=root)
        return list(harness.meibel.sessions.values())[-1].user_messages[0]

    limit(ContextLimits(max_messages=2, max_chars=12_000))
    sent = await ask_after(["one", "two", "three", "four"])
    assert context_of(sent) == ["[Ann]: three", "[Ann]: four"]  # the most recent

    limit(ContextLimits(max_messages=30, max_chars=40))
    sent = await ask_after(["a" * 30, "b" * 20])
    assert context_of(sent) == ["[Ann]: " + "b" * 20]  # the oldest went first
    assert len("\n".join(context_of(sent))) <= 40

    limit(ContextLimits(max_messages=0, max_chars=12_000))
    reads = len(slack.calls_to("conversations.replies"))
    sent = await ask_after(["not read"])
    assert sent == "summarize"
    assert len(slack.calls_to("conversations.replies")) == reads  # not even read


async def test_without_the_history_scope_the_question_is_answered_without_context(
    harness: Harness,
) -> None:
    slack = harness.slack
    slack.fail("conversations.replies", error="missing_scope")
    root = slack.next_ts()
    slack.say(channel=CHANNEL, thread_ts=root, ts=root, user=USER, text="earlier")
    await harness.event(mention("what do you think?", ts=slack.next_ts(), thread_ts=root))
    await harness.answers(1, thread_ts=root)
    [session] = harness.meibel.sessions.values()
    assert session.user_messages == ["what do you think?"]


async def shortcut(harness: Harness, message: dict[str, object], *, user: str) -> int:
    """Use "Ask Meibel about this" on `message` (a signed message_action payload)."""
    payload = {
        "type": "message_action",
        "callback_id": MESSAGE_SHORTCUT,
        "trigger_id": f"trig.{uuid.uuid4().hex}",
        "team": {"id": TEAM, "domain": "test"},
        "user": {"id": user, "team_id": TEAM},
        "channel": {"id": CHANNEL, "name": "general"},
        "message": message,
        "message_ts": message["ts"],
        "response_url": harness.slack.response_url(),
        "is_enterprise_install": False,
    }
    body = urlencode({"payload": json.dumps(payload)}).encode()
    response = await harness.send(body, content_type="application/x-www-form-urlencoded")
    return response.status_code


async def test_ask_meibel_about_this_asks_the_message_with_its_thread_and_answers_there(
    harness: Harness,
) -> None:
    slack = harness.slack
    names(slack)
    root = slack.next_ts()
    slack.say(channel=CHANNEL, thread_ts=root, ts=root, user=USER, text="We plan to drop Redis")
    picked = slack.say(
        channel=CHANNEL, thread_ts=root, ts=slack.next_ts(), user=OTHER_USER,
        text="Is the embedded store enough for a fleet?",
    )  # fmt: skip
    assert await shortcut(harness, picked, user=CAROL) == 200
    [answer] = await harness.answers(1, thread_ts=root)  # in the message's thread
    assert 'You asked: "Is the embedded store enough for a fleet?"' in str(answer["blocks"])
    [session] = harness.meibel.sessions.values()
    [sent] = session.user_messages
    assert context_of(sent) == ["[Ann]: We plan to drop Redis"]
    assert sent.endswith("Is the embedded store enough for a fleet?")


async def test_ask_meibel_about_a_message_without_text_says_so_privately(
    harness: Harness,
) -> None:
    slack = harness.slack
    root = slack.next_ts()
    picked = slack.say(channel=CHANNEL, thread_ts=root, ts=root, user=USER, text="")
    assert await shortcut(harness, picked, user=CAROL) == 200
    [note] = await slack.wait_for("chat.postEphemeral")
    assert note.args["user"] == CAROL and "no text" in note.args["text"]
    await harness.settle()
    assert not harness.meibel.sessions  # the agent was not asked


def share_identity(harness: Harness, *, email: bool = False) -> None:
    options = IdentityOptions(share=True, share_email=email)
    harness.bot.identity.options = options
    pipeline = harness.bot.responder.pipeline
    pipeline.config = dataclasses.replace(pipeline.config, identity=options)


async def test_the_session_starts_knowing_who_asks_and_where_and_later_turns_name_their_asker(
    harness: Harness,
) -> None:
    slack = harness.slack
    names(slack)
    share_identity(harness)
    await harness.bot.learn_bot_user()  # as at start-up: auth.test names the workspace
    root = slack.next_ts()
    await harness.event(mention("what is our SLA?", ts=root))
    await harness.answers(1, thread_ts=root)
    await harness.event(mention("and for EU?", ts=slack.next_ts(), thread_ts=root, user=OTHER_USER))
    await harness.answers(2, thread_ts=root)

    [session] = harness.meibel.sessions.values()
    assert session.request is not None
    assert session.request["initial_context"] == {
        "platform": "slack",
        "workspace": "Test Team",
        "channel": "#general",
        "asker": {"name": "Ann", "time_zone": "Europe/Paris"},  # no email unless opted in
    }
    first, second = session.user_messages
    assert first == "what is our SLA?"  # the session already knows Ann asks
    assert second.startswith(f"{OPEN}\nAsked by Bob.\n{CLOSE}")
    assert second.endswith("\n\nand for EU?")


async def test_email_is_shared_only_when_opted_in_and_nothing_when_identity_is_off(
    start_bot: StartBot,
) -> None:
    harness = await start_bot()
    share_identity(harness, email=True)
    root = harness.slack.next_ts()
    await harness.event(mention("hello", ts=root))
    await harness.answers(1, thread_ts=root)
    [session] = harness.meibel.sessions.values()
    assert session.request is not None
    assert session.request["initial_context"]["asker"]["email"] == "u0000001@example.com"

    harness.meibel.forget_sessions()
    root = harness.slack.next_ts()  # the harness's default: identity sharing off
    harness.bot.identity.options = IdentityOptions()
    pipeline = harness.bot.responder.pipeline
    pipeline.config = dataclasses.replace(pipeline.config, identity=IdentityOptions())
    await harness.event(mention("hello again", ts=root))
    await harness.answers(1, thread_ts=root)
    [session] = harness.meibel.sessions.values()
    assert not (session.request or {}).get("initial_context")
