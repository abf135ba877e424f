"""Per-channel settings in the core: what managers may submit, what the store keeps, the
change log with who, and the agent and policies a new session starts with."""

from __future__ import annotations

import pytest

from bot.channel_settings import (
    ChannelSettings,
    ChannelSettingsBook,
    SettingsInvalid,
    agent_options,
    looks_like_question,
    settings_from,
)
from bot.devserver import DevServer
from bot.domain import Question, Tenant
from bot.meibel.client import MeibelClient
from bot.pipeline import Pipeline, PipelineConfig
from bot.policies import parse_policies
from bot.routing import AgentRef, Router
from bot.store import RedisStore, Store, StoreError
from tests.fixtures.redis import free_port

T1 = Tenant("slack", "T1")


def test_submitted_values_become_settings_and_bad_ones_are_named() -> None:
    settings = settings_from(
        {
            "agent": "name:hr-agent",
            "reply_mode": "questions",
            "visibility": "private",
            "policies": "pol_a, pol_b",
            "handoff": ["group:S0HELP", "user:U0ANN"],
        }
    )
    assert settings == ChannelSettings(
        agent="name:hr-agent",
        reply_mode="questions",
        visibility="private",
        policies=("pol_a", "pol_b"),
        handoff=("group:S0HELP", "user:U0ANN"),
    )
    assert ChannelSettings.decode(settings.encode()) == settings
    assert settings_from({"policies": "none"}).policies == ()
    assert settings_from({"policies": ""}).policies is None
    assert ChannelSettings.decode(ChannelSettings(policies=()).encode()).policies == ()
    bad_values: list[tuple[dict[str, object], str]] = [
        ({"agent": "hr-agent"}, "agent"),
        ({"reply_mode": "always"}, "reply mode"),
        ({"visibility": "secret"}, "visibility"),
        ({"policies": "pol a"}, "policies"),
        ({"handoff": ["<!channel>"]}, "hand-off"),
    ]
    for bad, words in bad_values:
        with pytest.raises(SettingsInvalid, match=words):
            settings_from(bad)


def test_what_looks_like_a_question() -> None:
    assert looks_like_question("how do refunds work")
    assert looks_like_question("anyone know the VPN address?")
    assert not looks_like_question("ok?")
    assert not looks_like_question("shipping the release now.")


def test_agents_listed_by_meibel_become_choices() -> None:
    listing = {
        "data": [
            {"id": "a1", "name": "hr-agent", "display_name": "HR"},
            {"id": "a2", "display_name": "Draft"},
            "junk",
        ]
    }
    assert agent_options(listing) == [("name:hr-agent", "HR"), ("id:a2", "Draft")]


async def test_settings_are_kept_and_every_change_is_logged_with_who(store: Store) -> None:
    book = ChannelSettingsBook(store)
    assert await book.get(T1, "C1") == ChannelSettings()
    changes = await book.put(
        T1, "C1", ChannelSettings(visibility="private"), by="U0ANN", by_name="Ann"
    )
    assert changes == ["visibility: default -> private"]
    assert (
        await book.put(T1, "C1", ChannelSettings(visibility="private"), by="U2", by_name="B") == []
    )
    await book.put(T1, "C2", ChannelSettings(reply_mode="questions"), by="U0BOB", by_name="Bob")

    # another process (no shared cache) reads what was kept
    other = ChannelSettingsBook(store)
    assert (await other.get(T1, "C1")).private()
    assert await other.get(Tenant("slack", "T2"), "C1") == ChannelSettings()  # no leak
    history = await other.history(T1)
    assert [(c.channel, c.by_name, c.changes) for c in history] == [
        ("C2", "Bob", ("reply mode: default -> questions",)),
        ("C1", "Ann", ("visibility: default -> private",)),
    ]
    assert list(await other.configured(T1)) == ["C2", "C1"]


async def test_a_channels_agent_and_policies_start_its_new_sessions(
    meibel: MeibelClient, store: Store, meibel_server: DevServer
) -> None:
    rules = parse_policies("default=pol_kb", "pol_public")
    router = Router(default=AgentRef("name", "default-agent"), routes={})
    pipeline = Pipeline(
        meibel=meibel, store=store, config=PipelineConfig(router=router, policies=rules)
    )

    def asked(channel: str, thread: str, *, shared: bool = False) -> Question:
        return Question(
            platform="slack", workspace="T1", channel=channel, thread=thread, user="U1",
            text="payroll dates?", shared=shared,
        )  # fmt: skip

    await pipeline.places.put(
        T1,
        "C1",
        ChannelSettings(agent="name:hr-agent", policies=("pol_hr",)),
        by="U0ANN",
        by_name="Ann",
    )
    assert (await pipeline.ask(asked("C1", "t1"))).ok
    assert (await pipeline.ask(asked("C2", "t2"))).ok
    assert (await pipeline.ask(asked("C1", "t3", shared=True))).ok
    started = {
        s.user_messages[0] + s.session_id: s for s in meibel_server.sessions.values()
    }.values()
    by_agent = sorted(
        (s.agent.name, tuple((s.request or {}).get("execution_policy_ids") or ())) for s in started
    )
    assert by_agent == [
        ("default-agent", ("pol_kb",)),
        ("hr-agent", ("pol_hr",)),
        ("hr-agent", ("pol_public",)),  # a shared place keeps the external policies
    ]


async def test_a_store_outage_answers_with_defaults_and_changes_nothing(
    redis_store: RedisStore,
) -> None:
    book = ChannelSettingsBook(redis_store, cache_seconds=0)
    kept = ChannelSettings(visibility="private", reply_mode="questions")
    await book.put(T1, "C1", kept, by="U1", by_name="Ann")

    down = ChannelSettingsBook(RedisStore.from_url(f"redis://127.0.0.1:{free_port()}/0"))
    assert await down.get(T1, "C1") == ChannelSettings()  # answers go on, on the defaults
    with pytest.raises(StoreError):
        await down.read(T1, "C1")  # a change is never made on top of assumed defaults
    with pytest.raises(StoreError):
        await down.put(T1, "C1", ChannelSettings(agent="name:x"), by="U2", by_name="Bob")
    await down.store.aclose()
    assert await book.get(T1, "C1") == kept  # nothing already stored was lost
