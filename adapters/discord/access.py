"""Allow-lists: where the bot may answer, and who may ask it."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from adapters.discord import texts
from adapters.discord.inbound import Place


@dataclass(frozen=True, slots=True)
class AllowList:
    """Empty sets allow everything; a thread counts as its parent channel.

    With any allow-list set, direct messages are refused: a DM has no channel in the list
    and no roles to check, and a restricted bot must not answer where nobody can see it
    was asked.
    """

    channels: frozenset[int] = frozenset()
    roles: frozenset[int] = frozenset()

    @classmethod
    def of(cls, *, channels: Collection[int], roles: Collection[int]) -> AllowList:
        return cls(frozenset(channels), frozenset(roles))

    @property
    def restricted(self) -> bool:
        return bool(self.channels or self.roles)

    def refusal(self, place: Place, *, roles: Collection[int] | None) -> str | None:
        """The private explanation when the asker may not ask here; None when they may."""
        if place.is_dm:
            return texts.DM_NOT_ALLOWED if self.restricted else None
        if self.channels and int(place.channel) not in self.channels:
            return texts.CHANNEL_NOT_ALLOWED
        if self.roles and not self.roles.intersection(roles or ()):
            return texts.ROLE_NOT_ALLOWED
        return None
