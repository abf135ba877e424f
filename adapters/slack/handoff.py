"""Hand-off to people: "I need a person" under an answer, where a channel names who helps.

A click posts one message in the thread tagging exactly the people and user groups the
channel's managers chose (bot.channel_settings), puts 🙋 on the question, and offers
"Mark resolved"; resolving says who did and swaps 🙋 for ✅. The tag is the admins' own
configuration, never agent text. While a hand-off is open in a thread, another click tells
the clicker privately instead of tagging everyone again.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from slack_bolt.context.ack.async_ack import AsyncAck

from adapters.slack.inbound import PLATFORM, parse_click
from bot.domain import Tenant
from bot.store.base import StoreError

if TYPE_CHECKING:
    from adapters.slack.app import SlackBot

log = logging.getLogger(__name__)

RESOLVED_ACTION = "meibel_resolved"  # value: the ts of the question's message
WAITING = "raising_hand"
RESOLVED = "white_check_mark"
OPEN_SECONDS = 24 * 3600  # an open hand-off no one resolved stops blocking a new one

NOBODY = (
    "No one is set up to help in this channel; a channel manager can name people with "
    "`/meibel settings`."
)
ALREADY_OPEN = "Someone already asked for a person in this thread; they have been tagged."
UNAVAILABLE = "I cannot reach my store right now; try again in a moment."


def tag(target: str) -> str:
    """A configured target as a Slack mention: `user:U1` -> <@U1>, `group:S1` -> a group."""
    kind, _, ident = target.partition(":")
    return f"<!subteam^{ident}>" if kind == "group" else f"<@{ident}>"


def request_message(targets: tuple[str, ...], *, asker: str, question_ts: str) -> dict[str, Any]:
    tags = " ".join(tag(t) for t in targets)
    text = f"{tags}: <@{asker}> needs a person here."
    return {
        "text": text,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"🙋 {text}"}},
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "action_id": RESOLVED_ACTION,
                        "text": {"type": "plain_text", "text": "Mark resolved"},
                        "style": "primary",
                        "value": question_ts,
                    }
                ],
            },
        ],
    }


def resolved_message(*, by: str) -> dict[str, Any]:
    text = f"✅ Resolved by <@{by}>."
    return {"text": text, "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]}


class HandOff:
    def __init__(self, *, bot: SlackBot) -> None:
        self.bot = bot

    async def on_request(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        click = parse_click(body)
        if click is None or click.workspace is None:
            return
        bot = self.bot
        whisper = bot.ephemeral(channel=click.channel, user=click.user, thread_ts=click.thread)
        tenant = Tenant(PLATFORM, click.workspace)
        place = await bot.places.get(tenant, click.channel)
        if not place.handoff:
            await whisper(NOBODY)
            return
        state = f"handoff:{click.channel}:{click.thread}"
        try:
            if await bot.store.get_value(tenant, state) == "open":
                await whisper(ALREADY_OPEN)
                return
            await bot.store.put_value(tenant, state, "open", ttl_seconds=OPEN_SECONDS)
        except StoreError as exc:
            log.warning("hand-off in %s: %s", click.channel, exc)
            await whisper(UNAVAILABLE)
            return
        question_ts = click.value or click.thread
        message = request_message(place.handoff, asker=click.user, question_ts=question_ts)
        await bot.responder.call_quietly(
            "chat.postMessage",
            bot.client.chat_postMessage(channel=click.channel, thread_ts=click.thread, **message),
        )
        await bot.responder.call_quietly(
            "reactions.add",
            bot.client.reactions_add(channel=click.channel, timestamp=question_ts, name=WAITING),
        )

    async def on_resolved(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        click = parse_click(body)
        if click is None or click.workspace is None:
            return
        bot, question_ts = self.bot, click.value or click.thread
        try:
            await bot.store.put_value(
                Tenant(PLATFORM, click.workspace),
                f"handoff:{click.channel}:{click.thread}",
                "resolved",
                ttl_seconds=OPEN_SECONDS,
            )
        except StoreError as exc:
            log.warning("hand-off in %s: %s", click.channel, exc)
        await bot.responder.call_quietly(
            "chat.update",
            bot.client.chat_update(
                channel=click.channel, ts=click.message_ts, **resolved_message(by=click.user)
            ),
        )
        await bot.responder.call_quietly(
            "reactions.remove",
            bot.client.reactions_remove(channel=click.channel, timestamp=question_ts, name=WAITING),
        )
        await bot.responder.call_quietly(
            "reactions.add",
            bot.client.reactions_add(channel=click.channel, timestamp=question_ts, name=RESOLVED),
        )
