"""Thread context on Discord: a mention in a people's thread brings what was said there.

The fake Discord serves a channel's history (GET /channels/{id}/messages, newest first);
the dev Meibel server records what the agent received.
"""

from __future__ import annotations

import asyncio

from bot.context import CLOSE, HEADING, OPEN, ContextLimits
from bot.devserver import DevServer
from bot.identity import IdentityOptions
from tests.discord.fakes import payloads as p
from tests.discord.fakes.server import FakeDiscord
from tests.discord.helpers import answer_in
from tests.fixtures.discord import StartBot


def context_of(sent: str) -> list[str]:
    if not sent.startswith(OPEN):
        return []
    body = sent[len(OPEN) : sent.index(CLOSE)].strip().splitlines()
    assert body[0] == HEADING
    return body[1:]


async def peoples_thread(fake: FakeDiscord) -> int:
    w = fake.world
    general = fake.channels[w.general_id]
    thread = await fake.open_thread(
        general, thread_id=p.snowflake(), name="deploys", owner_id=w.alice_id
    )
    return int(thread["id"])


async def test_a_mention_in_a_thread_brings_what_people_said_and_later_only_whats_new(
    fake_discord: FakeDiscord, start_discord_bot: StartBot, meibel_server: DevServer
) -> None:
    await start_discord_bot()
    w = fake_discord.world
    thread_id = await peoples_thread(fake_discord)
    log = fake_discord.attachment("build.log", b"error: exit 1")
    await fake_discord.say("the deploy failed again", user=w.alice, channel_id=thread_id)
    await fake_discord.say("same here", user=w.bob, channel_id=thread_id, attachments=[log])
    await fake_discord.say(
        "what do you think?", user=w.alice, channel_id=thread_id, mention_bot=True
    )
    first = await answer_in(fake_discord, thread_id)
    assert 'You asked: "what do you think?"' in first.json["content"]

    await fake_discord.say("it is eu-west", user=w.bob, channel_id=thread_id)
    await fake_discord.say("so what now?", user=w.alice, channel_id=thread_id, mention_bot=True)
    await answer_in(fake_discord, thread_id, nth=2)
    await fake_discord.say("and then?", user=w.alice, channel_id=thread_id, mention_bot=True)
    await answer_in(fake_discord, thread_id, nth=3)

    [session] = meibel_server.sessions.values()
    one, two, three = session.user_messages
    assert context_of(one) == [
        "[Alice]: the deploy failed again",
        "[Bob] (files: build.log): same here",
    ]
    assert one.endswith("\n\nwhat do you think?")
    assert context_of(two) == ["[Bob]: it is eu-west"]  # only what was said since
    assert three == "and then?"  # nothing was said in between


async def test_thread_context_0_sends_the_question_alone(
    fake_discord: FakeDiscord, start_discord_bot: StartBot, meibel_server: DevServer
) -> None:
    await start_discord_bot(context=ContextLimits(max_messages=0))
    w = fake_discord.world
    thread_id = await peoples_thread(fake_discord)
    await fake_discord.say("earlier", user=w.bob, channel_id=thread_id)
    await fake_discord.say("summarize", user=w.alice, channel_id=thread_id, mention_bot=True)
    await answer_in(fake_discord, thread_id)
    [session] = meibel_server.sessions.values()
    assert session.user_messages == ["summarize"]
    assert not fake_discord.recorder.find("GET", rf"/channels/{thread_id}/messages")


async def test_a_mention_replying_to_a_message_brings_the_replied_to_chain(
    fake_discord: FakeDiscord, start_discord_bot: StartBot, meibel_server: DevServer
) -> None:
    await start_discord_bot()
    w = fake_discord.world
    first = await fake_discord.say("our SLA is 99.9%", user=w.alice, channel_id=w.general_id)
    second = await fake_discord.say(
        "for every region?", user=w.bob, channel_id=w.general_id, reply_to=int(first["id"])
    )
    await fake_discord.say("unrelated chatter", user=w.alice, channel_id=w.general_id)
    asked = await fake_discord.say(
        "is that enough for us?",
        user=w.alice,
        channel_id=w.general_id,
        mention_bot=True,
        reply_to=int(second["id"]),
    )
    await answer_in(fake_discord, int(asked["id"]))  # in the thread opened from it
    [session] = meibel_server.sessions.values()
    [sent] = session.user_messages
    assert context_of(sent) == ["[Alice]: our SLA is 99.9%", "[Bob]: for every region?"]
    assert sent.endswith("is that enough for us?")


async def test_the_session_knows_who_asks_and_where_and_later_turns_name_their_asker(
    fake_discord: FakeDiscord, start_discord_bot: StartBot, meibel_server: DevServer
) -> None:
    await start_discord_bot(identity=IdentityOptions(share=True))
    w = fake_discord.world
    asked = await fake_discord.say(
        "what is our SLA?", user=w.alice, channel_id=w.general_id, mention_bot=True
    )
    thread_id = int(asked["id"])
    await answer_in(fake_discord, thread_id)
    await fake_discord.say("and for EU?", user=w.bob, channel_id=thread_id)
    await answer_in(fake_discord, thread_id, nth=2)

    [session] = meibel_server.sessions.values()
    assert session.request is not None
    assert session.request["initial_context"] == {
        "platform": "discord",
        "workspace": "Meibel Test Server",
        "channel": "#general",
        "asker": {"name": "Alice"},
    }
    first, second = session.user_messages
    assert first == "what is our SLA?"
    assert second == f"{OPEN}\nAsked by Bob.\n{CLOSE}\n\nand for EU?"


async def test_ask_meibel_on_a_message_in_a_thread_brings_what_came_before_it(
    fake_discord: FakeDiscord, start_discord_bot: StartBot, meibel_server: DevServer
) -> None:
    await start_discord_bot()
    w = fake_discord.world
    thread_id = await peoples_thread(fake_discord)
    await fake_discord.say("we moved to eu-west last week", user=w.alice, channel_id=thread_id)
    target = await fake_discord.say(
        "why are the builds slower since?", user=w.bob, channel_id=thread_id
    )
    await fake_discord.say("(after the question: not context)", user=w.bob, channel_id=thread_id)
    await fake_discord.menu("Ask Meibel", user=w.alice, channel_id=thread_id, target=target)

    async with asyncio.timeout(10):
        await meibel_server.wait_for(lambda: any(s.turns for s in meibel_server.sessions.values()))
    [session] = meibel_server.sessions.values()
    [sent] = session.user_messages
    assert context_of(sent) == ["[Alice]: we moved to eu-west last week"]
    assert sent.endswith("\n\nwhy are the builds slower since?")
