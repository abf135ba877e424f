"""Per-channel settings on Slack: `/meibel settings` for managers only, and each setting
changes what it names (agent, reply mode, visibility, policies, hand-off), logged with who."""

from __future__ import annotations

import dataclasses
from typing import Any

from slack_sdk.models.views import View

from adapters.slack import texts
from adapters.slack.channel_settings import NOT_A_MANAGER
from adapters.slack.handoff import RESOLVED_ACTION
from adapters.slack.render import HANDOFF_ACTION
from adapters.slack.share import SHARE_ACTION
from bot.channel_settings import ChannelSettings
from bot.domain import Tenant
from tests.fixtures.slack import TEAM
from tests.slack.conftest import (
    CHANNEL,
    OTHER_USER,
    USER,
    Harness,
    StartBot,
    mention,
    message_event,
)
from tests.slack.test_home import home_opened, published_for
from tests.slack.test_policies import RULES, use

ADMIN = "U0000ADM"
HELPER = "U0000HLP"
OTHER_CHANNEL = "C0000099"
TENANT = Tenant("slack", TEAM)


def choice(value: str) -> dict[str, Any]:
    return {"selected_option": {"value": value}}


def values(**fields: dict[str, Any]) -> dict[str, Any]:
    return {block: {block: state} for block, state in fields.items()}


