"""Per-channel settings, changed in chat by the channel's managers, kept in the store.

A channel's settings override the environment's defaults for that channel only:

- `agent`: the agent new threads start with (an AgentRef, picked from `GET /agents`);
- `reply_mode`: `mention` (only when addressed) or `questions` (also messages that look
  like questions, without a mention);
- `visibility`: `public`, or `private` (the answer is shown to the asker alone, with a
  "Share with the channel" button);
- `policies`: the Meibel execution policies new sessions start with;
- `handoff`: who is tagged when someone clicks "I need a person" (platform mention
  targets: `user:<id>`, `group:<id>` for a Slack user group, `role:<id>` for a Discord role).

Unset (None / empty) means "the environment's default". Every change is appended to the
workspace's change log with who made it. Settings are read through a short in-process
cache (CACHE_SECONDS): a change made in this process applies at once, one made in another
process of the fleet within that time. A store that cannot be read gives the defaults (and
a warning), so an outage never stops answers.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from bot.domain import Tenant
from bot.policies import policy_ids
from bot.routing import AgentRef
from bot.store.base import Store, StoreError

log = logging.getLogger(__name__)

ReplyMode = Literal["mention", "questions"]
Visibility = Literal["public", "private"]
REPLY_MODES: tuple[ReplyMode, ...] = ("mention", "questions")
VISIBILITIES: tuple[Visibility, ...] = ("public", "private")
HANDOFF_KINDS = ("user", "group", "role")
MAX_HANDOFF = 10

CACHE_SECONDS = 5.0
# The store keeps nothing without a TTL; settings live until changed (ten years).
KEEP_SECONDS = 10 * 365 * 86400
CHANGES_KEEP_DAYS = 365
ANY_SET = "channel-settings-any"  # set once any channel of the workspace has settings
# Question words that start a question someone did not end with "?".
_ASKING = frozenset(
    {
        *("who", "what", "when", "where", "why", "how", "which", "whose", "whom", "can"),
        *("could", "does", "do", "did", "is", "are", "was", "were", "will", "would"),
        *("should", "shall", "may", "might", "has", "have"),
    }
)


class SettingsInvalid(ValueError):
    """A submitted value that cannot be kept; the message says which and why."""


@dataclass(frozen=True, slots=True)
class ChannelSettings:
    agent: str | None = None  # str(AgentRef)
    reply_mode: ReplyMode | None = None
    visibility: Visibility | None = None
    policies: tuple[str, ...] | None = None  # () is "none"; None is the default
    handoff: tuple[str, ...] = ()

    @property
    def agent_ref(self) -> AgentRef | None:
        return AgentRef.parse(self.agent) if self.agent else None

    def answers_questions(self, default: bool = False) -> bool:
        return default if self.reply_mode is None else self.reply_mode == "questions"

    def private(self) -> bool:
        return self.visibility == "private"

    def encode(self) -> str:
        """What is set, as JSON; `policies: []` (none at all) is kept, unlike a default."""
        data = {k: v for k, v in dataclasses.asdict(self).items() if v is not None}
        if not self.handoff:
            del data["handoff"]
        return json.dumps(data, sort_keys=True)

    @classmethod
    def decode(cls, raw: str) -> ChannelSettings:
        """What `encode` wrote; ValueError for anything else."""
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise ValueError("channel settings must be an object")
        return settings_from(data)

    def describe(self) -> dict[str, str]:
        """Each setting in words, for logs of changes and for people."""
        return {
            "agent": self.agent or "default",
            "reply mode": self.reply_mode or "default",
            "visibility": self.visibility or "default",
            "policies": "default"
            if self.policies is None
            else (" + ".join(self.policies) or "none"),
            "hand-off": ", ".join(self.handoff) or "nobody",
        }

    def changes_from(self, old: ChannelSettings) -> list[str]:
        """`name: old -> new` for each setting that differs."""
        before, after = old.describe(), self.describe()
        return [
            f"{name}: {before[name]} -> {after[name]}"
            for name in after
            if before[name] != after[name]
        ]


def settings_from(data: Mapping[str, Any]) -> ChannelSettings:
    """Settings from submitted or stored values; SettingsInvalid names a bad one.

    Empty strings and missing keys mean "the default"."""
    agent = _text(data.get("agent"))
    if agent:
        try:
            agent = str(AgentRef.parse(agent))
        except ValueError as exc:
            raise SettingsInvalid(f"agent: {exc}") from None
    reply_mode = _text(data.get("reply_mode")) or None
    if reply_mode is not None and reply_mode not in REPLY_MODES:
        raise SettingsInvalid(f"reply mode: expected one of {', '.join(REPLY_MODES)}")
    visibility = _text(data.get("visibility")) or None
    if visibility is not None and visibility not in VISIBILITIES:
        raise SettingsInvalid(f"visibility: expected one of {', '.join(VISIBILITIES)}")
    return ChannelSettings(
        agent=agent or None,
        reply_mode=reply_mode,
        visibility=visibility,
        policies=parse_policy_field(data.get("policies")),
        handoff=parse_handoff(data.get("handoff") or ()),
    )


def parse_policy_field(value: object) -> tuple[str, ...] | None:
    """Policy ids as typed (`pol_a + pol_b`, or `pol_a, pol_b`) or stored (a list); blank
    is the default (None), `none` is no policy at all."""
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        text = "+".join(str(part) for part in value)
        if not text:
            return ()
    else:
        text = _text(value)
        if not text:
            return None
    if text.strip().lower() == "none":
        return ()
    try:
        return policy_ids(text.replace(",", "+"), what=text)
    except ValueError as exc:
        raise SettingsInvalid(f"policies: {exc}") from None


def parse_handoff(values: object) -> tuple[str, ...]:
    if not isinstance(values, (list, tuple)):
        raise SettingsInvalid("hand-off: expected a list of people or groups")
    targets: list[str] = []
    for value in values:
        kind, sep, ident = str(value).partition(":")
        if not sep or kind not in HANDOFF_KINDS or not ident.isalnum():
            raise SettingsInvalid(f"hand-off: {str(value)[:40]!r} is not a person or a group")
        if value not in targets:
            targets.append(str(value))
    if len(targets) > MAX_HANDOFF:
        raise SettingsInvalid(f"hand-off: at most {MAX_HANDOFF} people or groups")
    return tuple(targets)


def _text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def looks_like_question(text: str) -> bool:
    """A message that asks something: it ends with "?", or starts with a question word and
    has a few words. Short chatter ("ok?", "lunch?") is not a question to answer."""
    words = text.strip().split()
    if len(words) < 3:
        return False
    first = words[0].lower().strip(",.!:;")
    return text.rstrip().endswith("?") or first in _ASKING


@dataclass(frozen=True, slots=True)
class Change:
    at: float
    channel: str
    by: str  # the person's id
    by_name: str
    changes: tuple[str, ...]


class ChannelSettingsBook:
    """The settings of every channel, read through a short cache, changed with a log."""

    def __init__(self, store: Store, *, cache_seconds: float = CACHE_SECONDS) -> None:
        self.store = store
        self.cache_seconds = cache_seconds
        self._cache: dict[tuple[Tenant, str], tuple[float, ChannelSettings]] = {}
        self._any_cache: dict[Tenant, tuple[float, bool]] = {}

    async def get(self, tenant: Tenant, channel: str) -> ChannelSettings:
        """The channel's settings; the defaults when none are set or the store fails."""
        now = time.monotonic()
        cached = self._cache.get((tenant, channel))
        if cached is not None and now - cached[0] < self.cache_seconds:
            return cached[1]
        try:
            if not await self._any(tenant, now):
                return ChannelSettings()
            raw = await self.store.get_value(tenant, _name(channel))
        except StoreError as exc:
            log.warning("channel settings of %s unreadable, using defaults: %s", channel, exc)
            return cached[1] if cached is not None else ChannelSettings()
        settings = ChannelSettings()
        if raw:
            try:
                settings = ChannelSettings.decode(raw)
            except ValueError as exc:
                log.warning("channel settings of %s unreadable, using defaults: %s", channel, exc)
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[(tenant, channel)] = (now, settings)
        return settings

    async def _any(self, tenant: Tenant, now: float) -> bool:
        """Whether any channel of the workspace has settings (one look per workspace per
        cache period: most workspaces have none, and a question in a channel new to this
        process then costs no store round trip)."""
        known = self._any_cache.get(tenant)
        if known is not None and now - known[0] < self.cache_seconds:
            return known[1]
        found = bool(await self.store.get_value(tenant, ANY_SET))
        if len(self._any_cache) > 10_000:
            self._any_cache.clear()
        self._any_cache[tenant] = (now, found)
        return found

    async def read(self, tenant: Tenant, channel: str) -> ChannelSettings:
        """The channel's settings as the store has them now (no cache), for a change made
        on top of them; StoreError when the store cannot say, so that a change never
        resets the other settings to the defaults."""
        raw = await self.store.get_value(tenant, _name(channel))
        try:
            return ChannelSettings.decode(raw) if raw else ChannelSettings()
        except ValueError as exc:
            log.warning("channel settings of %s unreadable, replaced: %s", channel, exc)
            return ChannelSettings()

    async def put(
        self, tenant: Tenant, channel: str, settings: ChannelSettings, *, by: str, by_name: str
    ) -> list[str]:
        """Keep the channel's new settings and log the change; the changes made (none: nothing
        was written). StoreError when the store cannot keep them (nothing changed then)."""
        old = await self.read(tenant, channel)
        changes = settings.changes_from(old)
        if not changes:
            return []
        await self.store.put_value(tenant, ANY_SET, "1", ttl_seconds=KEEP_SECONDS)
        await self.store.put_value(
            tenant, _name(channel), settings.encode(), ttl_seconds=KEEP_SECONDS
        )
        self._any_cache[tenant] = (time.monotonic(), True)
        self._cache[(tenant, channel)] = (time.monotonic(), settings)
        entry = {"c": channel, "by": by, "name": by_name, "changes": changes}
        await self.store.append_log(
            _log_name(tenant),
            json.dumps(entry),
            at=time.time(),
            keep_seconds=CHANGES_KEEP_DAYS * 86400,
        )
        log.info("settings of %s changed by %s: %s", channel, by, "; ".join(changes))
        return changes

    async def history(self, tenant: Tenant, *, channel: str | None = None) -> list[Change]:
        """The logged changes of the workspace (or one channel), newest first."""
        rows = await self.store.read_log(_log_name(tenant), since=0)
        found: list[Change] = []
        for at, raw in reversed(rows):
            try:
                entry = json.loads(raw)
                change = Change(
                    at=at,
                    channel=str(entry["c"]),
                    by=str(entry["by"]),
                    by_name=str(entry.get("name") or entry["by"]),
                    changes=tuple(str(line) for line in entry["changes"]),
                )
            except (ValueError, KeyError, TypeError):
                continue
            if channel is None or change.channel == channel:
                found.append(change)
        return found

    async def configured(self, tenant: Tenant) -> dict[str, ChannelSettings]:
        """The channels of the workspace whose settings were ever changed, with their
        settings now (most recently changed first)."""
        channels = list(dict.fromkeys(change.channel for change in await self.history(tenant)))
        return {channel: await self.get(tenant, channel) for channel in channels}


def _name(channel: str) -> str:
    return f"channel-settings:{channel}"


def _log_name(tenant: Tenant) -> str:
    return f"channel-settings:{tenant.platform}:{tenant.workspace}"


def agent_options(listing: object) -> list[tuple[str, str]]:
    """(AgentRef text, label) for each agent of a `GET /agents` reply, as given."""
    data = listing.get("data") if isinstance(listing, Mapping) else listing
    options: list[tuple[str, str]] = []
    for item in data if isinstance(data, Sequence) and not isinstance(data, str) else ():
        if not isinstance(item, Mapping):
            continue
        ident, name = item.get("id"), item.get("name")
        label = item.get("display_name") or name or ident
        if isinstance(name, str) and name:
            options.append((f"name:{name}", str(label)))
        elif isinstance(ident, str) and ident:
            options.append((f"id:{ident}", str(label)))
    return options
