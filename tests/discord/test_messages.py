"""Mentions, replies in the bot's threads, DMs, and what the bot must not answer."""

from __future__ import annotations

import logging

import pytest

from bot.devserver import DevServer
from tests.discord.fakes.gateway import MESSAGE_CONTENT
from tests.discord.fakes.server import FakeDiscord
from tests.discord.helpers import answer_in, session_with, thread_opened_in
from tests.fixtures.discord import StartBot

QUESTION = "Which plan includes SSO?"


async def mention_in_general(fake: FakeDiscord, text: str = QUESTION) -> tuple[int, dict]:  # type: ignore[type-arg]
    w = fake.world
    said = await fake.say(text, user=w.alice, channel_id=w.general_id, mention_bot=True)
    thread_id, _ = await thread_opened_in(fake, w.general_id)
    assert thread_id == int(said["id"])  # the thread starts from the user's own message
    return thread_id, (await answer_in(fake, thread_id)).json


async def test_a_mention_in_a_channel_is_answered_in_a_thread_from_that_message(
    fake_discord: FakeDiscord, start_discord_bot: StartBot, meibel_server: DevServer
) -> None:
    await start_discord_bot()
    thread_id, answer = await mention_in_general(fake_discord)
    [thread] = fake_discord.recorder.find("POST", rf"/channels/\d+/messages/{thread_id}/threads")
    assert thread.json["name"] == QUESTION  # without the mention
    assert "Answer 1: Which plan includes SSO" in answer["content"]
    # The mention is not part of the question.
    assert session_with(meibel_server, QUESTION).user_messages == [QUESTION]


async def test_a_reply_in_the_bots_thread_without_a_mention_continues_the_session(
    fake_discord: FakeDiscord, start_discord_bot: StartBot, meibel_server: DevServer
) -> None:
    await start_discord_bot()
    w = fake_discord.world
    thread_id, _ = await mention_in_general(fake_discord)

    follow = "Does it also include SCIM?"
    said = await fake_discord.say(follow, user=w.bob, channel_id=thread_id)
    answer = await answer_in(fake_discord, thread_id, nth=2)
    assert "Answer 2:" in answer.json["content"]
    # It replies to the message it answers, without pinging its author.
    assert int(answer.json["message_reference"]["message_id"]) == int(said["id"])
    assert answer.json["allowed_mentions"] == {"parse": [], "replied_user": False}
    assert session_with(meibel_server, QUESTION).user_messages == [QUESTION, follow]


async def test_a_mention_inside_any_thread_continues_that_threads_session(
    fake_discord: FakeDiscord, start_discord_bot: StartBot, meibel_server: DevServer
) -> None:
    await start_discord_bot(discord_reply_without_mention=False)
    w = fake_discord.world
    thread_id, _ = await mention_in_general(fake_discord)
    follow = "And for 50 seats?"
    await fake_discord.say(follow, user=w.alice, channel_id=thread_id, mention_bot=True)
    await answer_in(fake_discord, thread_id, nth=2)
    assert session_with(meibel_server, QUESTION).user_messages == [QUESTION, follow]


async def test_bots_plain_messages_and_its_own_answers_are_never_answered(
    fake_discord: FakeDiscord, start_discord_bot: StartBot, meibel_server: DevServer
) -> None:
    await start_discord_bot()
    w = fake_discord.world
    # The fake echoes every answer back over the gateway, as Discord does: a bot that
    # answered itself would loop in its own thread.
    thread_id, _ = await mention_in_general(fake_discord)
    await fake_discord.say("ping from a bot", user=w.other_bot, channel_id=thread_id)
    await fake_discord.say(
        "bot mention", user=w.other_bot, channel_id=w.general_id, mention_bot=True
    )
    await fake_discord.say("just chatting, no mention", user=w.bob, channel_id=w.general_id)
    # Events are handled in order of arrival: once this one is answered, the ones
    # before it have been seen (and ignored).
    last = "Last question, with a mention"
    await fake_discord.say(last, user=w.alice, channel_id=thread_id, mention_bot=True)
    await answer_in(fake_discord, thread_id, nth=2)

    asked = [m for s in meibel_server.sessions.values() for m in s.user_messages]
    assert asked == [QUESTION, last]
    assert len(fake_discord.recorder.find("POST", r"/channels/\d+/messages/\d+/threads")) == 1


