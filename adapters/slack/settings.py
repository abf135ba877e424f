"""Slack settings, read from the environment and `.env` like the core's."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings

from bot.settings import SettingsError, describe_validation_error, env_config

DEFAULT_API_URL = "https://slack.com/api/"
# The entry in SLACK_ALLOWED_CHANNELS that lets direct messages (and assistant threads) in.
DM_ENTRY = "dm"
_SECRETS = frozenset({"slack_bot_token", "slack_signing_secret", "slack_app_token"})
# native: Slack's chat streaming (chat.startStream), falling back to edits where refused;
# edit: one message edited as the text grows.
StreamingMode = Literal["native", "edit"]


class SlackSettings(BaseSettings):
    model_config = env_config()

    slack_bot_token: SecretStr | None = Field(
        None,
        description="the Bot User OAuth Token (xoxb-...) from the app's OAuth & Permissions page",
    )
    slack_signing_secret: SecretStr | None = Field(
        None, description="the Signing Secret from the app's Basic Information page (HTTP mode)"
    )
    slack_app_token: SecretStr | None = Field(
        None, description="an app-level token (xapp-...) with connections:write, for Socket Mode"
    )
    slack_api_url: str = Field(
        DEFAULT_API_URL, description="the Slack Web API base URL, e.g. https://slack.com/api/"
    )
    slack_allowed_channels: str = Field(
        "", description="comma-separated channel ids (C..., G...) and/or `dm`; empty allows all"
    )
    slack_reply_without_mention: bool = Field(
        True, description="true or false: answer later messages in a thread without a mention"
    )
    slack_streaming: bool | None = Field(
        None, description="on or off: show answers as they are written; unset follows STREAMING"
    )
    slack_streaming_mode: StreamingMode = Field(
        "native", description="native (Slack's chat streaming) or edit (one edited message)"
    )
    slack_admin_users: str = Field(
        "",
        description="comma-separated user ids (U...) who may change channel settings with "
        "/meibel settings, besides workspace admins",
    )
    slack_rate_processes: int = Field(
        1,
        ge=1,
        description="how many bot processes share the workspace's Slack rate limits (each "
        "keeps to its share); 1 for one process",
    )
    slack_posts_per_minute: float = Field(
        300.0,
        gt=0,
        description="messages a minute the workspace may receive from the bot in all "
        "(Slack: several hundred; besides about one a second per channel)",
    )
    port: int = Field(3000, ge=0, le=65535, description="the HTTP port, 0-65535")

    @field_validator("slack_bot_token", "slack_signing_secret", "slack_app_token", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("slack_streaming", mode="before")
    @classmethod
    def _blank_follows_core(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("slack_streaming_mode", mode="before")
    @classmethod
    def _lower_mode(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("slack_bot_token")
    @classmethod
    def _bot_token_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().strip().startswith("xoxb-"):
            raise ValueError("not a bot token")
        return SecretStr(value.get_secret_value().strip()) if value is not None else None

    @field_validator("slack_app_token")
    @classmethod
    def _app_token_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().strip().startswith("xapp-"):
            raise ValueError("not an app-level token")
        return SecretStr(value.get_secret_value().strip()) if value is not None else None

    @field_validator("slack_api_url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        value = value.strip()
        if not value.startswith(("http://", "https://")):
            raise ValueError("not an http(s) URL")
        # AsyncWebClient joins method names onto the base URL, so it must end with "/".
        return value if value.endswith("/") else value + "/"

    # -- derived ------------------------------------------------------------------------
    @property
    def bot_token(self) -> str:
        return self.slack_bot_token.get_secret_value() if self.slack_bot_token else ""

    @property
    def signing_secret(self) -> str:
        return self.slack_signing_secret.get_secret_value() if self.slack_signing_secret else ""

    @property
    def app_token(self) -> str:
        return self.slack_app_token.get_secret_value() if self.slack_app_token else ""

    @property
    def socket_mode(self) -> bool:
        return bool(self.app_token)

    @property
    def allowed_channels(self) -> frozenset[str]:
        """Channel ids (and possibly `dm`) the bot answers in; empty means everywhere."""
        return frozenset(
            entry.strip().lstrip("#") if entry.strip().lower() != DM_ENTRY else DM_ENTRY
            for entry in self.slack_allowed_channels.replace("\n", ",").split(",")
            if entry.strip()
        )

    @property
    def admin_users(self) -> frozenset[str]:
        """SLACK_ADMIN_USERS: who may change channel settings besides workspace admins."""
        return frozenset(
            entry.strip()
            for entry in self.slack_admin_users.replace("\n", ",").split(",")
            if entry.strip()
        )

    def streaming_enabled(self, core_default: bool) -> bool:
        """SLACK_STREAMING when set, else the core's STREAMING."""
        return core_default if self.slack_streaming is None else self.slack_streaming

    def channel_allowed(self, channel: str, *, is_dm: bool) -> bool:
        allowed = self.allowed_channels
        if not allowed:
            return True
        return channel in allowed or (is_dm and DM_ENTRY in allowed)

    def secrets(self) -> list[str]:
        """Every secret, for the log redaction filter."""
        return [s for s in (self.bot_token, self.signing_secret, self.app_token) if s]


def slack_problems(settings: SlackSettings) -> list[str]:
    """What is missing before the Slack bot can run; empty when nothing is."""
    problems: list[str] = []
    if not settings.bot_token:
        problems.append(
            "SLACK_BOT_TOKEN is not set: it should hold the Bot User OAuth Token (xoxb-...) "
            "from your Slack app's OAuth & Permissions page."
        )
    if not settings.socket_mode and not settings.signing_secret:
        problems.append(
            "SLACK_SIGNING_SECRET is not set: HTTP mode needs the Signing Secret from your "
            "Slack app's Basic Information page (or set SLACK_APP_TOKEN for Socket Mode)."
        )
    return problems


def load_slack_settings(**overrides: Any) -> SlackSettings:
    """Build the settings; raises SettingsError with one line per invalid variable."""
    try:
        return SlackSettings(**overrides)
    except ValidationError as exc:
        raise SettingsError(
            describe_validation_error(exc, SlackSettings.model_fields, secret=_SECRETS)
        ) from None


def require_slack_settings(**overrides: Any) -> SlackSettings:
    """Settings that can run the bot, or SettingsError naming every missing variable."""
    settings = load_slack_settings(**overrides)
    problems = slack_problems(settings)
    if problems:
        raise SettingsError(problems)
    return settings
