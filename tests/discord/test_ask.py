"""/ask, the "Ask Meibel" menu and /new, through a real discord.py client and the fakes."""

from __future__ import annotations

from adapters.discord import texts
from bot.devserver import DevServer
from tests.discord.fakes.server import FakeDiscord
from tests.discord.helpers import (
    ACTION,
    FOLLOW_UP,
    answer_in,
    buttons,
    custom_ids,
    interaction_replies,
    pings_no_one,
    private_reply,
    session_with,
    text_of,
    thread_opened_in,
)
from tests.fixtures.discord import StartBot

QUESTION = "How do I reset my password?"


async def ask_in_general(fake: FakeDiscord, question: str = QUESTION) -> tuple[int, dict]:  # type: ignore[type-arg]
    """Alice asks in #general; returns the thread the answer opened and the answer payload."""
    w = fake.world
    await fake.slash("ask", user=w.alice, channel_id=w.general_id, options={"question": question})
    thread_id, _ = await thread_opened_in(fake, w.general_id)
    answer = await answer_in(fake, thread_id)
    return thread_id, answer.json


async def test_ask_in_a_channel_answers_in_a_new_thread_with_sources_and_buttons(
    fake_discord: FakeDiscord, start_discord_bot: StartBot, meibel_server: DevServer
) -> None:
    await start_discord_bot()
    w = fake_discord.world
    payload = await fake_discord.slash(
        "ask", user=w.alice, channel_id=w.general_id, options={"question": QUESTION}
    )

    # Acknowledged first, with Discord's "thinking", well before the agent answers.
    token_calls = [c for c in await interaction_calls(fake_discord, payload)]
    assert token_calls[0].path.endswith("/callback") and token_calls[0].json == {"type": 5}

    # The public reply shows who asked what; the thread hangs off that very message.
    thread_id, name = await thread_opened_in(fake_discord, w.general_id)
    [original] = fake_discord.recorder.find("PATCH", r"/webhooks/\d+/[^/]+/messages/@original")
    assert text_of(original) == f"<@{w.alice_id}> asked:\n> {QUESTION}"
    assert int(fake_discord.posted(w.general_id)[0]["id"]) == thread_id and name == QUESTION

    answer = (await answer_in(fake_discord, thread_id)).json
    assert "Answer 1: How do I reset my password" in answer["content"]
    [sources] = answer["embeds"]
    assert sources["title"] == "Sources"
    assert (
        "1. [Meibel documentation: Sessions](https://docs.meibel.ai/sessions)"
        in (sources["description"])
    )
    assert len(custom_ids(answer, FOLLOW_UP)) == 3
    assert len(custom_ids(answer, ACTION)) == 2  # "Create a ticket", "Talk to a human"
    labels = [b["label"] for b in buttons(answer)]
    assert "Can you explain How do I reset my password in more detail?" in labels
    assert [b["url"] for b in buttons(answer) if "url" in b] == ["https://docs.meibel.ai"]
    assert fake_discord.recorder.find("POST", rf"/channels/{thread_id}/typing")
    assert [name for call in fake_discord.message_calls() for name, _ in call.files] == [
        "answer-turn-1.md"
    ]
    assert session_with(meibel_server, QUESTION).user_messages == [QUESTION]
    assert all(pings_no_one(c.message_payload or {}) for c in fake_discord.message_calls())


async def interaction_calls(fake: FakeDiscord, payload: dict) -> list:  # type: ignore[type-arg]
    token = payload["token"]
    await fake.recorder.wait_for(lambda c: token in c.path)
    return [c for c in fake.recorder.calls if token in c.path]


async def test_a_long_question_names_the_thread_with_its_first_100_characters(
    fake_discord: FakeDiscord, start_discord_bot: StartBot
) -> None:
    await start_discord_bot()
    question = "Why " + "is this so slow " * 20 + "?"
    w = fake_discord.world
    await fake_discord.slash(
        "ask", user=w.alice, channel_id=w.general_id, options={"question": question}
    )
    _, name = await thread_opened_in(fake_discord, w.general_id)
    assert len(name) == 100 and name.endswith("…") and name.startswith("Why is this so slow")


