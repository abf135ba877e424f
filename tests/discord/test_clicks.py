"""Button clicks: follow-ups and actions in the same session, after a restart too."""

from __future__ import annotations

import asyncio
import time

from adapters.discord import texts
from bot import feedback
from bot.devserver import DevServer
from bot.store.redis import RedisStore
from tests.discord.fakes.payloads import EPHEMERAL
from tests.discord.fakes.server import FakeDiscord
from tests.discord.helpers import (
    ACTION,
    FOLLOW_UP,
    answer_in,
    buttons,
    custom_ids,
    interaction_replies,
    private_reply,
    session_with,
    text_of,
    thread_opened_in,
)
from tests.fixtures.discord import StartBot

QUESTION = "How do refunds work?"


async def answered_thread(fake: FakeDiscord) -> tuple[int, dict]:  # type: ignore[type-arg]
    """Alice's /ask in #general, answered: the thread and the answer message as posted."""
    w = fake.world
    await fake.slash("ask", user=w.alice, channel_id=w.general_id, options={"question": QUESTION})
    thread_id, _ = await thread_opened_in(fake, w.general_id)
    await answer_in(fake, thread_id)
    [message] = [m for m in fake.posted(thread_id) if m["components"]]
    return thread_id, message


async def test_a_follow_up_click_asks_it_in_the_same_session_as_the_clicker(
    fake_discord: FakeDiscord, start_discord_bot: StartBot, meibel_server: DevServer
) -> None:
    await start_discord_bot()
    w = fake_discord.world
    thread_id, message = await answered_thread(fake_discord)
    [button] = [b for b in buttons(message) if b.get("custom_id", "").startswith(FOLLOW_UP)][:1]

    payload = await fake_discord.click(button["custom_id"], user=w.bob, message=message)
    shown, answer = await interaction_replies(fake_discord, payload, count=2)
    # Acknowledged at once with a public line: Bob asked this (a mention that pings no one).
    assert shown.json["type"] == 4
    assert text_of(shown) == f"<@{w.bob_id}> asked:\n> {button['label']}"
    assert "Answer 2:" in text_of(answer) and custom_ids(answer.message_payload or {}, FOLLOW_UP)
    assert session_with(meibel_server, QUESTION).user_messages == [QUESTION, button["label"]]
    assert fake_discord.recorder.find("POST", rf"/channels/{thread_id}/typing")


async def test_a_follow_up_click_after_a_restart_still_answers_in_the_same_session(
    fake_discord: FakeDiscord, start_discord_bot: StartBot, meibel_server: DevServer
) -> None:
    first = await start_discord_bot()
    w = fake_discord.world
    _, message = await answered_thread(fake_discord)
    await first.stop()

    # A new process: nothing in memory, only the store (the same Redis) and Discord.
    second = await start_discord_bot()
    assert second.client is not first.client
    fu = custom_ids(message, FOLLOW_UP)[1]
    label = next(b["label"] for b in buttons(message) if b.get("custom_id") == fu)
    payload = await fake_discord.click(fu, user=w.alice, message=message)
    _, answer = await interaction_replies(fake_discord, payload, count=2)
    assert "Answer 2:" in text_of(answer)
    assert session_with(meibel_server, QUESTION).user_messages == [QUESTION, label]


async def test_an_action_click_asks_the_agent_to_do_it_in_the_same_session(
    fake_discord: FakeDiscord, start_discord_bot: StartBot, meibel_server: DevServer
) -> None:
    await start_discord_bot()
    w = fake_discord.world
    _, message = await answered_thread(fake_discord)
    ticket = next(b for b in buttons(message) if b.get("label") == "Create a ticket")
    assert ticket["custom_id"].startswith(ACTION)

    payload = await fake_discord.click(ticket["custom_id"], user=w.alice, message=message)
    await interaction_replies(fake_discord, payload, count=2)
    assert session_with(meibel_server, QUESTION).user_messages == [
        QUESTION,
        "Create a ticket [create_ticket]",
    ]