def elements(message: dict[str, Any] | list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    blocks = message if isinstance(message, list) else message["blocks"]
    return {e["action_id"]: e for b in blocks if b["type"] == "actions" for e in b["elements"]}


async def open_settings(harness: Harness, user: str = ADMIN) -> dict[str, Any]:
    opened = len(harness.slack.calls_to("views.open"))
    response, _ = await harness.command("settings", name="/meibel", user=user)
    assert response.status_code == 200
    calls = await harness.slack.wait_for("views.open", count=opened + 1)
    view: dict[str, Any] = calls[-1].args["view"]
    View(**view).validate_json()  # a modal Slack accepts
    return view


async def set_settings(harness: Harness, **fields: dict[str, Any]) -> None:
    view = await open_settings(harness)
    assert await harness.submit(view, values(**fields), user=ADMIN) is None
    await harness.settle()


async def test_people_who_do_not_manage_the_workspace_are_refused(harness: Harness) -> None:
    harness.slack.admins.add(ADMIN)
    response, _ = await harness.command("settings", name="/meibel", user=USER)
    assert NOT_A_MANAGER in response.text
    assert not harness.slack.calls_to("views.open")

    # a submission forged or kept from before is refused too, and keeps nothing
    view = await open_settings(harness)
    reply = await harness.submit(view, values(visibility=choice("private")), user=USER)
    assert reply == {"response_action": "errors", "errors": {"agent": NOT_A_MANAGER}}
    assert await harness.bot.places.get(TENANT, CHANNEL) == ChannelSettings()


async def test_slack_admin_users_may_change_settings(start_bot: StartBot) -> None:
    harness = await start_bot(slack_admin_users=f"U0000XYZ, {USER}")
    response, _ = await harness.command("settings", name="/meibel", user=USER)
    assert response.status_code == 200 and NOT_A_MANAGER not in response.text
    await harness.slack.wait_for("views.open")


async def test_the_agent_and_policies_chosen_start_new_threads_and_the_change_is_logged(
    harness: Harness,
) -> None:
    harness.slack.admins.add(ADMIN)
    harness.slack.display_names[ADMIN] = "Ada"
    view = await open_settings(harness)
    agents = next(b for b in view["blocks"] if b.get("block_id") == "agent")
    offered = [o["value"] for o in agents["element"]["options"]]
    assert "name:research" in offered and "name:helpdesk" in offered  # from GET /agents
    await set_settings(
        harness,
        agent=choice("name:research"),
        policies={"value": "pol_hr + pol_kb"},
    )

    root = harness.slack.next_ts()
    await harness.event(mention("payroll dates?", ts=root))
    await harness.answers(1, thread_ts=root)
    [session] = harness.meibel.sessions.values()
    assert session.agent.name == "research"
    assert (session.request or {}).get("execution_policy_ids") == ["pol_hr", "pol_kb"]

    other = harness.slack.next_ts()
    await harness.event(mention("payroll dates?", ts=other, channel=OTHER_CHANNEL))
    await harness.answers(1, thread_ts=other)
    assert sorted(s.agent.name for s in harness.meibel.sessions.values()) == [
        "dev-agent",
        "research",
    ]

    [change] = await harness.bot.places.history(TENANT)
    assert (change.channel, change.by, change.by_name) == (CHANNEL, ADMIN, "Ada")
    assert "agent: default -> name:research" in change.changes
    [told] = await harness.slack.wait_for("chat.postEphemeral")
    assert told.args["user"] == ADMIN and "name:research" in told.args["text"]
    shown = await open_settings(harness)  # the modal shows what is set, and the change
    assert "Ada" in str(shown["blocks"][-1])


async def test_a_bad_value_is_named_beside_its_field_and_nothing_changes(
    harness: Harness,
) -> None:
    harness.slack.admins.add(ADMIN)
    view = await open_settings(harness)
    reply = await harness.submit(view, values(policies={"value": "pol a"}), user=ADMIN)
    assert reply["response_action"] == "errors" and "policies" in reply["errors"]
    assert await harness.bot.places.get(TENANT, CHANNEL) == ChannelSettings()


async def test_questions_mode_answers_questions_without_a_mention_in_that_channel_only(
    harness: Harness,
) -> None:
    harness.slack.admins.add(ADMIN)
    chatter, question, elsewhere = (harness.slack.next_ts() for _ in range(3))
    await harness.event(message_event("how do refunds work?", ts=question))
    await harness.settle()
    assert not harness.slack.messages()  # mention-only by default

    await set_settings(harness, reply_mode=choice("questions"))
    await harness.event(message_event("shipping the release now.", ts=chatter))
    await harness.event(message_event("how do refunds work?", ts=question, client_msg_id="x"))
    await harness.event(message_event("how do refunds work?", ts=elsewhere, channel=OTHER_CHANNEL))
    await harness.answers(1, thread_ts=question)
    await harness.settle()
    assert {m["thread_ts"] for m in harness.slack.messages()} == {question}


async def test_private_answers_show_only_to_the_asker_until_shared_once(
    harness: Harness,
) -> None:
    harness.slack.admins.add(ADMIN)
    await set_settings(harness, visibility=choice("private"))
    root = harness.slack.next_ts()
    await harness.event(mention("How do refunds work?", ts=root))
    await harness.settle()
    assert not harness.slack.messages()  # nothing for everyone
    private = [c for c in harness.slack.calls_to("chat.postEphemeral") if c.args["user"] == USER]
    assert private and all(c.args["thread_ts"] == root for c in private)
    assert "refunds" in str(private[0].args["blocks"])
    share = elements(private[-1].args["blocks"])[SHARE_ACTION]

    message = {"ts": harness.slack.next_ts(), "thread_ts": root}
    await harness.click(action_id=SHARE_ACTION, value=share["value"], message=message,
                        user=OTHER_USER, ephemeral=True)  # fmt: skip
    await harness.settle()
    assert not harness.slack.messages()  # only the asker may share it

    for _ in range(2):  # a double click shares once
        await harness.click(action_id=SHARE_ACTION, value=share["value"], message=message,
                            user=USER, ephemeral=True)  # fmt: skip
    await harness.settle()
    [shared] = harness.slack.posts()
    assert shared.args["thread_ts"] == root
    assert f"Shared by <@{USER}>" in str(shared.args["blocks"])
    assert "refunds" in str(shared.args["blocks"])
    removed = harness.slack.calls_to("response_url")
    assert removed and removed[-1].args.get("delete_original") is True


async def test_i_need_a_person_tags_the_channels_helpers_and_can_be_resolved(
    harness: Harness,
) -> None:
    harness.slack.admins.add(ADMIN)
    harness.slack.usergroups = [{"id": "S0000HLP", "handle": "support"}]
    root = harness.slack.next_ts()
    await harness.event(mention("How do refunds work?", ts=root))
    [before] = await harness.answers(1, thread_ts=root)
    assert HANDOFF_ACTION not in elements(before)  # no one named: no button

    await set_settings(
        harness,
        handoff_people={"selected_users": [HELPER]},
        handoff_groups={"selected_options": [{"value": "group:S0000HLP"}]},
    )
    later = harness.slack.next_ts()
    await harness.event(mention("And for gift cards?", ts=later, thread_ts=root))
    answer = (await harness.answers(2, thread_ts=root))[-1]
    button = elements(answer)[HANDOFF_ACTION]
    await harness.click(action_id=HANDOFF_ACTION, value=button["value"], message=answer)
    await harness.click(action_id=HANDOFF_ACTION, value=button["value"], message=answer)
    await harness.settle()
    tagged = [p for p in harness.slack.posts() if "needs a person" in p.args["text"]]
    assert len(tagged) == 1  # a second click tags no one again
    assert (
        tagged[0].args["text"]
        == f"<@{HELPER}> <!subteam^S0000HLP>: <@{OTHER_USER}> needs a person here."
    )
    reaction = harness.slack.calls_to("reactions.add")[-1].args
    assert (reaction["name"], reaction["timestamp"]) == ("raising_hand", later)

    [request] = [m for m in harness.slack.messages(root) if "needs a person" in m["text"]]
    resolved = elements(request)[RESOLVED_ACTION]
    await harness.click(
        action_id=RESOLVED_ACTION, value=resolved["value"], message=request, user=HELPER
    )
    await harness.settle()
    assert harness.slack.message(request["ts"]).view()["text"] == f"✅ Resolved by <@{HELPER}>."
    removed = harness.slack.calls_to("reactions.remove")[-1].args
    assert (removed["name"], removed["timestamp"]) == ("raising_hand", later)
    assert harness.slack.calls_to("reactions.add")[-1].args["name"] == "white_check_mark"


async def test_a_guest_account_gets_the_external_policies_or_is_refused(
    harness: Harness,
) -> None:
    harness.slack.guests.add(OTHER_USER)
    use(harness, RULES)
    root = harness.slack.next_ts()
    await harness.event(mention("payroll dates?", ts=root, user=OTHER_USER))
    await harness.answers(1, thread_ts=root)
    [session] = harness.meibel.sessions.values()
    assert (session.request or {}).get("execution_policy_ids") == ["pol_public"]

    use(harness, dataclasses.replace(RULES, refuse_external=True))
    other = harness.slack.next_ts()
    await harness.event(mention("payroll dates?", ts=other, user=OTHER_USER))
    await harness.settle()
    [note] = harness.slack.calls_to("chat.postEphemeral")
    assert note.args["text"] == texts.EXTERNAL_REFUSED and note.args["user"] == OTHER_USER
    assert len(harness.meibel.sessions) == 1  # the agent was not asked again


async def test_the_home_tab_shows_a_manager_the_channels_with_their_own_settings(
    harness: Harness,
) -> None:
    harness.slack.admins.add(ADMIN)
    await set_settings(harness, visibility=choice("private"))
    await harness.event(home_opened(ADMIN))
    managed = str((await published_for(harness, ADMIN, 1))["blocks"])
    assert "Channels you manage" in managed
    assert f"<#{CHANNEL}>" in managed and "visibility: private" in managed

    await harness.event(home_opened(USER))
    member = str((await published_for(harness, USER, 2))["blocks"])
    assert "Channels you manage" not in member and f"<#{CHANNEL}>" not in member


async def test_a_private_ask_answer_shared_starts_a_thread_that_keeps_the_conversation(
    harness: Harness,
) -> None:
    harness.slack.admins.add(ADMIN)
    await set_settings(harness, visibility=choice("private"))
    response, _ = await harness.command("How do refunds work?")
    assert response.status_code == 200
    await harness.settle()
    assert not harness.slack.messages()  # no public "asked" line
    private = [c for c in harness.slack.calls_to("chat.postEphemeral") if c.args["user"] == USER]
    assert private and private[0].args.get("thread_ts") is None
    share = elements(private[-1].args["blocks"])[SHARE_ACTION]

    await harness.click(action_id=SHARE_ACTION, value=share["value"], user=USER,
                        message={"ts": harness.slack.next_ts()}, ephemeral=True)  # fmt: skip
    await harness.settle()
    asked, answer = harness.slack.messages()
    assert f"<@{USER}>" in asked["text"] and "refunds" in asked["text"]
    assert answer["thread_ts"] == asked["ts"] and "refunds" in str(answer["blocks"])

    # talking on in that thread continues the same session
    await harness.event(mention("and gift cards?", ts=harness.slack.next_ts(),
                                thread_ts=asked["ts"]))  # fmt: skip
    await harness.settle()
    [session] = harness.meibel.sessions.values()
    assert len(session.user_messages) == 2
