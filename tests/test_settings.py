"""Settings: names users put into their hosting platform, and clear lines when wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.routing import AgentRef, Router, parse_routes
from bot.settings import SettingsError, load_settings, meibel_problems

ALL = [
    "MEIBEL_API_KEY",
    "MEIBEL_BASE_URL",
    "MEIBEL_AGENT_ID",
    "MEIBEL_AGENT_NAME",
    "MEIBEL_TIMEOUT_SECONDS",
    "REDIS_URL",
    "MEIBEL_BOT_DB",
    "SESSION_TTL_SECONDS",
    "LOG_LEVEL",
    "AGENT_ROUTES",
    "MAX_QUESTION_CHARS",
    "MAX_ATTACHMENT_MB",
    "MAX_ATTACHMENTS",
    "STREAMING",
    "USER_RATE_LIMIT",
    "OPS_PORT",
]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ALL:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env from the developer's checkout


def test_defaults_need_no_settings_at_all() -> None:
    settings = load_settings()
    assert settings.meibel_base_url == "https://api.meibel.ai/v2"
    assert settings.session_ttl_seconds == 7 * 24 * 3600
    assert settings.redis_dsn is None
    assert settings.max_question_chars == 8000


def test_environment_and_dotenv_are_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("MEIBEL_AGENT_NAME=from-dotenv\nMEIBEL_TIMEOUT_SECONDS=30\n")
    monkeypatch.setenv("MEIBEL_TIMEOUT_SECONDS", "45")
    settings = load_settings()
    assert settings.meibel_agent_name == "from-dotenv"
    assert settings.meibel_timeout_seconds == 45  # the environment wins over .env


def test_every_invalid_setting_gets_its_own_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEIBEL_TIMEOUT_SECONDS", "soon")
    monkeypatch.setenv("MEIBEL_BASE_URL", "api.meibel.ai")
    monkeypatch.setenv("REDIS_URL", "http://:hunter22@cache:6379")
    monkeypatch.setenv("AGENT_ROUTES", "slack=support")
    monkeypatch.setenv("LOG_LEVEL", "chatty")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    problems = caught.value.problems
    assert len(problems) == 5
    for name in ("MEIBEL_TIMEOUT_SECONDS", "MEIBEL_BASE_URL", "REDIS_URL", "AGENT_ROUTES"):
        assert sum(line.startswith(name) for line in problems) == 1
    assert any("whole number" in line for line in problems)
    assert "hunter22" not in str(caught.value)  # a secret is never echoed back


def test_missing_meibel_settings_are_named() -> None:
    problems = meibel_problems(load_settings())
    assert any(line.startswith("MEIBEL_API_KEY") for line in problems)
    assert any("MEIBEL_AGENT_ID or MEIBEL_AGENT_NAME" in line for line in problems)


def test_both_agent_settings_is_a_problem(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEIBEL_API_KEY", "k" * 20)
    monkeypatch.setenv("MEIBEL_AGENT_ID", "a1")
    monkeypatch.setenv("MEIBEL_AGENT_NAME", "helper")
    assert meibel_problems(load_settings()) == [
        "MEIBEL_AGENT_ID and MEIBEL_AGENT_NAME are both set: set exactly one of them."
    ]


def test_agent_routes_pick_channel_then_workspace_then_default() -> None:
    routes = parse_routes("slack:C0123=support-agent, discord:98765=community-agent")
    router = Router(default=AgentRef("id", "default-id"), routes=routes)
    assert router.agent_for(platform="slack", workspace="T1", channel="C0123") == AgentRef(
        "name", "support-agent"
    )
    assert router.agent_for(platform="discord", workspace="98765", channel="555") == AgentRef(
        "name", "community-agent"
    )
    assert router.agent_for(platform="slack", workspace="T1", channel="C999") == AgentRef(
        "id", "default-id"
    )
    # A Discord channel id equal to a Slack route's id does not cross platforms.
    assert router.agent_for(platform="discord", workspace="1", channel="C0123").kind == "id"


@pytest.mark.parametrize("bad", ["support", "slack:=x", ":C1=x", "slack:C1=", "slack:C1"])
def test_bad_routes_name_the_entry(bad: str) -> None:
    with pytest.raises(ValueError, match="bad entry"):
        parse_routes(bad)


@pytest.mark.parametrize(
    ("bad", "says"),
    [
        ("teams:C0123=a", "unknown platform 'teams'"),
        ("Slack:C1=a", "unknown platform 'Slack'"),
        ("slack:C1=a,", "entry 2 is empty"),
        ("slack:C1=a,,discord:9=b", "entry 2 is empty"),
    ],
)
def test_agent_routes_accept_only_known_platforms_and_no_empty_entries(
    bad: str, says: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENT_ROUTES", bad)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    [line] = caught.value.problems
    assert line.startswith("AGENT_ROUTES is invalid: ") and says in line, line


def test_attachment_policy_names_every_file_it_leaves_out() -> None:
    from bot.attachments import AttachmentPolicy, Candidate, skipped_note

    policy = AttachmentPolicy.from_megabytes(1, max_count=2)
    files = [
        Candidate("a.txt", 10),
        Candidate("huge.pdf", 5 * 1024 * 1024),
        Candidate("b.txt", None),
        Candidate("c.txt", 20),
    ]
    accepted, skipped = policy.select(files)
    assert [f.filename for f in accepted] == ["a.txt", "b.txt"]
    note = skipped_note(skipped)
    assert note is not None
    assert "huge.pdf (5.0 MB is over the 1.0 MB limit)" in note
    assert "c.txt (only 2 files per message)" in note
    assert skipped_note([]) is None


def test_fleet_settings_are_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("USER_RATE_LIMIT", "lots")
    monkeypatch.setenv("OPS_PORT", "99999")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert [line.split(" ")[0] for line in caught.value.problems] == ["USER_RATE_LIMIT", "OPS_PORT"]
    monkeypatch.setenv("USER_RATE_LIMIT", "20/minute")
    monkeypatch.setenv("OPS_PORT", "")
    settings = load_settings()
    assert settings.user_rate_limit == "20/minute" and settings.ops_port is None
