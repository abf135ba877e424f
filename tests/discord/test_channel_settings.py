"""`/meibel settings`: who may change a channel's settings, and that each change does what
it names (agent, reply mode, visibility, policies, hand-off), with who made it kept."""

from __future__ import annotations

import asyncio
from typing import Any

from adapters.discord import texts
from bot.channel_settings import ChannelSettings, ChannelSettingsBook
from bot.devserver import DevServer
from bot.domain import Tenant
from bot.store.redis import RedisStore
from tests.discord.fakes import payloads as p
from tests.discord.fakes.payloads import Json
from tests.discord.fakes.server import FakeDiscord
from tests.discord.helpers import (
    answer_in,
    custom_ids,
    interaction_replies,
    is_ephemeral,
    private_reply,
    session_with,
    text_of,
    thread_opened_in,
)
from tests.fixtures.discord import RunningBot, StartBot

SET = "meibel:set:"


def settings_command() -> Json:
    return {
        "id": str(p.snowflake()),
        "name": "meibel",
        "type": 1,
        "options": [{"name": "settings", "type": 1, "options": []}],
    }


async def open_panel(fake: FakeDiscord, user: Json, channel_id: int) -> Json:
    """/meibel settings: the private panel as the user sees it."""
    payload = await fake.interact(2, settings_command(), user=user, channel_id=channel_id)
    [reply] = await interaction_replies(fake, payload)
    assert is_ephemeral(reply)
    return fake._public(fake.messages[fake.interactions[payload["token"]].original_id or 0])


async def choose(
    fake: FakeDiscord,
    panel: Json,
    field: str,
    values: list[str],
    *,
    user: Json,
    kind: int = 3,
    resolved: Json | None = None,
) -> str:
    """Pick `values` in the panel's select for `field`; what the panel says afterwards."""
    payload = await fake.select(
        SET + field, values, user=user, message=panel, kind=kind, resolved=resolved
    )
    [reply] = await interaction_replies(fake, payload)
    return text_of(reply)


def options(panel: Json, field: str) -> list[str]:
    [select] = [
        item
        for row in panel["components"]
        for item in row["components"]
        if item.get("custom_id") == SET + field
    ]
    return [o["value"] for o in select.get("options", [])]


def tenant(fake: FakeDiscord) -> Tenant:
    return Tenant("discord", str(fake.world.guild_id))


async def test_a_non_manager_is_refused_and_nothing_is_stored(
    fake_discord: FakeDiscord, start_discord_bot: StartBot, redis_store: RedisStore
) -> None:
    await start_discord_bot()
    w = fake_discord.world
    payload = await fake_discord.interact(
        2, settings_command(), user=w.bob, channel_id=w.general_id
    )
    assert await private_reply(fake_discord, payload) == texts.SETTINGS_NOT_ALLOWED

    # A forged click on a real panel's control (Alice's, a manager's) changes nothing.
    panel = await open_panel(fake_discord, w.alice, w.general_id)
    forged = await fake_discord.select(SET + "visibility", ["private"], user=w.bob, message=panel)
    assert await private_reply(fake_discord, forged) == texts.SETTINGS_NOT_ALLOWED
    book = ChannelSettingsBook(redis_store)  # no cache: what the store holds
    assert await book.get(tenant(fake_discord), str(w.general_id)) == ChannelSettings()
    assert await book.history(tenant(fake_discord)) == []


async def test_the_agent_chosen_starts_the_next_new_thread(
    fake_discord: FakeDiscord,
    start_discord_bot: StartBot,
    meibel_server: DevServer,
    redis_store: RedisStore,
) -> None:
    await start_discord_bot()
    w = fake_discord.world
    panel = await open_panel(fake_discord, w.alice, w.general_id)
    assert options(panel, "agent")[:3] == ["default", "name:helpdesk", "name:research"]
    said = await choose(fake_discord, panel, "agent", ["name:helpdesk"], user=w.alice)
    assert "Changed: agent: default -> name:helpdesk" in said

    await fake_discord.say("Where is the VPN guide?", user=w.bob, channel_id=w.general_id,
                           mention_bot=True)  # fmt: skip
    thread_id, _ = await thread_opened_in(fake_discord, w.general_id)
    await answer_in(fake_discord, thread_id)
    assert session_with(meibel_server, "Where is the VPN guide?").agent.name == "helpdesk"

    [change] = await ChannelSettingsBook(redis_store).history(tenant(fake_discord))
    assert (change.channel, change.by, change.by_name) == (
        str(w.general_id),
        str(w.alice_id),
        "Alice",
    )
    assert change.changes == ("agent: default -> name:helpdesk",)


