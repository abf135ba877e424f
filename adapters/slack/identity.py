"""Who asks and where, as Slack tells it: for the session's initial_context (bot.identity).

The asker's display name and time zone come from `users.info` (`users:read`), their email
only with SHARE_USER_EMAIL and the `users:read.email` scope; the channel's name from
`conversations.info` (`channels:read`; a private channel's name is left out); the
workspace's name from `auth.test`. Each is cached per process for CACHE_SECONDS. Best
effort: whatever Slack refuses, does not answer in time, or has no rate-limit budget for
right now is left out.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.errors import TRANSPORT_ERRORS, slack_error
from adapters.slack.ratelimits import CallSkipped, optional
from bot.domain import Question
from bot.identity import Asker, IdentityOptions, Where

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Role:
    admin: bool = False  # a workspace admin or owner
    guest: bool = False  # a multi- or single-channel guest


@dataclass(frozen=True, slots=True)
class _Known:
    asker: Asker | None
    role: Role


LOOKUP_SECONDS = 5.0
CACHE_SECONDS = 3600.0
CACHED = 4096


class SlackIdentity:
    def __init__(self, client: AsyncWebClient, *, options: IdentityOptions) -> None:
        self.client = client
        self.options = options
        self.workspace_name: str | None = None  # from auth.test, set by the app
        self.workspace_url: str | None = None  # likewise: links to threads (App Home)
        self._cache: dict[tuple[str, str], tuple[float, Any]] = {}

    async def fill(self, question: Question) -> Question:
        """`question` with its asker and place named (when identity sharing is on), and
        marked shared when a guest account asks (guests reach what outsiders reach)."""
        if question.asker is not None:
            return question
        try:
            async with asyncio.timeout(LOOKUP_SECONDS):
                known = await self._cached("user", question.user, self._asker)
                channel = (
                    await self._cached("channel", question.channel, self._channel)
                    if self.options.share
                    else None
                )
        except TimeoutError:
            log.info("Slack did not say in time who asks in %s", question.thread_key)
            return question
        known = known if isinstance(known, _Known) else _Known(None, Role())
        update: dict[str, object] = {"shared": question.shared or known.role.guest}
        if self.options.share:
            update |= {
                "asker": known.asker,
                "where": Where(workspace=self.workspace_name, channel=channel),
            }
        return question.model_copy(update=update)

    async def display_name(self, user: str) -> str:
        """The user's display name (cached); their id when Slack will not say."""
        known = await self._cached("user", user, self._asker)
        return known.asker.name if isinstance(known, _Known) and known.asker else user

    async def role(self, user: str) -> Role:
        """Whether the user is a workspace admin (or owner) or a guest, per `users.info`
        (cached); neither when Slack will not say."""
        info = await self._cached("user", user, self._asker)
        return info.role if isinstance(info, _Known) else Role()

    async def _cached(self, kind: str, key: str, look: Any) -> Any:
        now = time.monotonic()
        hit = self._cache.get((kind, key))
        if hit is not None and hit[0] > now:
            return hit[1]
        try:
            with optional():  # best effort: never wait for a rate-limit budget
                value = await look(key)
        except CallSkipped:
            return None  # not cached: asked again when Slack's budget has room
        except SlackApiError as exc:
            log.info("%s lookup refused: %s", kind, slack_error(exc))
            value = None
        except TRANSPORT_ERRORS as exc:
            log.info("%s lookup failed: %s", kind, type(exc).__name__)
            return None  # not cached: try again next time
        if len(self._cache) >= CACHED:
            self._cache.clear()
        self._cache[(kind, key)] = (now + CACHE_SECONDS, value)
        return value

    async def _asker(self, user: str) -> _Known | None:
        response = await self.client.users_info(user=user)
        info = response.get("user") or {}
        role = Role(
            admin=any(info.get(flag) is True for flag in ("is_admin", "is_owner")),
            guest=any(info.get(flag) is True for flag in ("is_restricted", "is_ultra_restricted")),
        )
        profile = info.get("profile") or {}
        name = next(
            (
                n.strip()
                for n in (
                    profile.get("display_name"),
                    profile.get("real_name"),
                    info.get("real_name"),
                    info.get("name"),
                )
                if isinstance(n, str) and n.strip()
            ),
            None,
        )
        email = profile.get("email") if self.options.share_email else None
        tz = info.get("tz")
        asker = Asker(
            name=name or user,
            time_zone=tz if isinstance(tz, str) and tz else None,
            email=email if isinstance(email, str) and email else None,
        )
        return _Known(asker if name else None, role)

    async def _channel(self, channel: str) -> str | None:
        if channel.startswith("D"):
            return None  # a direct message has no name
        response = await self.client.conversations_info(channel=channel)
        name = (response.get("channel") or {}).get("name")
        return f"#{name}" if isinstance(name, str) and name else None
