"""Discord settings, read from the environment and `.env` like the core's."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode

from bot.settings import SettingsError, describe_validation_error, env_config

# Lists come as comma-separated ids in the environment, not JSON: NoDecode lets the
# validator below split them.
IdList = Annotated[list[int], NoDecode]


class DiscordSettings(BaseSettings):
    """What the Discord adapter needs; only the token is required."""

    model_config = env_config()

    discord_token: SecretStr | None = Field(
        None, description="the bot token (Developer Portal -> your application -> Bot)"
    )
    discord_guild_ids: IdList = Field(
        default_factory=list,
        description="comma-separated server (guild) ids to sync commands to at once",
    )
    discord_allowed_channel_ids: IdList = Field(
        default_factory=list, description="comma-separated channel ids the bot may answer in"
    )
    discord_allowed_role_ids: IdList = Field(
        default_factory=list, description="comma-separated role ids allowed to ask the bot"
    )
    discord_reply_without_mention: bool = Field(
        True, description="true or false: answer in the bot's threads without a mention"
    )
    discord_streaming: bool | None = Field(
        None,
        description="on or off: show answers as the agent writes them (unset: STREAMING)",
    )
    discord_shard_count: int | None = Field(
        None, ge=1, description="the total number of shards, a whole number of at least 1"
    )
    discord_shard_ids: IdList = Field(
        default_factory=list, description="comma-separated shard ids this process runs"
    )

    @field_validator(
        "discord_guild_ids",
        "discord_allowed_channel_ids",
        "discord_allowed_role_ids",
        "discord_shard_ids",
        mode="before",
    )
    @classmethod
    def _split_ids(cls, value: Any) -> Any:
        if isinstance(value, str):
            parts = [p.strip() for p in value.replace("\n", ",").split(",")]
            return [p for p in parts if p]
        if isinstance(value, int):
            return [value]
        return value

    @field_validator("discord_token", "discord_shard_count", "discord_streaming", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    # -- derived ------------------------------------------------------------------------
    @property
    def token(self) -> str:
        return self.discord_token.get_secret_value().strip() if self.discord_token else ""

    def streaming(self, *, default: bool) -> bool:
        """DISCORD_STREAMING when set, else the core's STREAMING (`default`)."""
        return default if self.discord_streaming is None else self.discord_streaming

    @property
    def needs_message_content(self) -> bool:
        """Mentions, DMs and commands carry content without the privileged intent; plain
        replies in the bot's threads do not."""
        return self.discord_reply_without_mention


def shard_problems(settings: DiscordSettings) -> list[str]:
    """What is wrong with the shard settings together; empty when nothing is."""
    ids, count = settings.discord_shard_ids, settings.discord_shard_count
    if not ids:
        return []
    if count is None:
        return [
            "DISCORD_SHARD_IDS is set without DISCORD_SHARD_COUNT: set both, "
            "or neither to let Discord choose."
        ]
    bad = [i for i in ids if not 0 <= i < count]
    if bad:
        return [
            f"DISCORD_SHARD_IDS holds {bad}: shard ids run from 0 to {count - 1} "
            "(DISCORD_SHARD_COUNT minus one)."
        ]
    return []


def load_discord_settings(**overrides: Any) -> DiscordSettings:
    """Build the settings; raises SettingsError with one line per invalid variable."""
    try:
        settings = DiscordSettings(**overrides)
    except ValidationError as exc:
        raise SettingsError(
            describe_validation_error(
                exc, DiscordSettings.model_fields, secret=frozenset({"discord_token"})
            )
        ) from None
    problems = shard_problems(settings)
    if problems:
        raise SettingsError(problems)
    return settings