async def test_questions_mode_answers_questions_without_a_mention_in_that_channel_only(
    fake_discord: FakeDiscord, start_discord_bot: StartBot, meibel_server: DevServer
) -> None:
    bot = await start_discord_bot()
    w = fake_discord.world
    panel = await open_panel(fake_discord, w.alice, w.general_id)
    said = await choose(fake_discord, panel, "reply", ["questions"], user=w.alice)
    assert "reply mode: default -> questions" in said

    chatter = await fake_discord.say("good morning everyone", user=w.bob, channel_id=w.general_id)
    asked = await fake_discord.say("How do I reset my password?", user=w.bob,
                                   channel_id=w.general_id)  # fmt: skip
    thread_id, name = await thread_opened_in(fake_discord, w.general_id)
    assert (thread_id, name) == (int(asked["id"]), "How do I reset my password?")
    assert "Answer 1: How do I reset my password" in text_of(
        await answer_in(fake_discord, thread_id)
    )
    # One channel at a time, in order: the chatter before it was looked at and let be.
    assert int(chatter["id"]) not in fake_discord.channels
    assert not any("good morning" in m for s in meibel_server.sessions.values()
                   for m in s.user_messages)  # fmt: skip

    # Another channel keeps the default: a question there waits for a mention.
    elsewhere = await fake_discord.say("How do I book a room?", user=w.bob,
                                       channel_id=w.offtopic_id)  # fmt: skip
    await fake_discord.say("What is the wifi password?", user=w.bob, channel_id=w.offtopic_id,
                           mention_bot=True)  # fmt: skip
    other, _ = await thread_opened_in(fake_discord, w.offtopic_id)
    await answer_in(fake_discord, other)
    assert int(elsewhere["id"]) not in fake_discord.channels
    assert len(meibel_server.sessions) == 2
    assert (await bot.pipeline.places.get(tenant(fake_discord), str(w.offtopic_id))) == (
        ChannelSettings()
    )


async def test_a_private_channel_answers_ask_privately_and_share_posts_it_once(
    fake_discord: FakeDiscord, start_discord_bot: StartBot, meibel_server: DevServer
) -> None:
    await start_discord_bot()
    w = fake_discord.world
    panel = await open_panel(fake_discord, w.alice, w.general_id)
    assert "visibility: default -> private" in await choose(
        fake_discord, panel, "visibility", ["private"], user=w.alice
    )

    payload = await fake_discord.slash(
        "ask", user=w.bob, channel_id=w.general_id, options={"question": "What is my salary?"}
    )
    [answer] = await interaction_replies(fake_discord, payload)
    [deferral] = fake_discord.recorder.find(
        "POST", rf"/interactions/\d+/{payload['token']}/callback"
    )
    assert deferral.json["type"] == 5 and int(deferral.json["data"]["flags"]) & p.EPHEMERAL
    assert is_ephemeral(answer)
    assert "Answer 1: What is my salary" in text_of(answer)
    message = fake_discord._public(
        fake_discord.messages[fake_discord.interactions[payload["token"]].original_id or 0]
    )
    [share] = custom_ids(message, "meibel:share:")
    assert not fake_discord.recorder.find("POST", r"/channels/\d+/messages/\d+/threads")
    assert not [m for m in fake_discord.posted(w.general_id) if not m["flags"] & p.EPHEMERAL
                and "salary" in str(m)]  # fmt: skip

    clicked = await fake_discord.click(share, user=w.bob, message=message)
    update, shared_header, shared = await interaction_replies(fake_discord, clicked, count=3)
    assert update.json["type"] == 7 and not custom_ids(update.json["data"], "meibel:share:")
    assert text_of(shared_header) == f"<@{w.bob_id}> shared an answer they got privately:"
    assert "Answer 1: What is my salary" in text_of(shared) and not is_ephemeral(shared)

    again = await fake_discord.click(share, user=w.bob, message=message)
    assert await private_reply(fake_discord, again) == texts.ALREADY_SHARED
    public = [
        m
        for m in fake_discord.posted(w.general_id)
        if "Answer 1: What is my salary" in m["content"] and not m["flags"] & p.EPHEMERAL
    ]
    assert len(public) == 1

    # A mention has no private reply on Discord: it is told how to ask.
    await fake_discord.say("What is my bonus?", user=w.bob, channel_id=w.general_id,
                           mention_bot=True)  # fmt: skip
    [note] = await fake_discord.recorder.wait_for(lambda c: texts.PRIVATE_CHANNEL in text_of(c))
    assert note.matches("POST", rf"/channels/{w.general_id}/messages")
    assert not any("bonus" in m for s in meibel_server.sessions.values() for m in s.user_messages)