async def test_a_button_whose_data_expired_gets_a_private_explanation(
    fake_discord: FakeDiscord, start_discord_bot: StartBot, meibel_server: DevServer
) -> None:
    await start_discord_bot()
    w = fake_discord.world
    _, message = await answered_thread(fake_discord)
    # An older answer whose button key the store no longer holds (its TTL passed).
    stale = f"{FOLLOW_UP}0123456789abcdef"
    button = {"type": 2, "style": 2, "label": "An old follow-up", "custom_id": stale}
    old = {**message, "components": [{"type": 1, "components": [button]}]}
    payload = await fake_discord.click(stale, user=w.alice, message=old)
    assert await private_reply(fake_discord, payload) == texts.BUTTON_EXPIRED
    assert session_with(meibel_server, QUESTION).user_messages == [QUESTION]


async def test_a_thumbs_down_is_thanked_privately_and_kept_for_the_agents_owners(
    fake_discord: FakeDiscord,
    start_discord_bot: StartBot,
    meibel_server: DevServer,
    redis_store: RedisStore,
) -> None:
    bot = await start_discord_bot()
    w = fake_discord.world
    thread_id, message = await answered_thread(fake_discord)
    [down] = custom_ids(message, "meibel:fb:down:")
    signal_id = down.removeprefix("meibel:fb:down:")
    assert signal_id.startswith("sig_")
    assert [b["label"] for b in buttons(message)][-2:] == ["Helpful", "Not helpful"]

    payload = await fake_discord.click(down, user=w.bob, message=message)
    [thanks] = await interaction_replies(fake_discord, payload)
    assert "Thanks for the feedback" in text_of(thanks)
    assert int(thanks.json["data"]["flags"]) & EPHEMERAL

    # kept before the thanks is sent: once Bob sees the thanks, the record is there
    [row] = await feedback.since(redis_store, seconds=60, now=time.time())
    assert (row.verdict, row.signal_id, row.question) == ("negative", signal_id, QUESTION)
    assert QUESTION in row.answer
    assert row.link.endswith(f"/{thread_id}/{message['id']}")
    assert row.user == ""  # identity sharing is off in these tests
    metrics = bot.process.services.pipeline.metrics.registry
    assert (
        metrics.get_sample_value(
            "meibel_bot_feedback_total", {"platform": "discord", "verdict": "negative"}
        )
        == 1
    )


async def test_a_comment_added_to_feedback_is_kept_beside_it(
    fake_discord: FakeDiscord, start_discord_bot: StartBot, redis_store: RedisStore
) -> None:
    bot = await start_discord_bot()
    w = fake_discord.world
    thread_id, message = await answered_thread(fake_discord)
    [up] = custom_ids(message, "meibel:fb:up:")
    payload = await fake_discord.click(up, user=w.bob, message=message)
    [thanks] = await interaction_replies(fake_discord, payload)
    thanked = thanks.message_payload or {}
    [add] = custom_ids(thanked, "meibel:fbc:up:")
    assert [b["label"] for b in buttons(thanked)] == ["Add a comment"]

    [shown] = [m for m in fake_discord.messages.values() if add in str(m["components"])]
    payload = await fake_discord.click(add, user=w.bob, message=fake_discord._public(shown))
    [opened] = await fake_discord.recorder.wait_for(
        lambda c: payload["token"] in c.path and (c.json or {}).get("type") == 9
    )
    modal = opened.json["data"]

    # Discord shows the modal once the bot's response is back; the bot keeps the modal
    # to route its submission when that response returns (as a person could not submit
    # it earlier, wait for that)
    async with asyncio.timeout(10):  # polled, like Harness.settle: nothing else signals it
        while True:
            if modal["custom_id"] in bot.client._connection._view_store._modals:
                break
            await asyncio.sleep(0.01)
    [[text_box]] = [row["components"] for row in modal["components"]]
    await fake_discord.interact(
        5,
        {
            "custom_id": modal["custom_id"],
            "components": [
                {"type": 1, "components": [
                    {"type": 4, "custom_id": text_box["custom_id"],
                     "value": "Right, but cite the refund policy"}]}
            ],
        },
        user=w.bob,
        channel_id=thread_id,
    )  # fmt: skip
    await fake_discord.recorder.wait_for(
        lambda c: "Thanks, your comment" in str(c.message_payload or {})
    )
    verdict, comment = await feedback.since(redis_store, seconds=60, now=time.time())
    assert (verdict.verdict, comment.verdict) == ("positive", "positive")
    assert comment.signal_id == verdict.signal_id == up.removeprefix("meibel:fb:up:")
    assert comment.comment == "Right, but cite the refund policy"
