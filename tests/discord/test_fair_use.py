"""USER_RATE_LIMIT: a person over their share gets a private, friendly refusal and the
agent is not asked; everyone else is answered as usual."""

from __future__ import annotations

from adapters.discord import texts
from bot.devserver import DevServer
from bot.ratelimit import RateLimit
from tests.discord.fakes.server import FakeDiscord
from tests.discord.helpers import answer_in, private_reply, text_of
from tests.fixtures.discord import StartBot, fleet_options


async def test_over_the_rate_limit_a_user_is_refused_privately_and_meibel_is_not_asked(
    fake_discord: FakeDiscord, start_discord_bot: StartBot, meibel_server: DevServer
) -> None:
    await start_discord_bot(fleet=fleet_options(rate_limit=RateLimit(count=2, window_seconds=60)))
    w = fake_discord.world
    for n in (1, 2):
        said = await fake_discord.say(
            f"Question {n}", user=w.alice, channel_id=w.general_id, mention_bot=True
        )
        await answer_in(fake_discord, int(said["id"]))
    thread_id = int(said["id"])

    refusal = texts.rate_limited(2, "minute")
    payload = await fake_discord.slash(
        "ask", user=w.alice, channel_id=w.general_id, options={"question": "Question 3"}
    )
    assert await private_reply(fake_discord, payload) == refusal
    # A reply in her thread over the limit: the refusal goes to her DMs, nothing public.
    await fake_discord.say("Question 4", user=w.alice, channel_id=thread_id)
    dm_id = int(fake_discord.dm_with(w.alice_id)["id"])
    await fake_discord.recorder.wait_for(
        lambda c: c.matches("POST", rf"/channels/{dm_id}/messages") and text_of(c) == refusal
    )
    assert len(fake_discord.posted(thread_id)) == 1  # the answer to question 2 only

    # Bob has a share of his own.
    said = await fake_discord.say("Bob asks", user=w.bob, channel_id=w.general_id, mention_bot=True)
    await answer_in(fake_discord, int(said["id"]))
    asked = [r.user_message for r in meibel_server.chat_requests()]
    assert asked == ["Question 1", "Question 2", "Bob asks"]
