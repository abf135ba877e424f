"""Who is asking, and where: what the agent is told about the people it answers.

With identity sharing on (SHARE_IDENTITY, the default), a session starts with an
`initial_context` naming the platform, the workspace or guild, the channel, and the asker's
display name and time zone (and email, only with SHARE_USER_EMAIL and, on Slack, the
`users:read.email` scope). Threads have several people, so each later turn names its asker
too (bot.context puts it in the turn's preamble). Off: the agent gets none of it.

Adapters fill in what the platform tells them; anything unknown is left out, never guessed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Asker:
    name: str
    time_zone: str | None = None
    email: str | None = None


@dataclass(frozen=True, slots=True)
class Where:
    """Names of the place a question was asked (ids are the thread key's)."""

    workspace: str | None = None  # the Slack workspace or Discord guild
    channel: str | None = None


@dataclass(frozen=True, slots=True)
class IdentityOptions:
    share: bool = False  # the library default; Settings.share_identity is on by default
    share_email: bool = False

    def asker(self, asker: Asker | None) -> Asker | None:
        """The asker as it may be shared (None when identity sharing is off)."""
        if not self.share or asker is None:
            return None
        return asker if self.share_email or asker.email is None else _without_email(asker)


def initial_context(platform: str, where: Where | None, asker: Asker | None) -> dict[str, Any]:
    """The session's initial_context: only what is known."""
    context: dict[str, Any] = {"platform": platform}
    if where is not None:
        context.update(
            {k: v for k, v in (("workspace", where.workspace), ("channel", where.channel)) if v}
        )
    if asker is not None:
        context["asker"] = {
            k: v
            for k, v in (
                ("name", asker.name),
                ("time_zone", asker.time_zone),
                ("email", asker.email),
            )
            if v
        }
    return context


def _without_email(asker: Asker) -> Asker:
    return Asker(name=asker.name, time_zone=asker.time_zone)
