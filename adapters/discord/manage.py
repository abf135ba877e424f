"""`/meibel settings`: a channel's managers change its settings in chat (bot.channel_settings).

The command answers privately with a panel: the channel's settings now, the last changes
and who made them, and one control per setting (agent, reply mode, answer visibility,
hand-off roles and people, and a button whose form takes the execution policies). Each
change is checked again (Manage Channels or Manage Server, in the channel where it is
made: a click can be forged, a permission cannot), kept with who made it, and the panel
shows what changed. The controls are DynamicItems, so a panel still works after a restart.
A thread's settings are its channel's.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, runtime_checkable

import discord

from adapters.discord import texts
from adapters.discord.answering import Answerer
from adapters.discord.buttons import reply_privately
from adapters.discord.delivery import NO_PINGS
from adapters.discord.inbound import Place
from adapters.discord.place_items import SETTING_PREFIX, SettingControl
from adapters.discord.places import interaction_place
from bot.channel_settings import (
    MAX_HANDOFF,
    ChannelSettings,
    ChannelSettingsBook,
    SettingsInvalid,
    agent_options,
    settings_from,
)
from bot.store.base import StoreError

log = logging.getLogger(__name__)

Interaction = discord.Interaction[Any]
DEFAULT = "default"
AGENTS_SHOWN = 24  # a select holds 25 options; one is "default"
AGENTS_TIMEOUT_SECONDS = 2.0  # the panel must be sent within Discord's 3 seconds
AGENTS_CACHE_SECONDS = 60.0
HISTORY_SHOWN = 5
LINE_LIMIT = 200
CHOICES = {
    "reply": [
        (DEFAULT, "Default: answer when mentioned"),
        ("mention", "Answer only when mentioned"),
        ("questions", "Also answer messages that look like questions"),
    ],
    "visibility": [
        (DEFAULT, "Default: answers for everyone"),
        ("public", "Answers for everyone"),
        ("private", "Answers only the asker sees (with Share)"),
    ],
}


@runtime_checkable
class AgentLister(Protocol):
    """The Meibel client's `GET /agents` (the pipeline's backend may be another)."""

    async def list_agents(self, *, limit: int = 1, offset: int = 0) -> Any: ...


def may_manage(interaction: Interaction) -> bool:
    permissions = interaction.permissions
    return permissions.manage_channels or permissions.manage_guild


class PoliciesModal(discord.ui.Modal, title="Execution policies"):
    policies: discord.ui.TextInput[discord.ui.Modal] = discord.ui.TextInput(
        label="Policy ids (a + b), none, or blank: default",
        required=False,
        max_length=400,
    )

    def __init__(self, current: str, keep: Callable[[Interaction, str], Awaitable[None]]) -> None:
        super().__init__(timeout=15 * 60)
        self.policies.default = current
        self.keep = keep

    async def on_submit(self, interaction: Interaction) -> None:
        await self.keep(interaction, str(self.policies.value))


class SettingsPanel:
    """`/meibel settings` and its controls; `change` is what a control's click calls."""

    def __init__(self, *, client: discord.Client, answerer: Answerer) -> None:
        self.client = client
        self.answerer = answerer
        self._agents: tuple[float, list[tuple[str, str]]] | None = None

    @property
    def book(self) -> ChannelSettingsBook:
        return self.answerer.services.pipeline.places

    async def open(self, interaction: Interaction) -> None:
        """The panel, privately, to a manager; a polite refusal to anyone else."""
        place = await self._managed(interaction)
        if place is None:
            return
        settings = await self.book.get(place.tenant, place.channel)
        content, view = await self._panel(place, settings, note="")
        await interaction.response.send_message(
            content, view=view, ephemeral=True, allowed_mentions=NO_PINGS
        )

    async def change(self, interaction: Interaction, field: str) -> None:
        place = await self._managed(interaction)
        if place is None:
            return
        if field == "policies":
            settings = await self.book.get(place.tenant, place.channel)
            current = "" if settings.policies is None else " + ".join(settings.policies) or "none"

            async def keep(submitted: Interaction, value: str) -> None:
                again = await self._managed(submitted)
                if again is not None:
                    await self._apply(submitted, again, {"policies": value})

            await interaction.response.send_modal(PoliciesModal(current, keep))
            return
        values = _values(interaction)
        if field == "handoff":
            await self._apply(interaction, place, {"handoff": _targets(interaction, values)})
            return
        value = values[0] if values else DEFAULT
        name = {"agent": "agent", "reply": "reply_mode", "visibility": "visibility"}[field]
        await self._apply(interaction, place, {name: "" if value == DEFAULT else value})

    # -- the flow ---------------------------------------------------------------------------
    async def _managed(self, interaction: Interaction) -> Place | None:
        """The place whose settings change, or None once refused (privately)."""
        if interaction.guild_id is None:
            await reply_privately(interaction, texts.SETTINGS_NOT_HERE)
            return None
        if not may_manage(interaction):
            log.info("user %s may not change settings here", interaction.user.id)
            await reply_privately(interaction, texts.SETTINGS_NOT_ALLOWED)
            return None
        place = await interaction_place(self.client, self.answerer, interaction)
        if place is None:
            await reply_privately(interaction, texts.CANNOT_ANSWER_HERE)
        return place

    async def _apply(self, interaction: Interaction, place: Place, update: dict[str, Any]) -> None:
        try:
            old = await self.book.read(place.tenant, place.channel)
        except StoreError as exc:  # never change one setting on top of assumed defaults
            log.warning("could not read the settings of %s: %s", place.channel, exc)
            await reply_privately(interaction, texts.SETTINGS_STORE_DOWN)
            return
        try:
            new = settings_from({**_as_data(old), **update})
        except SettingsInvalid as exc:
            await reply_privately(interaction, texts.SETTINGS_INVALID.format(reason=exc))
            return
        user = interaction.user
        try:
            changes: list[str] = await self.book.put(
                place.tenant, place.channel, new, by=str(user.id), by_name=user.display_name
            )
        except StoreError as exc:
            log.warning("could not keep the settings of %s: %s", place.channel, exc)
            await reply_privately(interaction, texts.SETTINGS_STORE_DOWN)
            return
        note = "Changed: " + "; ".join(changes) if changes else texts.SETTINGS_UNCHANGED
        content, view = await self._panel(place, new, note=note)
        if interaction.message is not None:
            await interaction.response.edit_message(
                content=content, view=view, allowed_mentions=NO_PINGS
            )
        else:
            await interaction.response.send_message(
                content, view=view, ephemeral=True, allowed_mentions=NO_PINGS
            )

    # -- what the panel shows -----------------------------------------------------------------
    async def _panel(
        self, place: Place, settings: ChannelSettings, *, note: str
    ) -> tuple[str, discord.ui.View]:
        lines = [f"**Meibel settings for <#{place.channel}>** (its threads follow it)"]
        lines += [f"- {name}: {_shown(name, value)}" for name, value in settings.describe().items()]
        if note:
            lines.append(f"\n{_cut(note)}")
        try:
            changes = (await self.book.history(place.tenant, channel=place.channel))[:HISTORY_SHOWN]
        except StoreError as exc:
            log.warning("could not read the settings history: %s", exc)
            lines.append("\n_The history of changes is not available right now._")
        else:
            if changes:
                lines.append("\n**Recent changes**")
            for change in changes:
                what = _cut("; ".join(change.changes))
                lines.append(f"- <t:{int(change.at)}:R> by {change.by_name}: {what}")
        return "\n".join(lines)[:2000], await self._view(settings)

    async def _view(self, settings: ChannelSettings) -> discord.ui.View:
        view = discord.ui.View(timeout=None)
        agents = [(v, label) for v, label in await self._agent_choices() if v != settings.agent]
        if settings.agent:
            agents.insert(0, (settings.agent, settings.agent))
        agent_select = _select(
            "agent",
            "Agent",
            [(DEFAULT, "Default agent"), *agents[:AGENTS_SHOWN]],
            settings.agent or DEFAULT,
        )
        view.add_item(SettingControl("agent", agent_select, row=0))
        for row, (field, current) in enumerate(
            [("reply", settings.reply_mode), ("visibility", settings.visibility)], start=1
        ):
            select = _select(field, field.title(), CHOICES[field], current or DEFAULT)
            view.add_item(SettingControl(field, select, row=row))
        people: discord.ui.MentionableSelect[discord.ui.View] = discord.ui.MentionableSelect(
            custom_id=SETTING_PREFIX + "handoff",
            placeholder="Hand-off: who to tag for “I need a person”",
            min_values=0,
            max_values=MAX_HANDOFF,
            default_values=_defaults(settings.handoff),
        )
        view.add_item(SettingControl("handoff", people, row=3))
        button: discord.ui.Button[discord.ui.View] = discord.ui.Button(
            label="Execution policies…", custom_id=SETTING_PREFIX + "policies"
        )
        view.add_item(SettingControl("policies", button, row=4))
        return view

    async def _agent_choices(self) -> list[tuple[str, str]]:
        """The agents of `GET /agents` (kept a minute); none when Meibel does not answer."""
        now = time.monotonic()
        if self._agents is not None and now - self._agents[0] < AGENTS_CACHE_SECONDS:
            return self._agents[1]
        meibel = self.answerer.services.pipeline.meibel
        if not isinstance(meibel, AgentLister):
            return []
        try:
            async with asyncio.timeout(AGENTS_TIMEOUT_SECONDS):
                listing = await meibel.list_agents(limit=AGENTS_SHOWN)
        except Exception as exc:  # the panel works without the list: default and current
            log.warning("could not list the agents: %s", type(exc).__name__)
            return []
        self._agents = (now, agent_options(listing))
        return self._agents[1]


