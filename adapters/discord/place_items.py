"""The components a channel's settings add, kept working after a restart (DynamicItems).

- "Share with the channel" under a private answer: "meibel:share:<key>", <key> names the
  answer kept in the store (adapters.discord.sharing);
- "I need a person" under an answer where the channel has hand-off targets, and "Mark
  resolved" under the call for help it posts: "meibel:help:<channel>:<message>" and
  "meibel:solved:<channel>:<message>", the question's message (0: none) to react on;
- the controls of `/meibel settings`: "meibel:set:<field>", the field they change.

A click goes to the client's `meibel_places` (PlaceHandler), which checks who may do it:
a custom_id says what to do, never who may.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import discord

from adapters.discord.buttons import UNAVAILABLE, reply_privately
from bot.replies import INTERNAL

log = logging.getLogger(__name__)

HANDLER_ATTRIBUTE = "meibel_places"
SHARE_PREFIX = "meibel:share:"
HELP_PREFIX = "meibel:help:"
SOLVED_PREFIX = "meibel:solved:"
SETTING_PREFIX = "meibel:set:"
SETTING_FIELDS = ("agent", "reply", "visibility", "handoff", "policies")
_KEY = r"[0-9a-f]{16}"
_ID = r"[0-9]{1,20}"


@runtime_checkable
class PlaceHandler(Protocol):
    async def on_share(self, interaction: discord.Interaction, key: str) -> None: ...

    async def on_handoff(
        self, interaction: discord.Interaction, channel_id: int, message_id: int
    ) -> None: ...

    async def on_resolved(
        self, interaction: discord.Interaction, channel_id: int, message_id: int
    ) -> None: ...

    async def on_setting(self, interaction: discord.Interaction, field: str) -> None: ...


class ShareButton(
    discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]],
    template=rf"{SHARE_PREFIX}(?P<key>{_KEY})",
):
    """Posts a private answer in the channel for everyone (once)."""

    def __init__(self, key: str) -> None:
        if re.fullmatch(_KEY, key) is None:
            raise ValueError(f"bad share key {key!r}")
        super().__init__(
            discord.ui.Button(
                style=discord.ButtonStyle.primary,
                label="Share with the channel",
                custom_id=SHARE_PREFIX + key,
            )
        )
        self.key = key

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> ShareButton:
        return cls(match["key"])

    async def callback(self, interaction: discord.Interaction) -> None:
        await _dispatch(interaction, "share", lambda h: h.on_share(interaction, self.key))


class _MessageButton(
    discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]],
    template=r"(?!)",  # only the subclasses are registered
):
    """A button about one question message (channel and message id; 0: none)."""

    PREFIX, LABEL, EMOJI = "", "", ""
    STYLE = discord.ButtonStyle.secondary

    def __init__(self, channel_id: int, message_id: int) -> None:
        super().__init__(
            discord.ui.Button(
                style=self.STYLE,
                label=self.LABEL,
                emoji=self.EMOJI,
                custom_id=f"{self.PREFIX}{channel_id}:{message_id}",
            )
        )
        self.channel_id, self.message_id = channel_id, message_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> _MessageButton:
        return cls(int(match["channel"]), int(match["message"]))


class HandoffButton(
    _MessageButton, template=rf"{HELP_PREFIX}(?P<channel>{_ID}):(?P<message>{_ID})"
):
    """ "I need a person": tags the channel's hand-off roles and people in the thread."""

    PREFIX, LABEL, EMOJI = HELP_PREFIX, "I need a person", "🙋"

    async def callback(self, interaction: discord.Interaction) -> None:
        channel, message = self.channel_id, self.message_id
        await _dispatch(
            interaction, "hand-off", lambda h: h.on_handoff(interaction, channel, message)
        )


class ResolvedButton(
    _MessageButton, template=rf"{SOLVED_PREFIX}(?P<channel>{_ID}):(?P<message>{_ID})"
):
    """ "Mark resolved" under a call for help."""

    PREFIX, LABEL, EMOJI = SOLVED_PREFIX, "Mark resolved", "✅"
    STYLE = discord.ButtonStyle.success

    async def callback(self, interaction: discord.Interaction) -> None:
        channel, message = self.channel_id, self.message_id
        await _dispatch(
            interaction, "resolved", lambda h: h.on_resolved(interaction, channel, message)
        )


class SettingControl(
    discord.ui.DynamicItem[discord.ui.Item[discord.ui.View]],
    template=rf"{SETTING_PREFIX}(?P<field>{'|'.join(SETTING_FIELDS)})",
):
    """A select or button of the `/meibel settings` panel; what it holds comes with the
    click (interaction.data), so the panel needs nothing from memory."""

    def __init__(
        self, field: str, item: discord.ui.Item[discord.ui.View], *, row: int | None = None
    ) -> None:
        super().__init__(item, row=row)
        self.field = field

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> SettingControl:
        return cls(match["field"], item)

    async def callback(self, interaction: discord.Interaction) -> None:
        await _dispatch(interaction, "setting", lambda h: h.on_setting(interaction, self.field))


@dataclass(frozen=True, slots=True)
class Extras:
    """The buttons a channel's settings add under an answer."""

    share_key: str | None = None
    handoff: tuple[int, int] | None = None  # the question's (channel, message)

    def items(self) -> list[discord.ui.Item[Any]]:
        found: list[discord.ui.Item[Any]] = []
        if self.share_key is not None:
            found.append(ShareButton(self.share_key))
        if self.handoff is not None:
            found.append(HandoffButton(*self.handoff))
        return found


NO_EXTRAS = Extras()


def register_place_items(client: discord.Client) -> None:
    client.add_dynamic_items(ShareButton, HandoffButton, ResolvedButton, SettingControl)


async def _dispatch(interaction: discord.Interaction, kind: str, call: Any) -> None:
    handler = getattr(interaction.client, HANDLER_ATTRIBUTE, None)
    if not isinstance(handler, PlaceHandler):
        log.warning("%s clicked, but client.%s is not set", kind, HANDLER_ATTRIBUTE)
        await reply_privately(interaction, UNAVAILABLE)
        return
    try:
        await call(handler)
    except Exception:
        log.exception("%s handler failed", kind)
        await reply_privately(interaction, INTERNAL.text)
