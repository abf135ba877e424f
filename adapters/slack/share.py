"""Private answers: in a channel whose visibility is `private`, the answer is shown only to
the asker (ephemeral messages in the thread) with a "Share with the channel" button.

Sharing posts the same messages for everyone in the thread, once however often it is
clicked, saying who shared it; an /ask answer (which had no thread) is posted as
"<asker> asked: ..." with the answer in its thread, and the conversation moves there, so
people can go on talking to the agent. Files are uploaded only when shared: a private
answer's file would otherwise be public. The answer waits in the store for the button's TTL.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond

from adapters.slack import texts
from adapters.slack.inbound import PLATFORM, parse_click
from adapters.slack.render import SlackMessage
from adapters.slack.webclient import CALL_SECONDS
from bot.domain import Question, Tenant, ThreadKey
from bot.store.base import StoreError
from bot.work.fence import guard

if TYPE_CHECKING:
    from adapters.slack.app import SlackBot
    from adapters.slack.posting import Poster

log = logging.getLogger(__name__)

SHARE_ACTION = "meibel_share"  # value: the id of the kept answer
SHARED_ONCE_SECONDS = 30 * 86400
SHARE_EXPIRED = "This private answer is no longer kept; ask again to share a new one."
NOT_YOURS = "Only the person who asked can share this answer."
PRIVATE_NOTE = "_Only you can see this answer._"


def is_ask_thread(thread: str) -> bool:
    """An /ask question's stand-in thread (adapters.slack.jobs): no Slack thread yet."""
    return thread.startswith("ask-")


def share_block(share_id: str) -> dict[str, Any]:
    return {
        "type": "actions",
        "elements": [
            {
                "type": "button",
                "action_id": SHARE_ACTION,
                "text": {"type": "plain_text", "text": "Share with the channel"},
                "value": share_id,
            }
        ],
    }


async def post_private(
    poster: Poster, messages: Sequence[SlackMessage], question: Question, *, ttl_seconds: int
) -> bool:
    """Show `messages` to the asker alone, the last with the share button (none when the
    store cannot keep them). False when Slack refused."""
    share_id = uuid.uuid4().hex
    kept = {
        "m": [asdict(m) for m in messages],
        "u": question.user,
        "q": question.text,
        "t": question.thread,
    }
    tenant = Tenant(PLATFORM, question.workspace)
    try:
        await poster.store.put_value(
            tenant, f"share:{share_id}", json.dumps(kept), ttl_seconds=ttl_seconds
        )
        extra = [share_block(share_id)]
    except StoreError as exc:
        log.warning("a private answer in %s cannot be shared: %s", question.thread_key, exc)
        extra = []
    thread = None if is_ask_thread(question.thread) else question.thread
    for index, message in enumerate(messages):
        last = index == len(messages) - 1
        blocks = [*message.blocks, *(extra if last else [])]
        if index == 0:
            blocks = [
                {"type": "context", "elements": [{"type": "mrkdwn", "text": PRIVATE_NOTE}]},
                *blocks,
            ]
        ok = await poster.call_quietly(
            "chat.postEphemeral",
            poster.client.chat_postEphemeral(
                channel=question.channel,
                user=question.user,
                thread_ts=thread,
                text=message.text,
                blocks=blocks[:50],
            ),
        )
        if not ok:
            return False
    return True


class Share:
    def __init__(self, *, bot: SlackBot) -> None:
        self.bot = bot

    async def on_share(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        click = parse_click(body)
        if click is None or click.workspace is None:
            return
        bot = self.bot
        tenant = Tenant(PLATFORM, click.workspace)
        whisper = bot.ephemeral(channel=click.channel, user=click.user, thread_ts=None)
        try:
            raw = await bot.store.get_value(tenant, f"share:{click.value}")
            kept = json.loads(raw) if raw else None
        except (StoreError, ValueError) as exc:
            log.warning("could not read a private answer: %s", exc)
            await whisper(texts.UNAVAILABLE)
            return
        if not isinstance(kept, dict):
            await whisper(SHARE_EXPIRED)
            return
        if kept.get("u") != click.user:
            await whisper(NOT_YOURS)
            return
        try:
            first = await bot.store.claim_event(
                tenant, f"share:{click.value}", ttl_seconds=SHARED_ONCE_SECONDS
            )
        except StoreError:
            await whisper(texts.UNAVAILABLE)
            return
        if first:
            await self._post(tenant, click.channel, kept)
        if click.response_url:  # the private copy goes: the thread has the answer now
            await guard()  # not through the Web API client: fenced here
            try:
                async with asyncio.timeout(CALL_SECONDS):
                    await AsyncRespond(response_url=click.response_url)(delete_original=True)
            except Exception as exc:  # cosmetic: the answer is shared either way
                log.info("could not remove the private copy: %s", type(exc).__name__)

    async def _post(self, tenant: Tenant, channel: str, kept: dict[str, Any]) -> None:
        bot, user, thread = self.bot, str(kept["u"]), str(kept["t"])
        if is_ask_thread(thread):
            asked = await bot.post_asked(
                channel=channel,
                thread_ts=None,
                user=user,
                text=str(kept.get("q") or ""),
                whisper=bot.ephemeral(channel=channel, user=user, thread_ts=None),
            )
            if asked is None:
                return
            await self._move_session(ThreadKey(tenant, channel, thread), asked)
            thread = asked
        for index, message in enumerate(kept.get("m") or []):
            blocks = list(message.get("blocks") or [])
            if index == 0:
                note = f"_Shared by <@{user}>._"
                blocks = [
                    {"type": "context", "elements": [{"type": "mrkdwn", "text": note}]},
                    *blocks,
                ][:50]
            await bot.responder.call_quietly(
                "chat.postMessage",
                bot.client.chat_postMessage(
                    channel=channel,
                    thread_ts=thread,
                    text=str(message.get("text") or ""),
                    blocks=blocks,
                ),
            )

    async def _move_session(self, old: ThreadKey, thread: str) -> None:
        """The /ask conversation continues in the thread the answer now has."""
        store, ttl = self.bot.store, self.bot.responder.button_ttl_seconds
        try:
            record = await store.get_session(old, ttl_seconds=ttl)
            if record is not None:
                await store.put_session(
                    ThreadKey(old.tenant, old.channel, thread), record, ttl_seconds=ttl
                )
        except StoreError as exc:
            log.warning("the shared answer's thread starts a new conversation: %s", exc)
