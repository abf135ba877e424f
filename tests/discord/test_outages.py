"""Redis goes away and comes back: users are told while it is away, the process stays up,
and it answers again by itself once Redis returns."""

from __future__ import annotations

from urllib.parse import urlsplit

from adapters.discord import texts
from bot.devserver import DevServer
from bot.store import RedisStore
from tests.discord.fakes.server import FakeDiscord
from tests.discord.helpers import answer_in, private_reply, text_of
from tests.fixtures.discord import StartBot
from tests.fixtures.redis import start_redis_server

RECOVERY = 20.0


async def test_while_redis_is_down_users_are_told_and_the_bot_recovers_by_itself(
    fake_discord: FakeDiscord, start_discord_bot: StartBot, meibel_server: DevServer
) -> None:
    w = fake_discord.world
    with start_redis_server() as (url, redis_server):
        store = RedisStore.from_url(url, prefix="outage")
        try:
            bot = await start_discord_bot(store=store)
            said = await fake_discord.say(
                "Before", user=w.alice, channel_id=w.general_id, mention_bot=True
            )
            await answer_in(fake_discord, int(said["id"]))

            redis_server.terminate()
            redis_server.wait(timeout=10)
            payload = await fake_discord.slash(
                "ask", user=w.alice, channel_id=w.general_id, options={"question": "During?"}
            )
            assert await private_reply(fake_discord, payload) == texts.UNAVAILABLE
            said = await fake_discord.say(
                "During the outage", user=w.bob, channel_id=w.general_id, mention_bot=True
            )
            [note] = await fake_discord.recorder.wait_for(
                lambda c: (
                    c.matches("POST", rf"/channels/{w.general_id}/messages")
                    and text_of(c) == texts.UNAVAILABLE
                )
            )
            assert int(note.json["message_reference"]["message_id"]) == int(said["id"])
            assert not bot.task.done()  # the process stays up
            assert len(meibel_server.chat_requests()) == 1

            # The same Redis comes back (empty: its data was not persisted).
            port = urlsplit(url).port
            with start_redis_server(port):
                payload = await fake_discord.slash(
                    "ask", user=w.alice, channel_id=w.general_id, options={"question": "After?"}
                )
                [opened] = await fake_discord.recorder.wait_for(
                    lambda c: (
                        c.matches("POST", rf"/channels/{w.general_id}/messages/\d+/threads")
                        and c.json["name"] == "After?"
                    ),
                    within=RECOVERY,
                )
                thread_id = int(opened.path.split("/")[4])
                await fake_discord.recorder.wait_for(
                    lambda c: (
                        c.matches("POST", rf"/channels/{thread_id}/messages")
                        and "Answer 1: After" in text_of(c)
                    ),
                    within=RECOVERY,
                )
                refused = [c for c in fake_discord.message_calls() if payload["token"] in c.path]
                assert all(text_of(c) != texts.UNAVAILABLE for c in refused)
                await bot.stop()  # while this Redis still runs
        finally:
            await store.aclose()