async def test_dms_are_answered_with_one_session_per_dm_channel(
    fake_discord: FakeDiscord, start_discord_bot: StartBot, meibel_server: DevServer
) -> None:
    await start_discord_bot()
    w = fake_discord.world
    dm_id = int(fake_discord.dm_with(w.alice_id)["id"])
    await fake_discord.say("Hello from a DM", user=w.alice, channel_id=dm_id)
    await answer_in(fake_discord, dm_id)
    await fake_discord.say("Second DM message", user=w.alice, channel_id=dm_id)
    second = await answer_in(fake_discord, dm_id, nth=2)
    assert "Answer 2:" in second.json["content"]
    assert fake_discord.recorder.find("POST", rf"/channels/{dm_id}/typing")
    assert session_with(meibel_server, "Hello from a DM").user_messages == [
        "Hello from a DM",
        "Second DM message",
    ]


async def test_without_the_message_content_intent_it_says_so_and_answers_mentions_only(
    fake_discord: FakeDiscord,
    start_discord_bot: StartBot,
    meibel_server: DevServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake_discord.gateway.refuse_privileged = True
    caplog.set_level(logging.WARNING, logger="adapters.discord")
    bot = await start_discord_bot()
    first, second = fake_discord.gateway.identifies
    assert first["intents"] & MESSAGE_CONTENT and not second["intents"] & MESSAGE_CONTENT
    assert not bot.client.intents.message_content
    assert any("Message Content intent" in r.getMessage() for r in caplog.records)

    w = fake_discord.world
    thread_id, _ = await mention_in_general(fake_discord)
    await fake_discord.say("no mention: not for the bot now", user=w.alice, channel_id=thread_id)
    last = "With a mention it still works"
    await fake_discord.say(last, user=w.alice, channel_id=thread_id, mention_bot=True)
    await answer_in(fake_discord, thread_id, nth=2)
    assert session_with(meibel_server, QUESTION).user_messages == [QUESTION, last]


async def test_a_message_delivered_twice_is_answered_once(
    fake_discord: FakeDiscord, start_discord_bot: StartBot, meibel_server: DevServer
) -> None:
    await start_discord_bot()
    w = fake_discord.world
    said = await fake_discord.say(QUESTION, user=w.alice, channel_id=w.general_id, mention_bot=True)
    # Discord may deliver an event again, e.g. after a resumed gateway session.
    await fake_discord.gateway.dispatch("MESSAGE_CREATE", said, guild_id=w.guild_id)
    thread_id, _ = await thread_opened_in(fake_discord, w.general_id)
    await answer_in(fake_discord, thread_id)
    last = "And a second, different question"
    await fake_discord.say(last, user=w.alice, channel_id=thread_id)
    await answer_in(fake_discord, thread_id, nth=2)

    assert session_with(meibel_server, QUESTION).user_messages == [QUESTION, last]
    assert len(fake_discord.recorder.find("POST", r"/channels/\d+/messages/\d+/threads")) == 1


async def test_after_a_restart_a_reply_in_a_thread_not_in_the_cache_is_still_answered(
    fake_discord: FakeDiscord, start_discord_bot: StartBot, meibel_server: DevServer
) -> None:
    first = await start_discord_bot()
    w = fake_discord.world
    thread_id, _ = await mention_in_general(fake_discord)
    await first.stop()
    fake_discord.forget_threads()  # the new connection does not announce the thread
    second = await start_discord_bot()
    assert second.client.get_channel(thread_id) is None

    follow = "Still there after the restart?"
    await fake_discord.say(follow, user=w.alice, channel_id=thread_id)
    await answer_in(fake_discord, thread_id, nth=2)
    assert session_with(meibel_server, QUESTION).user_messages == [QUESTION, follow]
    # The store knew the thread and its parent: no need to ask Discord.
    assert not fake_discord.recorder.find("GET", rf"/channels/{thread_id}")
