"""Slack's App Home: what the bot does and how to ask, the settings of the channels the
person manages (adapters.slack.channel_settings), and their recent questions with links to
their threads.

Each answered question is noted in the person's own log in the store (`recent:<team>:<user>`,
RECENT_KEEP_DAYS); opening the Home tab publishes a view built from it. Question texts are
the person's own, shown only to them.
"""

from __future__ import annotations

import json
import logging
import time
from typing import TYPE_CHECKING, Any

from adapters.slack.inbound import PLATFORM
from adapters.slack.mrkdwn import escape
from bot.channel_settings import ChannelSettings
from bot.domain import Tenant
from bot.feedback import excerpt
from bot.store.base import Store, StoreError

if TYPE_CHECKING:
    from adapters.slack.app import SlackBot

log = logging.getLogger(__name__)

RECENT_SHOWN = 10
MANAGED_SHOWN = 30
MANAGE_HOW = (
    "Run `/meibel settings` in a channel to choose its agent, when I answer, who sees "
    "answers, its execution policies and who `I need a person` tags."
)
RECENT_KEEP_DAYS = 30
HOW_TO = (
    "*How to ask*\n"
    "• Mention me in a channel: `@Meibel how do refunds work?` I answer in a thread, and "
    "you can keep talking to me there.\n"
    "• Send me a direct message, or use `/ask your question`.\n"
    "• On any message: `…` → *Ask Meibel about this*; the message and its thread are what "
    "I look at.\n"
    "• Under an answer: sources, follow-up questions as buttons, and 👍 / 👎 with an "
    "optional comment for the agent's owners."
)


def _log_name(workspace: str, user: str) -> str:
    return f"recent:{workspace}:{user}"


async def note_question(
    store: Store, *, workspace: str, user: str, text: str, channel: str, thread: str
) -> None:
    """Remember an answered question for the person's Home tab (best effort)."""
    entry = json.dumps({"q": excerpt(text), "c": channel, "t": thread})
    try:
        await store.append_log(
            _log_name(workspace, user),
            entry,
            at=time.time(),
            keep_seconds=RECENT_KEEP_DAYS * 86400,
        )
    except StoreError as exc:
        log.warning("could not note a question for the Home tab: %s", exc)


def home_view(
    recent: list[dict[str, str]],
    *,
    workspace_url: str | None,
    managed: dict[str, ChannelSettings] | None = None,
) -> dict[str, Any]:
    """The Home tab; `managed`: the channels with their own settings, for a person who may
    change them (None for anyone else)."""
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": "Meibel in Slack"}},
        {"type": "section", "text": {"type": "mrkdwn", "text": HOW_TO}},
        {"type": "divider"},
    ]
    if managed is not None:
        blocks.extend(_managed(managed))
    blocks.append(
        {"type": "header", "text": {"type": "plain_text", "text": "Your recent questions"}}
    )
    if not recent:
        blocks.append(_text("Nothing yet: your questions will show here."))
    for item in recent[:RECENT_SHOWN]:
        question = escape(item.get("q", ""))
        link = _thread_link(workspace_url, item.get("c", ""), item.get("t", ""))
        blocks.append(_text(f"• <{link}|{question}>" if link else f"• {question}"))
    return {"type": "home", "blocks": blocks}


def _managed(managed: dict[str, ChannelSettings]) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": "Channels you manage"}},
        _text(MANAGE_HOW),
    ]
    for channel, settings in list(managed.items())[:MANAGED_SHOWN]:
        described = "; ".join(f"{k}: {escape(v)}" for k, v in settings.describe().items())
        blocks.append(_text(f"• <#{channel}>: {described}"))
    if not managed:
        blocks.append(_text("No channel has settings of its own yet."))
    blocks.append({"type": "divider"})
    return blocks


def _text(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}}


def _thread_link(workspace_url: str | None, channel: str, thread: str) -> str:
    if not (workspace_url and channel and thread[:1].isdigit()):
        return ""
    return f"{workspace_url.rstrip('/')}/archives/{channel}/p{thread.replace('.', '')}"


class Home:
    def __init__(self, *, bot: SlackBot) -> None:
        self.bot = bot

    async def on_opened(self, body: dict[str, Any]) -> None:
        """Publish the person's Home tab when they open it."""
        event = body.get("event") if isinstance(body.get("event"), dict) else None
        workspace = body.get("team_id")
        if not event or event.get("tab") != "home" or not isinstance(workspace, str):
            return
        user = event.get("user")
        if not isinstance(user, str) or not user:
            return
        try:
            rows = await self.bot.store.read_log(_log_name(workspace, user), since=0)
        except StoreError as exc:
            log.warning("could not read recent questions for the Home tab: %s", exc)
            rows = []
        recent = []
        for _, raw in reversed(rows):
            try:
                recent.append(json.loads(raw))
            except ValueError:
                continue
        managed = None
        if await self.bot.channel_settings.is_manager(user):
            try:
                managed = await self.bot.places.configured(Tenant(PLATFORM, workspace))
            except StoreError as exc:
                log.warning("could not read the channels' settings for the Home tab: %s", exc)
        view = home_view(recent, workspace_url=self.bot.identity.workspace_url, managed=managed)
        await self.bot.responder.call_quietly(
            "views.publish", self.bot.client.views_publish(user_id=user, view=view)
        )
