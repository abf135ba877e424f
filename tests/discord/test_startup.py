"""Connecting: command sync in setup_hook, intents, shards, a refused token."""

from __future__ import annotations

import discord
import pytest

from adapters.discord.app import DiscordRunner
from adapters.discord.process import DiscordProcess
from bot.devserver import DevServer
from tests.discord.fakes.gateway import MESSAGE_CONTENT
from tests.discord.fakes.server import FakeDiscord
from tests.discord.helpers import answer_in, thread_opened_in
from tests.fixtures.discord import StartBot, discord_settings, fleet_options

COMMANDS = ["ask", "new", "meibel", "Ask Meibel"]


def synced(fake: FakeDiscord, path: str) -> list[str]:
    return [command["name"] for call in fake.recorder.find("PUT", path) for command in call.json]


async def test_commands_sync_globally_before_the_gateway_connects(
    fake_discord: FakeDiscord, start_discord_bot: StartBot
) -> None:
    await start_discord_bot()
    assert synced(fake_discord, r"/applications/\d+/commands") == COMMANDS
    paths = [c.path for c in fake_discord.recorder.calls]
    assert paths.index(f"/applications/{fake_discord.world.app_id}/commands") < paths.index(
        "/gateway/bot"
    )
    [put] = fake_discord.recorder.find("PUT", r"/applications/\d+/commands")
    [ask] = [c for c in put.json if c["name"] == "ask"]
    assert ask["options"][0]["name"] == "question" and ask["options"][0]["required"]
    # /meibel settings: shown to channel managers, and only in servers
    [meibel] = [c for c in put.json if c["name"] == "meibel"]
    assert [o["name"] for o in meibel["options"]] == ["settings"]
    assert int(meibel["default_member_permissions"]) == 1 << 4  # Manage Channels
    assert meibel["dm_permission"] is False


async def test_commands_sync_to_the_listed_servers_only_and_answer_there(
    fake_discord: FakeDiscord, start_discord_bot: StartBot, meibel_server: DevServer
) -> None:
    w = fake_discord.world
    await start_discord_bot(discord_guild_ids=[w.guild_id])
    assert synced(fake_discord, rf"/applications/\d+/guilds/{w.guild_id}/commands") == COMMANDS
    assert not fake_discord.recorder.find("PUT", r"/applications/\d+/commands")
    await fake_discord.slash(
        "ask",
        user=w.alice,
        channel_id=w.general_id,
        options={"question": "Guild command?"},
        guild_command=True,
    )
    thread_id, _ = await thread_opened_in(fake_discord, w.general_id)
    await answer_in(fake_discord, thread_id)


async def test_intents_ask_for_message_content_only_when_replies_need_it(
    fake_discord: FakeDiscord, start_discord_bot: StartBot
) -> None:
    first = await start_discord_bot()
    await first.stop()
    await start_discord_bot(discord_reply_without_mention=False)
    with_content, without = fake_discord.gateway.identifies
    wanted = discord.Intents(guilds=True, guild_messages=True, dm_messages=True)
    assert without["intents"] == wanted.value
    assert with_content["intents"] == wanted.value | MESSAGE_CONTENT


async def test_shards_split_over_two_processes_and_the_owner_answers(
    fake_discord: FakeDiscord, start_discord_bot: StartBot, meibel_server: DevServer
) -> None:
    # One process per shard, as DISCORD_SHARD_IDS is meant for (and each identifies at
    # once: discord.py waits 5 s between two identifies of one process).
    one = await start_discord_bot(discord_shard_count=2, discord_shard_ids=[0])
    two = await start_discord_bot(discord_shard_count=2, discord_shard_ids=[1])
    assert sorted(i["shard"] for i in fake_discord.gateway.identifies) == [[0, 2], [1, 2]]
    assert not fake_discord.recorder.find("GET", r"/gateway/bot")  # the count was given
    w = fake_discord.world
    owner = one if (w.guild_id >> 22) % 2 == 0 else two
    assert [g.id for g in owner.client.guilds] == [w.guild_id]
    assert not (two if owner is one else one).client.guilds
    await fake_discord.slash(
        "ask", user=w.alice, channel_id=w.general_id, options={"question": "Shards?"}
    )
    thread_id, _ = await thread_opened_in(fake_discord, w.general_id)
    await answer_in(fake_discord, thread_id)


async def test_a_refused_token_stops_the_bot_with_a_login_failure(
    fake_discord: FakeDiscord, start_discord_bot: StartBot, meibel_server: DevServer
) -> None:
    bot = await start_discord_bot()  # for a working pipeline to hand to the second one
    refused = discord_settings(fake_discord, discord_token="not-the-token")
    runner = DiscordRunner(
        services=bot.runner.services, settings=refused, intake=bot.process.intake
    )
    with pytest.raises(discord.LoginFailure):
        await runner.run()
    assert runner.client is not None and runner.client.is_closed()
    # The whole process too (its worker logs in first), leaving nothing open.
    process = DiscordProcess(services=bot.runner.services, settings=refused, fleet=fleet_options())
    with pytest.raises(discord.LoginFailure):
        await process.run()
    assert process.rest_client.is_closed() and not process.working.is_set()
