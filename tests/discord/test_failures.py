"""Never silent: Meibel down, Discord refusing threads or messages, expired interactions."""

from __future__ import annotations

import pytest

from adapters.discord import texts
from bot import replies
from bot.devserver import DevServer
from bot.store import RedisStore
from tests.discord.fakes.server import FakeDiscord
from tests.discord.helpers import (
    FOLLOW_UP,
    answer_in,
    custom_ids,
    interaction_replies,
    is_ephemeral,
    private_reply,
    session_with,
    text_of,
    thread_opened_in,
)
from tests.fixtures.discord import StartBot
from tests.fixtures.redis import free_port

MISSING_PERMISSIONS = 50013
THREADS = r"/channels/\d+/messages/\d+/threads"


async def test_meibel_down_gives_a_visible_explanation_in_the_thread(
    fake_discord: FakeDiscord, start_discord_bot: StartBot, meibel_server: DevServer
) -> None:
    await start_discord_bot()
    meibel_server.queue_responses(503, times=20)
    w = fake_discord.world
    await fake_discord.slash(
        "ask", user=w.alice, channel_id=w.general_id, options={"question": "Up?"}
    )
    thread_id, _ = await thread_opened_in(fake_discord, w.general_id)
    [notice] = await fake_discord.recorder.wait_for(
        lambda c: c.matches("POST", rf"/channels/{thread_id}/messages")
    )
    assert "unavailable right now" in text_of(notice)
    assert "503" not in text_of(notice) and "Traceback" not in text_of(notice)
    assert not notice.json.get("components")


async def test_ask_where_threads_are_forbidden_answers_in_the_channel_and_says_why(
    fake_discord: FakeDiscord, start_discord_bot: StartBot, meibel_server: DevServer
) -> None:
    await start_discord_bot()
    fake_discord.recorder.fail("POST", THREADS, status=403, code=MISSING_PERMISSIONS)
    w = fake_discord.world
    payload = await fake_discord.slash(
        "ask", user=w.alice, channel_id=w.general_id, options={"question": "Threads?"}
    )
    _, note, answer = await interaction_replies(fake_discord, payload, count=3)
    assert text_of(note) == texts.NO_THREAD_PERMISSION and not is_ephemeral(note)
    assert "Answer 1:" in text_of(answer)
    # The buttons still work: the answer's own message anchors the conversation.
    message = fake_discord.posted(w.general_id)[-1]
    click = await fake_discord.click(
        custom_ids(message, FOLLOW_UP)[0], user=w.alice, message=message
    )
    await interaction_replies(fake_discord, click, count=2)
    assert len(session_with(meibel_server, "Threads?").user_messages) == 2


async def test_a_mention_where_threads_are_forbidden_is_answered_in_the_channel(
    fake_discord: FakeDiscord, start_discord_bot: StartBot, meibel_server: DevServer
) -> None:
    await start_discord_bot()
    fake_discord.recorder.fail("POST", THREADS, status=403, code=MISSING_PERMISSIONS)
    w = fake_discord.world
    said = await fake_discord.say(
        "Threads?", user=w.alice, channel_id=w.general_id, mention_bot=True
    )
    answer = await answer_in(fake_discord, w.general_id)
    note = fake_discord.recorder.find("POST", rf"/channels/{w.general_id}/messages")[0]
    assert text_of(note) == texts.NO_THREAD_PERMISSION
    assert int(note.json["message_reference"]["message_id"]) == int(said["id"])
    assert "Answer 1:" in text_of(answer)


async def test_an_interaction_that_arrives_too_late_gets_a_visible_note_in_the_channel(
    fake_discord: FakeDiscord, start_discord_bot: StartBot, meibel_server: DevServer
) -> None:
    await start_discord_bot()
    w = fake_discord.world
    await fake_discord.slash(
        "ask", user=w.alice, channel_id=w.general_id, options={"question": "Late?"}, expired=True
    )
    [note] = await fake_discord.recorder.wait_for(
        lambda c: c.matches("POST", rf"/channels/{w.general_id}/messages")
    )
    assert text_of(note) == texts.INTERACTION_EXPIRED.format(user=f"<@{w.alice_id}>")
    assert note.json["allowed_mentions"] == {"parse": []}  # the mention shows, but pings no one
    assert not meibel_server.chat_requests()


