"""The pure parts: settings, places, question text, thread names, allow-lists, payloads."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.discord import texts
from adapters.discord.access import AllowList
from adapters.discord.inbound import Place, strip_mentions, thread_name, to_question
from adapters.discord.payloads import ButtonPayload, action_request
from adapters.discord.settings import DiscordSettings, load_discord_settings
from bot.domain import CallToAction
from bot.settings import SettingsError

GENERAL = Place("42", "100", None, can_open_threads=True)
THREAD = Place("42", "100", "555")
DM = Place("dm", "777", "777")


def settings(**values: object) -> DiscordSettings:
    return load_discord_settings(_env_file=None, **values)


def test_id_lists_are_comma_separated_and_shard_ids_need_a_count() -> None:
    loaded = settings(discord_guild_ids="1, 2,,3", discord_allowed_role_ids="")
    assert loaded.discord_guild_ids == [1, 2, 3] and loaded.discord_allowed_role_ids == []
    with pytest.raises(SettingsError) as bad:
        settings(discord_guild_ids="1,x")
    assert bad.value.problems == [
        "DISCORD_GUILD_IDS is invalid: it should hold comma-separated server (guild) ids "
        "to sync commands to at once (got 'x')."
    ]
    with pytest.raises(SettingsError, match=r"run from 0 to 1"):
        settings(discord_shard_count=2, discord_shard_ids="0,2")
    assert settings(discord_shard_count=2, discord_shard_ids="1").discord_shard_ids == [1]


def test_the_token_is_never_echoed_in_a_settings_error() -> None:
    with pytest.raises(SettingsError) as bad:
        settings(discord_token=["not", "a", "string"])
    assert "not" not in " ".join(bad.value.problems)
    assert bad.value.problems[0].startswith("DISCORD_TOKEN is invalid")


def test_places_key_threads_under_their_parent_channel() -> None:
    assert str(THREAD.key()) == "discord:42:100:555"
    assert str(GENERAL.key("556")) == "discord:42:100:556"
    assert str(DM.key()) == "discord:dm:777:777"
    with pytest.raises(ValueError):
        GENERAL.key()


def test_a_question_carries_its_thread_key_and_the_asker() -> None:
    question = to_question(THREAD.key(), user=9, text="Hi", event_id="message:1")
    assert (question.platform, question.workspace, question.channel, question.thread) == (
        "discord",
        "42",
        "100",
        "555",
    )
    assert question.user == "9" and question.event_id == "message:1"


def test_mentions_of_the_bot_are_removed_from_the_question() -> None:
    assert strip_mentions("<@123> what is <@456>'s plan?", bot_id=123) == "what is <@456>'s plan?"
    assert strip_mentions("<@!123>   hello <@123>", bot_id=123) == "hello"


@given(st.text())
def test_thread_names_are_one_line_of_1_to_100_characters(text: str) -> None:
    name = thread_name(text)
    assert 1 <= len(name) <= 100 and "\n" not in name


def test_allow_lists_count_a_thread_as_its_parent_and_refuse_dms_when_restricted() -> None:
    open_to_all = AllowList()
    assert open_to_all.refusal(DM, roles=None) is None
    assert open_to_all.refusal(THREAD, roles=[]) is None

    channels = AllowList.of(channels=[100], roles=[])
    assert channels.refusal(THREAD, roles=[]) is None
    assert channels.refusal(Place("42", "101", "9"), roles=[]) == texts.CHANNEL_NOT_ALLOWED
    assert channels.refusal(DM, roles=None) == texts.DM_NOT_ALLOWED

    roles = AllowList.of(channels=[], roles=[7])
    assert roles.refusal(GENERAL, roles=[7, 8]) is None
    assert roles.refusal(GENERAL, roles=[8]) == texts.ROLE_NOT_ALLOWED
    assert roles.refusal(GENERAL, roles=None) == texts.ROLE_NOT_ALLOWED


def test_button_payloads_survive_json_and_garbage_is_treated_as_expired() -> None:
    payload = ButtonPayload("follow_up", "100", "555", "Tell me more ✨")
    assert ButtonPayload.from_json(payload.to_json()) == payload
    assert ButtonPayload.from_json("not json") is None
    assert ButtonPayload.from_json('{"kind": "follow_up"}') is None


def test_an_action_asks_with_its_label_and_its_name_when_that_adds_something() -> None:
    assert action_request(CallToAction("Create a ticket", "create_ticket")) == (
        "Create a ticket [create_ticket]"
    )
    assert action_request(CallToAction("Escalate", "escalate")) == "Escalate"
    assert action_request(CallToAction("", "escalate")) == "escalate"


@given(st.text(min_size=1, max_size=5000))
def test_the_asked_line_fits_one_message(question: str) -> None:
    assert len(texts.asked_by(123456789012345678, question)) <= 2000
    assert len(texts.asked_about(1, "https://discord.com/channels/1/2/3", question)) <= 2000
