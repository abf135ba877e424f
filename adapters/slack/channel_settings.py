"""`/meibel settings`: a channel's managers change how the bot behaves there, in a modal.

Who may: workspace admins and owners (`users.info`), and the members of SLACK_ADMIN_USERS.
The modal offers what bot.channel_settings keeps: the agent (from Meibel's `GET /agents`),
the reply mode, answer visibility, execution policies and hand-off (people, and user groups
from `usergroups.list` when the app has `usergroups:read`). Submitting checks the
permission again, keeps the settings, logs the change with who made it, and tells the
person privately what changed. The modal shows the channel's last changes.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import TYPE_CHECKING, Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.errors import SlackApiError

from adapters.slack.errors import TRANSPORT_ERRORS, slack_error
from adapters.slack.inbound import PLATFORM, parse_command
from adapters.slack.mrkdwn import escape
from bot.channel_settings import (
    Change,
    ChannelSettings,
    SettingsInvalid,
    agent_options,
    settings_from,
)
from bot.domain import Tenant
from bot.meibel.errors import MeibelError
from bot.store.base import StoreError

if TYPE_CHECKING:
    from adapters.slack.app import SlackBot

log = logging.getLogger(__name__)

MEIBEL_COMMAND = "/meibel"
SETTINGS_VIEW = "meibel_channel_settings"
LOOKUP_SECONDS = 2.0  # the modal must open within Slack's 3 s trigger window
MAX_OPTIONS = 100  # a static_select holds at most 100 options
CHANGES_SHOWN = 5
DEFAULT = "default"

USAGE = "Use `/meibel settings` in a channel to change how I answer there (channel managers)."
IN_A_CHANNEL = "Settings belong to a channel: run `/meibel settings` in the channel itself."
NOT_A_MANAGER = (
    "Only workspace admins and the people named in SLACK_ADMIN_USERS can change my "
    "settings in a channel. Ask one of them."
)
UNAVAILABLE = "I cannot reach my settings store right now; nothing was changed. Try again soon."
NO_CHANGE = "Nothing changed in the settings of <#{channel}>."
CHANGED = "Settings of <#{channel}> changed:\n{changes}"

REPLY_MODES = (
    (DEFAULT, "Default (the bot's own setting)"),
    ("mention", "Only when mentioned"),
    ("questions", "Also messages that look like questions, without a mention"),
)
VISIBILITIES = (
    (DEFAULT, "Default (public)"),
    ("public", "Public in the thread"),
    ("private", 'Private to the asker, with "Share with the channel"'),
)


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text[:75] or " "}


def _option(value: str, text: str) -> dict[str, Any]:
    return {"text": _plain(text), "value": value[:150]}


def _choice_input(
    block: str, label: str, options: list[tuple[str, str]], current: str | None, kind: str
) -> dict[str, Any]:
    opts = [_option(value, text) for value, text in options[:MAX_OPTIONS]]
    element: dict[str, Any] = {"type": kind, "action_id": block, "options": opts}
    chosen = next((o for o in opts if o["value"] == (current or DEFAULT)), None)
    if chosen is not None:
        element["initial_option"] = chosen
    return {
        "type": "input",
        "block_id": block,
        "optional": True,
        "label": _plain(label),
        "element": element,
    }


def settings_view(
    *,
    channel: str,
    current: ChannelSettings,
    agents: list[tuple[str, str]],
    groups: list[tuple[str, str]] | None,
    changes: list[Change],
) -> dict[str, Any]:
    """The modal: one input per setting, filled with the channel's settings now."""
    agent_choices = [(DEFAULT, "Default (the bot's own setting)"), *agents]
    if current.agent and all(value != current.agent for value, _ in agent_choices):
        agent_choices.append((current.agent, current.agent))  # kept, though no longer listed
    people = [t.partition(":")[2] for t in current.handoff if t.startswith("user:")]
    blocks: list[dict[str, Any]] = [
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": f"Settings of <#{channel}>: they override the bot's defaults here.",
            },
        },
        _choice_input("agent", "Agent", agent_choices, current.agent, "static_select"),
        _choice_input(
            "reply_mode", "When I answer", list(REPLY_MODES), current.reply_mode, "radio_buttons"
        ),
        _choice_input(
            "visibility",
            "Who sees answers",
            list(VISIBILITIES),
            current.visibility,
            "radio_buttons",
        ),
        {
            "type": "input",
            "block_id": "policies",
            "optional": True,
            "label": _plain("Execution policies"),
            "hint": _plain("Policy ids joined by + (blank: the default; none: no policy)"),
            "element": {
                "type": "plain_text_input",
                "action_id": "policies",
                **(
                    {"initial_value": " + ".join(current.policies) or "none"}
                    if current.policies is not None
                    else {}
                ),
            },
        },
        {
            "type": "input",
            "block_id": "handoff_people",
            "optional": True,
            "label": _plain('"I need a person" tags these people'),
            "element": {
                "type": "multi_users_select",
                "action_id": "handoff_people",
                **({"initial_users": people} if people else {}),
            },
        },
    ]
    if groups:
        opts = [_option(f"group:{ident}", name) for ident, name in groups[:MAX_OPTIONS]]
        chosen = [o for o in opts if o["value"] in current.handoff]
        blocks.append(
            {
                "type": "input",
                "block_id": "handoff_groups",
                "optional": True,
                "label": _plain('"I need a person" tags these groups'),
                "element": {
                    "type": "multi_static_select",
                    "action_id": "handoff_groups",
                    "options": opts,
                    **({"initial_options": chosen} if chosen else {}),
                },
            }
        )
    if changes:
        lines = [
            f"<!date^{int(c.at)}^{{date_short}} {{time}}|{time.ctime(c.at)}>: "
            f"{escape(c.by_name)}: {escape('; '.join(c.changes))}"
            for c in changes[:CHANGES_SHOWN]
        ]
        blocks.append(
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": "\n".join(lines)[:3000]}],
            }
        )
    return {
        "type": "modal",
        "callback_id": SETTINGS_VIEW,
        "private_metadata": json.dumps({"c": channel}),
        "title": _plain("Meibel settings"),
        "submit": _plain("Save"),
        "close": _plain("Cancel"),
        "blocks": blocks,
    }