async def test_ask_inside_the_thread_continues_its_session(
    fake_discord: FakeDiscord, start_discord_bot: StartBot, meibel_server: DevServer
) -> None:
    await start_discord_bot()
    w = fake_discord.world
    thread_id, _ = await ask_in_general(fake_discord)

    second = "And what if I lost my phone too?"
    payload = await fake_discord.slash(
        "ask", user=w.alice, channel_id=thread_id, options={"question": second}
    )
    calls = await interaction_replies(fake_discord, payload, count=1)
    # The first follow-up replaces the "thinking" message: the answer, with its buttons.
    assert "Answer 2:" in text_of(calls[0])
    assert custom_ids(calls[0].message_payload or {}, FOLLOW_UP)
    assert session_with(meibel_server, QUESTION).user_messages == [QUESTION, second]
    assert len(meibel_server.sessions) == 1
    assert len(fake_discord.recorder.find("POST", r"/channels/\d+/messages/\d+/threads")) == 1


async def test_ask_meibel_on_a_message_asks_about_its_text(
    fake_discord: FakeDiscord, start_discord_bot: StartBot, meibel_server: DevServer
) -> None:
    await start_discord_bot()
    w = fake_discord.world
    said = "The deploy failed with error 42 on the staging cluster"
    target = await fake_discord.say(said, user=w.bob, channel_id=w.general_id)
    await fake_discord.menu("Ask Meibel", user=w.alice, channel_id=w.general_id, target=target)

    thread_id, name = await thread_opened_in(fake_discord, w.general_id)
    assert name == said
    await answer_in(fake_discord, thread_id)
    [original] = fake_discord.recorder.find("PATCH", r"/webhooks/\d+/[^/]+/messages/@original")
    jump = f"https://discord.com/channels/{w.guild_id}/{w.general_id}/{target['id']}"
    assert text_of(original) == f"<@{w.alice_id}> asked about {jump}:\n> {said}"
    assert session_with(meibel_server, said).user_messages == [said]


async def test_new_gives_the_thread_a_fresh_session_and_says_so_privately(
    fake_discord: FakeDiscord, start_discord_bot: StartBot, meibel_server: DevServer
) -> None:
    await start_discord_bot()
    w = fake_discord.world
    thread_id, _ = await ask_in_general(fake_discord)
    first = session_with(meibel_server, QUESTION)

    payload = await fake_discord.slash("new", user=w.alice, channel_id=thread_id)
    assert await private_reply(fake_discord, payload) == texts.NEW_SESSION

    again = "Start over: what is a session?"
    payload = await fake_discord.slash(
        "ask", user=w.alice, channel_id=thread_id, options={"question": again}
    )
    await interaction_replies(fake_discord, payload)
    second = session_with(meibel_server, again)
    assert second.session_id != first.session_id
    assert second.user_messages == [again] and first.user_messages == [QUESTION]


async def test_new_in_a_plain_channel_explains_that_each_ask_starts_fresh(
    fake_discord: FakeDiscord, start_discord_bot: StartBot
) -> None:
    await start_discord_bot()
    w = fake_discord.world
    payload = await fake_discord.slash("new", user=w.alice, channel_id=w.general_id)
    assert await private_reply(fake_discord, payload) == texts.NEW_IN_CHANNEL


async def test_ask_in_a_dm_answers_there_and_keeps_one_session_per_dm(
    fake_discord: FakeDiscord, start_discord_bot: StartBot, meibel_server: DevServer
) -> None:
    await start_discord_bot()
    w = fake_discord.world
    dm_id = int(fake_discord.dm_with(w.alice_id)["id"])
    payload = await fake_discord.slash(
        "ask", user=w.alice, channel_id=dm_id, options={"question": QUESTION}
    )
    [answer] = await interaction_replies(fake_discord, payload)
    assert "Answer 1:" in text_of(answer)
    assert not fake_discord.recorder.find("POST", r"/channels/\d+/messages/\d+/threads")
    assert session_with(meibel_server, QUESTION).user_messages == [QUESTION]


async def test_an_answer_quoting_everyone_roles_and_users_pings_no_one(
    fake_discord: FakeDiscord, start_discord_bot: StartBot
) -> None:
    await start_discord_bot()
    w = fake_discord.world
    # The dev agent quotes the question in its answer, as an agent might.
    loud = f"@everyone @here <@&{w.member_role_id}> <@{w.bob_id}> is this on?"
    await fake_discord.slash(
        "ask", user=w.alice, channel_id=w.general_id, options={"question": loud}
    )
    thread_id, _ = await thread_opened_in(fake_discord, w.general_id)
    answer = (await answer_in(fake_discord, thread_id)).json
    # Shown, but no longer mention syntax (bot.safety); allowed_mentions is the second lock.
    assert f"<\u200b@{w.bob_id}>" in answer["content"]
    assert "<@" not in answer["content"] and "@everyone" not in answer["content"]
    sent = fake_discord.message_calls()
    assert len(sent) >= 2 and all(pings_no_one(c.message_payload or {}) for c in sent)