@pytest.mark.parametrize("streaming", [False, True], ids=["whole", "streamed"])
async def test_when_the_interaction_expires_during_a_long_answer_it_is_posted_in_the_thread(
    fake_discord: FakeDiscord,
    start_discord_bot: StartBot,
    meibel_server: DevServer,
    streaming: bool,
) -> None:
    await start_discord_bot(discord_streaming=streaming, edit_interval=0.2)
    w = fake_discord.world
    await fake_discord.slash(
        "ask", user=w.alice, channel_id=w.general_id, options={"question": "One"}
    )
    thread_id, _ = await thread_opened_in(fake_discord, w.general_id)
    await answer_in(fake_discord, thread_id)

    meibel_server.hold_chats()
    payload = await fake_discord.slash(
        "ask", user=w.alice, channel_id=thread_id, options={"question": "Slow one"}
    )
    await meibel_server.wait_for_in_flight(1)
    fake_discord.expire(payload)  # Discord's 15 minutes are over
    meibel_server.release_chats()
    late = await answer_in(fake_discord, thread_id, nth=2)
    assert "Answer 2:" in text_of(late)


@pytest.mark.parametrize("streaming", [False, True], ids=["whole", "streamed"])
async def test_a_thread_the_bot_cannot_post_in_gets_the_user_a_private_note(
    fake_discord: FakeDiscord,
    start_discord_bot: StartBot,
    meibel_server: DevServer,
    streaming: bool,
) -> None:
    await start_discord_bot(discord_streaming=streaming, edit_interval=0.2)
    w = fake_discord.world
    dm_id = int(fake_discord.dm_with(w.alice_id)["id"])
    said = await fake_discord.say("First", user=w.alice, channel_id=w.general_id, mention_bot=True)
    thread_id = int(said["id"])
    await answer_in(fake_discord, thread_id)

    fake_discord.recorder.fail(
        "POST", rf"/channels/{thread_id}/messages", status=403, code=MISSING_PERMISSIONS, times=5
    )
    await fake_discord.say("Second", user=w.alice, channel_id=thread_id, mention_bot=True)
    [note] = await fake_discord.recorder.wait_for(
        lambda c: c.matches("POST", rf"/channels/{dm_id}/messages")
    )
    assert text_of(note) == texts.NO_SEND_PERMISSION.format(channel=thread_id)
    assert replies.INTERNAL.text not in text_of(note)


async def test_a_store_that_cannot_be_reached_is_explained_not_ignored(
    fake_discord: FakeDiscord, start_discord_bot: StartBot, meibel_server: DevServer
) -> None:
    dead = RedisStore.from_url(f"redis://127.0.0.1:{free_port()}/0", prefix="nowhere")
    try:
        await start_discord_bot(store=dead)
        w = fake_discord.world
        payload = await fake_discord.slash(
            "ask", user=w.alice, channel_id=w.general_id, options={"question": "Store?"}
        )
        # The question could not be queued: said privately, and nothing left "thinking".
        assert await private_reply(fake_discord, payload) == texts.UNAVAILABLE
        callbacks = fake_discord.recorder.find("POST", r"/interactions/\d+/[^/]+/callback")
        assert [c.json["type"] for c in callbacks] == [4]  # a message: no deferral
        await fake_discord.say("Store?", user=w.alice, channel_id=w.general_id, mention_bot=True)
        [note] = await fake_discord.recorder.wait_for(
            lambda c: c.matches("POST", rf"/channels/{w.general_id}/messages")
        )
        assert text_of(note) == texts.UNAVAILABLE
        assert not meibel_server.chat_requests()
    finally:
        await dead.aclose()
