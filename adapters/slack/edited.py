"""Streaming where Slack's native streaming is off or refused: one message, edited.

The first show posts a placeholder in the thread; later ones chat.update it with the text
so far (rendered like any answer, first message's worth) and, under it, a context line with
what the agent is doing. The Pacer keeps the edits to about one a second.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.errors import TRANSPORT_ERRORS, slack_error
from adapters.slack.mrkdwn import clean, collapse, escape
from adapters.slack.ratelimits import CallSkipped
from adapters.slack.render import ButtonValues, SlackMessage, render_answer
from adapters.slack.split import truncate
from bot.domain import Answer

log = logging.getLogger(__name__)

MAX_BLOCKS = 50
ACTIVITY_LIMIT = 300
ACTIVITY_ICON = ":hourglass_flowing_sand:"


def progress_message(text: str, activity: str | None) -> SlackMessage | None:
    """The placeholder's content: the text so far and the activity line; None if empty."""
    blocks: list[dict[str, Any]] = []
    fallback = ""
    if text.strip():
        first = render_answer(Answer(text=text), buttons=ButtonValues())[0]
        blocks, fallback = list(first.blocks), first.text
    # One line of plain words: Markdown in a status (">", "#") would change the line.
    line = truncate(escape(collapse(clean(activity or ""))), ACTIVITY_LIMIT)
    if line.strip() and activity and len(blocks) < MAX_BLOCKS:
        blocks.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": f"{ACTIVITY_ICON} {line}"}]}
        )
        fallback = fallback or truncate(" ".join(activity.split()), ACTIVITY_LIMIT)
    if not blocks:
        return None
    return SlackMessage(text=fallback, blocks=blocks)


class EditedMessage:
    """The placeholder message; see the module docstring. Never raises."""

    def __init__(self, *, client: AsyncWebClient, channel: str, thread_ts: str) -> None:
        self.client = client
        self.channel = channel
        self.thread_ts = thread_ts
        self.ts: str | None = None
        self.broken = False  # a post or edit failed: no more edits while streaming
        self.skipped = False  # the last show had no rate-limit budget (the next may)

    async def show(self, text: str, activity: str | None) -> None:
        message = progress_message(text, activity)
        if message is None or self.broken:
            return
        self.skipped = False
        try:
            if self.ts is None:
                response = await self.client.chat_postMessage(
                    channel=self.channel,
                    thread_ts=self.thread_ts,
                    text=message.text,
                    blocks=message.blocks,
                )
                ts = response.get("ts")
                self.ts = str(ts) if ts else None
            else:
                await self.client.chat_update(
                    channel=self.channel, ts=self.ts, text=message.text, blocks=message.blocks
                )
        except CallSkipped:
            self.skipped = True  # the next show, or the final answer, brings it up to date
        except SlackApiError as exc:
            # The final answer is delivered (or the refusal explained) at the end.
            log.warning("could not show the answer so far: %s", slack_error(exc))
            self.broken = True
        except TRANSPORT_ERRORS as exc:
            log.warning("could not show the answer so far: %s", type(exc).__name__)
            self.broken = True