async def submit_policies(fake: FakeDiscord, bot: RunningBot, panel: Json, value: str) -> str:
    """The policies button, its form filled in and submitted; what the panel says then."""
    payload = await fake.click(SET + "policies", user=fake.world.alice, message=panel)
    [opened] = await fake.recorder.wait_for(
        lambda c: payload["token"] in c.path and (c.json or {}).get("type") == 9
    )
    modal = opened.json["data"]
    # The bot routes the submission once Discord has its response (see test_clicks).
    async with asyncio.timeout(10):  # polled: nothing else signals it
        while True:
            if modal["custom_id"] in bot.client._connection._view_store._modals:
                break
            await asyncio.sleep(0.01)
    [[box]] = [row["components"] for row in modal["components"]]
    submitted = await fake.interact(
        5,
        {"custom_id": modal["custom_id"], "components": [
            {"type": 1, "components": [{"type": 4, "custom_id": box["custom_id"], "value": value}]}
        ]},
        user=fake.world.alice,
        channel_id=int(panel["channel_id"]),
        message_data=panel,
    )  # fmt: skip
    [reply] = await interaction_replies(fake, submitted)
    return text_of(reply)


async def test_policies_set_in_the_form_go_with_the_next_session(
    fake_discord: FakeDiscord, start_discord_bot: StartBot, meibel_server: DevServer
) -> None:
    bot = await start_discord_bot()
    w = fake_discord.world
    panel = await open_panel(fake_discord, w.alice, w.general_id)
    said = await submit_policies(fake_discord, bot, panel, "pol_a + pol_b")
    assert "policies: default -> pol_a + pol_b" in said
    assert "can't be kept" in await submit_policies(fake_discord, bot, panel, "pol a")

    await fake_discord.slash(
        "ask", user=w.bob, channel_id=w.general_id, options={"question": "Can I expense lunch?"}
    )
    thread_id, _ = await thread_opened_in(fake_discord, w.general_id)
    await answer_in(fake_discord, thread_id)
    request: Any = session_with(meibel_server, "Can I expense lunch?").request
    assert request["execution_policy_ids"] == ["pol_a", "pol_b"]
    [change] = await bot.pipeline.places.history(tenant(fake_discord), channel=str(w.general_id))
    assert change.by_name == "Alice"


async def test_hand_off_pings_exactly_the_role_and_mark_resolved_swaps_the_reaction(
    fake_discord: FakeDiscord, start_discord_bot: StartBot
) -> None:
    bot = await start_discord_bot()
    w = fake_discord.world
    fake_discord.expect_pings(roles=[w.member_role_id])
    panel = await open_panel(fake_discord, w.alice, w.general_id)
    role = p.role(w.member_role_id, "members", position=1)
    said = await choose(
        fake_discord,
        panel,
        "handoff",
        [str(w.member_role_id)],
        user=w.alice,
        kind=7,
        resolved={"roles": {str(w.member_role_id): role}},
    )
    assert f"hand-off: nobody -> role:{w.member_role_id}" in said

    asked = await fake_discord.say("Why was my refund refused?", user=w.bob,
                                   channel_id=w.general_id, mention_bot=True)  # fmt: skip
    thread_id, _ = await thread_opened_in(fake_discord, w.general_id)
    answer = (await answer_in(fake_discord, thread_id)).message_payload or {}
    help_id = f"meibel:help:{w.general_id}:{asked['id']}"
    assert custom_ids(answer, "meibel:help:") == [help_id]
    [message] = [m for m in fake_discord.posted(thread_id) if help_id in str(m["components"])]

    clicked = await fake_discord.click(help_id, user=w.bob, message=message)
    [call] = await interaction_replies(fake_discord, clicked)
    sent = call.message_payload or {}
    assert text_of(call).startswith(f"🙋 <@&{w.member_role_id}>: <@{w.bob_id}> would like")
    mentions = sent["allowed_mentions"]
    assert (
        mentions["parse"] == [] and not mentions.get("users") and not mentions.get("replied_user")
    )
    assert [int(r) for r in mentions["roles"]] == [w.member_role_id]
    await fake_discord.recorder.until(
        lambda: fake_discord.reactions.get((w.general_id, int(asked["id"]))) == {"🙋"}
    )
    [resolve] = custom_ids(sent, "meibel:solved:")

    called = fake_discord.messages[fake_discord.interactions[clicked["token"]].original_id or 0]
    done = await fake_discord.click(resolve, user=w.alice, message=fake_discord._public(called))
    [edit] = await interaction_replies(fake_discord, done)
    assert edit.json["type"] == 7 and text_of(edit) == f"✅ Resolved by <@{w.alice_id}>."
    await fake_discord.recorder.until(
        lambda: fake_discord.reactions.get((w.general_id, int(asked["id"]))) == {"✅"}
    )
    changes = await bot.pipeline.places.history(tenant(fake_discord))
    assert [(c.by, c.by_name) for c in changes] == [(str(w.alice_id), "Alice")]