def submitted(view: dict[str, Any]) -> dict[str, Any]:
    """The modal's state as bot.channel_settings.settings_from takes it."""
    values = (view.get("state") or {}).get("values") or {}

    def field(block: str) -> dict[str, Any]:
        found = (values.get(block) or {}).get(block)
        return found if isinstance(found, dict) else {}

    def choice(block: str) -> str:
        option = field(block).get("selected_option") or {}
        value = option.get("value") if isinstance(option, dict) else None
        return "" if value in (None, DEFAULT) else str(value)

    people = [f"user:{u}" for u in field("handoff_people").get("selected_users") or []]
    groups = [str(o.get("value")) for o in field("handoff_groups").get("selected_options") or []]
    return {
        "agent": choice("agent"),
        "reply_mode": choice("reply_mode"),
        "visibility": choice("visibility"),
        "policies": field("policies").get("value") or "",
        "handoff": people + groups,
    }


class ChannelSettingsUI:
    def __init__(self, *, bot: SlackBot) -> None:
        self.bot = bot

    async def is_manager(self, user: str) -> bool:
        if user in self.bot.settings.admin_users:
            return True
        return (await self.bot.identity.role(user)).admin

    async def on_command(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        """`/meibel settings` opens the modal for a manager; anyone else is told why not."""
        command = parse_command(body)
        if command is None:
            await ack()
            return
        words = command.text.strip().lower().split()
        if words[:1] != ["settings"]:
            await ack(text=USAGE)
            return
        if command.channel.startswith("D"):
            await ack(text=IN_A_CHANNEL)
            return
        if not await self.is_manager(command.user):
            await ack(text=NOT_A_MANAGER)
            return
        tenant = Tenant(PLATFORM, command.workspace)
        try:
            async with asyncio.timeout(LOOKUP_SECONDS):
                current = await self.bot.places.get(tenant, command.channel)
                changes = await self.bot.places.history(tenant, channel=command.channel)
        except (StoreError, TimeoutError):
            await ack(text=UNAVAILABLE)
            return
        agents, groups = await asyncio.gather(self._agents(), self._groups())
        view = settings_view(
            channel=command.channel,
            current=current,
            agents=agents,
            groups=groups,
            changes=changes,
        )
        await ack()
        await self.bot.responder.call_quietly(
            "views.open", self.bot.client.views_open(trigger_id=command.trigger_id, view=view)
        )

    async def on_submit(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        """Keep what a manager submitted; a bad value is named beside its field."""
        view = body.get("view") or {}
        user = (body.get("user") or {}).get("id")
        workspace = (body.get("team") or {}).get("id") or (body.get("user") or {}).get("team_id")
        try:
            channel = str(json.loads(view.get("private_metadata") or "{}")["c"])
        except (ValueError, KeyError, TypeError):
            channel = ""
        if not (isinstance(user, str) and isinstance(workspace, str) and channel):
            await ack()
            return
        if not await self.is_manager(user):  # a forged or stale submission
            await ack(response_action="errors", errors={"agent": NOT_A_MANAGER})
            return
        try:
            settings = settings_from(submitted(view))
        except SettingsInvalid as exc:
            block = (
                "handoff_people"
                if str(exc).startswith("hand-off")
                else (str(exc).split(":")[0].replace(" ", "_"))
            )
            await ack(response_action="errors", errors={block: str(exc)})
            return
        name = await self.bot.identity.display_name(user)
        try:
            changes = await self.bot.places.put(
                Tenant(PLATFORM, workspace), channel, settings, by=user, by_name=name
            )
        except StoreError as exc:
            log.warning("could not keep the settings of %s: %s", channel, exc)
            await ack(response_action="errors", errors={"agent": UNAVAILABLE})
            return
        await ack()
        text = (
            CHANGED.format(channel=channel, changes="\n".join(f"• {escape(c)}" for c in changes))
            if changes
            else NO_CHANGE.format(channel=channel)
        )
        whisper = self.bot.ephemeral(channel=channel, user=user, thread_ts=None)
        self.bot.background.spawn(whisper(text), name=f"settings:{channel}")

    async def _agents(self) -> list[tuple[str, str]]:
        meibel = self.bot.meibel
        if meibel is None:
            return []
        try:
            async with asyncio.timeout(LOOKUP_SECONDS):
                return agent_options(await meibel.list_agents(limit=MAX_OPTIONS))
        except (MeibelError, TimeoutError) as exc:
            log.warning("could not list the agents for the settings: %s", type(exc).__name__)
            return []

    async def _groups(self) -> list[tuple[str, str]] | None:
        try:
            async with asyncio.timeout(LOOKUP_SECONDS):
                response = await self.bot.client.usergroups_list()
        except SlackApiError as exc:
            log.info("no user groups for hand-off: %s", slack_error(exc))
            return None
        except (*TRANSPORT_ERRORS, TimeoutError) as exc:
            log.info("no user groups for hand-off: %s", type(exc).__name__)
            return None
        groups = response.get("usergroups") or []
        return [
            (str(g["id"]), f"@{g.get('handle') or g.get('name') or g['id']}")
            for g in groups
            if isinstance(g, dict) and isinstance(g.get("id"), str)
        ]
