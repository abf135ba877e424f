"""An optional comment on feedback: "Add a comment" under the thanks opens a modal; what is
written there is kept beside the verdict (bot.feedback), for the agent's owners."""

from __future__ import annotations

import json
import logging
import time
from typing import TYPE_CHECKING, Any

from slack_bolt.context.ack.async_ack import AsyncAck

from adapters.slack import texts
from adapters.slack.inbound import PLATFORM, Click
from bot import feedback
from bot.store.base import StoreError

if TYPE_CHECKING:
    from adapters.slack.app import SlackBot

log = logging.getLogger(__name__)

COMMENT_ACTION = "meibel_feedback_comment"
COMMENT_VIEW = "meibel_feedback_comment_view"
COMMENT_BLOCK = "comment"
COMMENT_INPUT = "comment_text"
COMMENT_MAX_CHARS = 2000


def thanks_blocks(click: Click, verdict: str, signal_id: str | None) -> list[dict[str, Any]]:
    """The private thanks, with "Add a comment" (its value: where the comment belongs)."""
    where = {
        "v": verdict,
        "s": signal_id or "",
        "w": click.workspace or "",
        "c": click.channel,
        "t": click.thread,
        "l": click.thread_link,
    }
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": texts.FEEDBACK_THANKS}},
        {
            "type": "actions",
            "elements": [
                {
                    "type": "button",
                    "action_id": COMMENT_ACTION,
                    "text": {"type": "plain_text", "text": texts.ADD_COMMENT},
                    "value": json.dumps(where)[:2000],
                }
            ],
        },
    ]


def comment_modal(where: str) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": COMMENT_VIEW,
        "private_metadata": where[:3000],
        "title": {"type": "plain_text", "text": "Your feedback"},
        "submit": {"type": "plain_text", "text": "Send"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {
                "type": "input",
                "block_id": COMMENT_BLOCK,
                "label": {"type": "plain_text", "text": texts.COMMENT_LABEL},
                "element": {
                    "type": "plain_text_input",
                    "action_id": COMMENT_INPUT,
                    "multiline": True,
                    "max_length": COMMENT_MAX_CHARS,
                },
            }
        ],
    }


class Comments:
    def __init__(self, *, bot: SlackBot) -> None:
        self.bot = bot

    async def on_button(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        """ "Add a comment": the modal, opened with the click's trigger id."""
        await ack()
        actions = body.get("actions") or [{}]
        where = str(actions[0].get("value") or "") if isinstance(actions[0], dict) else ""
        trigger = body.get("trigger_id")
        if not where or not isinstance(trigger, str):
            return
        await self.bot.responder.call_quietly(
            "views.open", self.bot.client.views_open(trigger_id=trigger, view=comment_modal(where))
        )

    async def on_submit(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        """The modal's comment: kept as a feedback row of its own (verdict and signal id of
        the feedback it comments)."""
        await ack()
        view, user = _dict(body, "view"), _dict(body, "user")
        try:
            where = json.loads(str(view.get("private_metadata") or "{}"))
            state = view["state"]["values"][COMMENT_BLOCK][COMMENT_INPUT]
            comment = str(state.get("value") or "").strip()
        except (ValueError, KeyError, TypeError):
            log.warning("a feedback comment came without its place; dropped")
            return
        if not comment or not where.get("w"):
            return
        try:
            await feedback.record(
                self.bot.store,
                feedback.Feedback(
                    at=time.time(),
                    platform=PLATFORM,
                    workspace=str(where["w"]),
                    channel=str(where.get("c") or ""),
                    thread=str(where.get("t") or ""),
                    verdict=str(where.get("v") or ""),
                    signal_id=str(where.get("s") or ""),
                    link=str(where.get("l") or ""),
                    user=str(user.get("id") or "") if self.bot.identity.options.share else "",
                    comment=comment[:COMMENT_MAX_CHARS],
                ),
            )
        except StoreError as exc:
            log.warning("could not keep a feedback comment: %s", exc)


def _dict(body: dict[str, Any], name: str) -> dict[str, Any]:
    value = body.get(name)
    return value if isinstance(value, dict) else {}