def _as_data(settings: ChannelSettings) -> dict[str, Any]:
    return {
        "agent": settings.agent or "",
        "reply_mode": settings.reply_mode or "",
        "visibility": settings.visibility or "",
        "policies": None if settings.policies is None else list(settings.policies),
        "handoff": list(settings.handoff),
    }


def _values(interaction: Interaction) -> list[str]:
    data: Any = interaction.data or {}
    values = data.get("values") if isinstance(data, dict) else None
    return [str(v) for v in values] if isinstance(values, list) else []


def _targets(interaction: Interaction, values: list[str]) -> list[str]:
    """Picked ids as hand-off targets: a role is "role:<id>", anyone else "user:<id>"."""
    data: Any = interaction.data or {}
    roles = (data.get("resolved") or {}).get("roles") or {}
    return [f"role:{v}" if v in roles else f"user:{v}" for v in values]


def _defaults(targets: tuple[str, ...]) -> list[discord.SelectDefaultValue]:
    kinds = {
        "role": discord.SelectDefaultValueType.role,
        "user": discord.SelectDefaultValueType.user,
    }
    found: list[discord.SelectDefaultValue] = []
    for target in targets:
        kind, _, ident = target.partition(":")
        if kind in kinds and ident.isdigit():
            found.append(discord.SelectDefaultValue(id=int(ident), type=kinds[kind]))
    return found


def _select(
    field: str, placeholder: str, choices: list[tuple[str, str]], current: str
) -> discord.ui.Select[discord.ui.View]:
    options = [
        discord.SelectOption(label=label[:100], value=value[:100], default=value == current)
        for value, label in choices
    ]
    return discord.ui.Select(
        custom_id=SETTING_PREFIX + field, placeholder=placeholder, options=options
    )


def _shown(name: str, value: str) -> str:
    """A setting as people read it: hand-off targets as (silent) mentions."""
    if name != "hand-off" or value == "nobody":
        return value
    shown = []
    for target in value.split(", "):
        kind, _, ident = target.partition(":")
        shown.append(
            f"<@&{ident}>" if kind == "role" else f"<@{ident}>" if kind == "user" else target
        )
    return " ".join(shown)


def _cut(text: str) -> str:
    return text if len(text) <= LINE_LIMIT else text[: LINE_LIMIT - 1] + "…"
