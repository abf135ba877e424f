"""Core settings, read from the environment and `.env` by `load_settings()` at start-up."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.context import ContextLimits
from bot.identity import IdentityOptions
from bot.policies import PolicyRules, parse_policies, policy_ids
from bot.routing import AgentRef, Router, parse_routes
from bot.startup import StartRetries

DEFAULT_BASE_URL = "https://api.meibel.ai/v2"
# Settings whose validator's own words help more than the description alone.
EXPLAINED = frozenset({"agent_routes", "execution_policies", "external_execution_policies"})
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


class SettingsError(Exception):
    """Settings that cannot start the bot; `problems` holds one clear line each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def env_config() -> SettingsConfigDict:
    """The shared source config: environment first, then `.env` in the working directory."""
    return SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )


class Settings(BaseSettings):
    """The core's settings; adapters keep theirs beside their code."""

    model_config = env_config()

    meibel_api_key: SecretStr | None = Field(
        None, description="your Meibel API key (Meibel console -> API keys)"
    )
    meibel_base_url: str = Field(
        DEFAULT_BASE_URL, description="the Meibel API base URL, e.g. https://api.meibel.ai/v2"
    )
    meibel_agent_id: str | None = Field(None, description="the default agent's id")
    meibel_agent_name: str | None = Field(None, description="the default agent's kebab-case name")
    meibel_timeout_seconds: int = Field(
        60, ge=1, le=900, description="seconds Meibel may take to answer, a whole number 1-900"
    )
    redis_url: SecretStr | None = Field(
        None,
        description="a redis://, rediss:// or (Redis Sentinel) "
        "redis+sentinel://[:password@]host1:26379[,host2:26379]/<service_name>[/<db>] URL; "
        "unset uses the embedded store",
    )
    meibel_bot_db: str = Field(
        "meibel-bot.db", description="path of the embedded store's SQLite file"
    )
    session_ttl_seconds: int = Field(
        7 * 24 * 3600, ge=60, description="seconds a thread keeps its session, at least 60"
    )
    log_level: LogLevel = Field("INFO", description="one of DEBUG, INFO, WARNING, ERROR")
    agent_routes: str = Field(
        "",
        description="comma-separated <platform>:<channel or workspace id>=<agent-name> "
        "pairs, platform one of slack, discord, terminal",
    )
    execution_policies: str = Field(
        "",
        description="Meibel execution policy ids a new session starts with, by place: "
        "default=<ids>,<platform>:<channel or workspace id>=<ids>, ids joined by '+'",
    )
    external_execution_policies: str = Field(
        "",
        description="policy ids ('+'-joined) for places shared with other organisations "
        "(Slack Connect), instead of EXECUTION_POLICIES; unset: the same rules apply",
    )
    refuse_external_users: bool = Field(
        False,
        description="on: people from another organisation (Slack Connect) get a polite "
        "private note instead of an answer",
    )
    streaming: bool = Field(True, description="on or off: show answers as the agent writes them")
    max_attachment_mb: float = Field(
        10, gt=0, description="the largest file sent to the agent, in MB (default 10)"
    )
    max_attachments: int = Field(
        5, ge=0, description="how many files of one message are sent to the agent (default 5)"
    )
    user_rate_limit: str = Field(
        "",
        description="questions per user, e.g. 20/minute (units: second, minute, hour, day); "
        "empty for no limit",
    )
    shutdown_grace_seconds: float = Field(
        25, ge=0, description="seconds answers in flight may take to finish on SIGTERM"
    )
    worker_concurrency: int = Field(
        2048,
        ge=1,
        le=8192,
        description="the most answers one process holds at once, 1-8192; it takes new ones "
        "only while it keeps up, so the cap matters for answers that mostly wait",
    )
    ops_port: int | None = Field(
        None,
        ge=0,
        le=65535,
        description="a port for /healthz, /readyz and /metrics when no HTTP server runs "
        "(Slack HTTP mode serves them on $PORT)",
    )
    ops_token: SecretStr | None = Field(
        None,
        description="a secret that callers of /metrics and of /readyz's detail must send as "
        "'Authorization: Bearer <token>'; unset: /metrics is open, /readyz says only ready or not",
    )
    startup_tries: int = Field(
        3, ge=1, le=100, description="tries to reach a platform at start-up before giving up, 1-100"
    )
    startup_backoff_seconds: float = Field(
        2.0, ge=0, description="seconds before the second start-up try, doubling after it"
    )
    max_question_chars: int = Field(
        8000, ge=1, description="the longest question accepted, in characters, at least 1"
    )
    thread_context_messages: int = Field(
        30,
        ge=0,
        description="how many earlier messages of a thread the agent gets with a question "
        "(those before the bot was called in, or since its last answer); 0: none",
    )
    thread_context_chars: int = Field(
        12000, ge=0, description="at most this many characters of thread context; 0: none"
    )
    share_identity: bool = Field(
        True,
        description="on: tell the agent who asks and where (platform, workspace, channel, "
        "the asker's display name and time zone); off: none of it",
    )
    share_user_email: bool = Field(
        False,
        description="on: also the asker's email (Slack needs the users:read.email scope)",
    )

    @field_validator("meibel_base_url")
    @classmethod
    def _check_base_url(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("not an http(s) URL")
        return value.strip().rstrip("/")

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        from bot.store.redis_urls import is_sentinel_url, parse_sentinel_url

        url = value.get_secret_value().strip()
        if is_sentinel_url(url):
            # A malformed Sentinel URL fails here, at start-up, rather than on first use.
            parse_sentinel_url(url)
            return value
        if urlsplit(url).scheme not in ("redis", "rediss", "unix"):
            raise ValueError("not a redis:// or redis+sentinel:// URL")
        return value

    @field_validator("meibel_agent_id", "meibel_agent_name", "meibel_api_key", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("agent_routes")
    @classmethod
    def _check_routes(cls, value: str) -> str:
        parse_routes(value)
        return value

    @field_validator("execution_policies")
    @classmethod
    def _check_policies(cls, value: str) -> str:
        parse_policies(value)
        return value

    @field_validator("external_execution_policies")
    @classmethod
    def _check_external_policies(cls, value: str) -> str:
        if value.strip():
            policy_ids(value, what=value)
        return value

    def policy_rules(self) -> PolicyRules:
        return parse_policies(
            self.execution_policies,
            self.external_execution_policies,
            refuse_external=self.refuse_external_users,
        )

    @field_validator("user_rate_limit")
    @classmethod
    def _check_rate(cls, value: str) -> str:
        from bot.ratelimit import RateLimit

        if value.strip():
            RateLimit.parse(value)
        return value.strip()

    @field_validator("ops_port", mode="before")
    @classmethod
    def _blank_port(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value

    # -- derived ------------------------------------------------------------------------
    @property
    def api_key(self) -> str:
        return self.meibel_api_key.get_secret_value() if self.meibel_api_key else ""

    @property
    def redis_dsn(self) -> str | None:
        return self.redis_url.get_secret_value() if self.redis_url else None

    @property
    def job_deadline_seconds(self) -> float:
        """How long one run of a job may take before it ends with an honest notice: the
        agent's turn and one check of its session, each within MEIBEL_TIMEOUT_SECONDS
        (plus a margin), then a minute to post."""
        return 2.0 * (self.meibel_timeout_seconds + 15) + 60.0

    @property
    def start_retries(self) -> StartRetries:
        return StartRetries(tries=self.startup_tries, backoff_seconds=self.startup_backoff_seconds)

    @property
    def default_agent(self) -> AgentRef | None:
        if self.meibel_agent_id:
            return AgentRef("id", self.meibel_agent_id)
        if self.meibel_agent_name:
            return AgentRef("name", self.meibel_agent_name)
        return None

    def identity_options(self) -> IdentityOptions:
        return IdentityOptions(share=self.share_identity, share_email=self.share_user_email)

    def context_limits(self) -> ContextLimits:
        return ContextLimits(
            max_messages=self.thread_context_messages, max_chars=self.thread_context_chars
        )

    def router_routes(self) -> dict[str, str]:
        """AGENT_ROUTES, parsed (validated when the settings were built)."""
        return parse_routes(self.agent_routes)

    def router(self) -> Router:
        default = self.default_agent
        if default is None:
            raise SettingsError(meibel_problems(self))
        return Router(default=default, routes=parse_routes(self.agent_routes))


def meibel_problems(settings: Settings) -> list[str]:
    """What is missing before the bot can talk to Meibel; empty when nothing is."""
    problems: list[str] = []
    if not settings.api_key:
        problems.append("MEIBEL_API_KEY is not set: it should hold your Meibel API key.")
    if settings.meibel_agent_id and settings.meibel_agent_name:
        problems.append(
            "MEIBEL_AGENT_ID and MEIBEL_AGENT_NAME are both set: set exactly one of them."
        )
    elif not settings.default_agent:
        problems.append(
            "MEIBEL_AGENT_ID or MEIBEL_AGENT_NAME is not set: set exactly one, "
            "the id or the kebab-case name of the agent that answers by default."
        )
    return problems


def describe_validation_error(
    exc: ValidationError, fields: Mapping[str, Any], *, secret: frozenset[str] = frozenset()
) -> list[str]:
    """One line per invalid setting: the variable, what it should hold, what it got, and
    why, when a validator of ours said why (e.g. which AGENT_ROUTES entry is bad)."""
    lines: list[str] = []
    for error in exc.errors():
        name = str(error["loc"][0]) if error["loc"] else "?"
        info = fields.get(name)
        wanted = getattr(info, "description", None) or error["msg"]
        got = "" if name in secret else f" (got {error.get('input')!r})"
        why = ""
        if name in EXPLAINED and error["type"] == "value_error":
            why = str(error["msg"]).removeprefix("Value error, ") + "; "
        lines.append(f"{name.upper()} is invalid: {why}it should hold {wanted}{got}.")
    return lines


def load_settings(**overrides: Any) -> Settings:
    """Build the settings; raises SettingsError with one line per invalid variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise SettingsError(
            describe_validation_error(
                exc, Settings.model_fields, secret=frozenset({"meibel_api_key", "redis_url"})
            )
        ) from None
