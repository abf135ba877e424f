"""The server, channels, roles and people every Discord test talks about."""

from __future__ import annotations

from dataclasses import dataclass, field

from tests.discord.fakes import payloads as p
from tests.discord.fakes.payloads import Json


@dataclass
class World:
    app_id: int = field(default_factory=p.snowflake)
    bot_id: int = field(default_factory=p.snowflake)
    guild_id: int = field(default_factory=p.snowflake)
    general_id: int = field(default_factory=p.snowflake)  # where the bot may answer
    offtopic_id: int = field(default_factory=p.snowflake)  # outside the channel allow-list
    member_role_id: int = field(default_factory=p.snowflake)  # on the role allow-list
    guest_role_id: int = field(default_factory=p.snowflake)
    alice_id: int = field(default_factory=p.snowflake)
    bob_id: int = field(default_factory=p.snowflake)
    other_bot_id: int = field(default_factory=p.snowflake)

    @property
    def bot(self) -> Json:
        return p.user(self.bot_id, "meibel", bot=True)

    @property
    def alice(self) -> Json:
        return p.user(self.alice_id, "alice")

    @property
    def bob(self) -> Json:
        return p.user(self.bob_id, "bob")

    @property
    def other_bot(self) -> Json:
        return p.user(self.other_bot_id, "otherbot", bot=True)

    def roles_of(self, user_id: int) -> list[int]:
        """Alice has the allowed role; Bob is only a guest."""
        return [self.member_role_id] if user_id == self.alice_id else [self.guest_role_id]

    def permissions_of(self, user_id: int) -> str:
        """Alice manages the server (and its channels); Bob is a plain member."""
        return p.ALL_PERMISSIONS if user_id == self.alice_id else p.MEMBER_PERMISSIONS

    def channels(self) -> list[Json]:
        return [
            p.text_channel(self.general_id, guild_id=self.guild_id, name="general"),
            p.text_channel(self.offtopic_id, guild_id=self.guild_id, name="off-topic"),
        ]

    def guild(self, *, threads: list[Json]) -> Json:
        people = [self.bot, self.alice, self.bob, self.other_bot]
        return p.guild(
            self.guild_id,
            name="Meibel Test Server",
            owner_id=self.alice_id,
            roles=[
                p.role(self.member_role_id, "members", position=1),
                p.role(self.guest_role_id, "guests", position=2),
            ],
            channels=self.channels(),
            members=[p.member(u, roles=self.roles_of(int(u["id"]))) for u in people],
            threads=threads,
        )
