"""Allow-lists: private refusals, and never an answer where the bot is not allowed."""

from __future__ import annotations

from adapters.discord import texts
from bot.devserver import DevServer
from tests.discord.fakes.server import FakeDiscord
from tests.discord.helpers import (
    answer_in,
    buttons,
    private_reply,
    session_with,
    text_of,
    thread_opened_in,
)
from tests.fixtures.discord import StartBot


async def start_restricted(fake: FakeDiscord, start: StartBot) -> None:
    """Only #general, and only members with the "members" role (Alice, not Bob)."""
    w = fake.world
    await start(
        discord_allowed_channel_ids=[w.general_id],
        discord_allowed_role_ids=[w.member_role_id],
    )


def nothing_public_was_posted(fake: FakeDiscord) -> bool:
    return not any(
        c.matches("POST", r"/channels/\d+/messages(/\d+/threads)?")
        and int(c.path.split("/")[2]) in (fake.world.general_id, fake.world.offtopic_id)
        for c in fake.recorder.calls
    )


async def test_ask_outside_the_allowed_channels_is_refused_privately(
    fake_discord: FakeDiscord, start_discord_bot: StartBot, meibel_server: DevServer
) -> None:
    await start_restricted(fake_discord, start_discord_bot)
    w = fake_discord.world
    payload = await fake_discord.slash(
        "ask", user=w.alice, channel_id=w.offtopic_id, options={"question": "Hello?"}
    )
    assert await private_reply(fake_discord, payload) == texts.CHANNEL_NOT_ALLOWED
    assert not meibel_server.chat_requests() and nothing_public_was_posted(fake_discord)


async def test_ask_without_an_allowed_role_is_refused_privately(
    fake_discord: FakeDiscord, start_discord_bot: StartBot, meibel_server: DevServer
) -> None:
    await start_restricted(fake_discord, start_discord_bot)
    w = fake_discord.world
    payload = await fake_discord.slash(
        "ask", user=w.bob, channel_id=w.general_id, options={"question": "Hello?"}
    )
    assert await private_reply(fake_discord, payload) == texts.ROLE_NOT_ALLOWED
    assert not meibel_server.chat_requests() and nothing_public_was_posted(fake_discord)


async def test_threads_of_an_allowed_channel_keep_working(
    fake_discord: FakeDiscord, start_discord_bot: StartBot, meibel_server: DevServer
) -> None:
    await start_restricted(fake_discord, start_discord_bot)
    w = fake_discord.world
    await fake_discord.slash(
        "ask", user=w.alice, channel_id=w.general_id, options={"question": "First?"}
    )
    thread_id, _ = await thread_opened_in(fake_discord, w.general_id)
    await answer_in(fake_discord, thread_id)
    # The thread is not on the list itself; it counts as #general.
    await fake_discord.say("Second?", user=w.alice, channel_id=thread_id)
    await answer_in(fake_discord, thread_id, nth=2)
    assert session_with(meibel_server, "First?").user_messages == ["First?", "Second?"]


async def test_a_click_by_someone_without_an_allowed_role_is_refused_privately(
    fake_discord: FakeDiscord, start_discord_bot: StartBot, meibel_server: DevServer
) -> None:
    await start_restricted(fake_discord, start_discord_bot)
    w = fake_discord.world
    await fake_discord.slash(
        "ask", user=w.alice, channel_id=w.general_id, options={"question": "First?"}
    )
    thread_id, _ = await thread_opened_in(fake_discord, w.general_id)
    await answer_in(fake_discord, thread_id)
    [message] = [m for m in fake_discord.posted(thread_id) if m["components"]]
    custom_id = next(b["custom_id"] for b in buttons(message) if "custom_id" in b)

    payload = await fake_discord.click(custom_id, user=w.bob, message=message)
    assert await private_reply(fake_discord, payload) == texts.ROLE_NOT_ALLOWED
    assert session_with(meibel_server, "First?").user_messages == ["First?"]


async def test_a_mention_where_not_allowed_gets_no_answer_there_but_a_private_note(
    fake_discord: FakeDiscord, start_discord_bot: StartBot, meibel_server: DevServer
) -> None:
    await start_restricted(fake_discord, start_discord_bot)
    w = fake_discord.world
    dm_id = int(fake_discord.dm_with(w.alice_id)["id"])
    await fake_discord.say("Hi?", user=w.alice, channel_id=w.offtopic_id, mention_bot=True)
    [note] = await fake_discord.recorder.wait_for(
        lambda c: c.matches("POST", rf"/channels/{dm_id}/messages")
    )
    assert text_of(note) == texts.CHANNEL_NOT_ALLOWED
    assert not meibel_server.chat_requests() and nothing_public_was_posted(fake_discord)


async def test_dms_are_refused_while_an_allow_list_is_set(
    fake_discord: FakeDiscord, start_discord_bot: StartBot, meibel_server: DevServer
) -> None:
    await start_restricted(fake_discord, start_discord_bot)
    w = fake_discord.world
    dm_id = int(fake_discord.dm_with(w.alice_id)["id"])
    payload = await fake_discord.slash(
        "ask", user=w.alice, channel_id=dm_id, options={"question": "In private?"}
    )
    assert await private_reply(fake_discord, payload) == texts.DM_NOT_ALLOWED
    await fake_discord.say("In private?", user=w.alice, channel_id=dm_id)
    [note] = await fake_discord.recorder.wait_for(
        lambda c: c.matches("POST", rf"/channels/{dm_id}/messages")
    )
    assert text_of(note) == texts.DM_NOT_ALLOWED
    assert not meibel_server.chat_requests()
