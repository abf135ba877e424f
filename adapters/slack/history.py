"""A thread's earlier messages, read with `conversations.replies`, as the agent's context.

When the bot is called into a thread (a mention in a thread, or a reply in its own thread),
the agent gets what people said there that it has not seen: every earlier message when the
bot is new to the thread, else what was said since the bot's last message. Messages that
are questions to the bot themselves (they mention it, or, in the bot's thread with
SLACK_REPLY_WITHOUT_MENTION, mention nobody else) are left out: each is its own turn.

Reading is best effort: a refusal (a missing `*:history` scope, say) or a timeout is logged
and the question goes to the agent without context. Speakers are shown by display name
(adapters.slack.identity: `users.info`, cached per process).
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Callable
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.errors import TRANSPORT_ERRORS, slack_error
from adapters.slack.identity import SlackIdentity
from adapters.slack.inbound import mentioned_users, plain_text
from bot.context import ContextLimits, Said
from bot.domain import Question

log = logging.getLogger(__name__)

READ_SECONDS = 10.0  # for the whole read: pages and names
PAGE_SIZE = 200
MAX_PAGES = 5  # a thread longer than 1,000 messages is read from its first 1,000
# Subtypes that are people (or other apps) saying something; joins, topic changes, ... are not.
_SAID_SUBTYPES = frozenset({None, "file_share", "thread_broadcast", "bot_message", "me_message"})


class ThreadHistory:
    """Reads the context of questions asked in Slack threads."""

    def __init__(
        self,
        client: AsyncWebClient,
        *,
        limits: ContextLimits,
        bot_user: Callable[[], str | None],
        reply_without_mention: bool,
        names: SlackIdentity,
    ) -> None:
        self.client = client
        self.names = names
        self.limits = limits
        self.bot_user = bot_user
        self.reply_without_mention = reply_without_mention

    async def with_context(self, question: Question) -> Question:
        """`question` with its thread's context, or unchanged when there is none to read."""
        before = question.reply_to.get("message_ts")
        if not self.limits.enabled or not before or before == question.thread:
            return question  # a new thread: nothing was said before
        try:
            async with asyncio.timeout(READ_SECONDS):
                said = await self._read(question.channel, question.thread, before=before)
        except SlackApiError as exc:
            log.warning(
                "cannot read thread %s for context: %s", question.thread_key, slack_error(exc)
            )
            return question
        except TRANSPORT_ERRORS as exc:
            log.warning(
                "cannot read thread %s for context: %s", question.thread_key, type(exc).__name__
            )
            return question
        return question.model_copy(update={"context": said}) if said else question

    async def _read(self, channel: str, thread: str, *, before: str) -> tuple[Said, ...]:
        bot_user = self.bot_user()
        unseen: collections.deque[dict[str, Any]] = collections.deque(
            maxlen=self.limits.max_messages
        )
        bot_thread = False
        cursor: str | None = None
        for _ in range(MAX_PAGES):
            response = await self.client.conversations_replies(
                channel=channel,
                ts=thread,
                latest=before,
                inclusive=False,
                limit=PAGE_SIZE,
                cursor=cursor,
            )
            for message in response.get("messages") or ():
                if not isinstance(message, dict) or float(message.get("ts") or 0) >= float(before):
                    continue
                if bot_user and message.get("user") == bot_user:
                    unseen.clear()  # the agent saw everything up to its own message
                    bot_thread = True
                elif self._said(message, bot_user=bot_user, bot_thread=bot_thread):
                    unseen.append(message)
            cursor = (response.get("response_metadata") or {}).get("next_cursor") or None
            if not response.get("has_more") or not cursor:
                break
        return tuple([await self._said_by(m, bot_user=bot_user) for m in unseen])

    def _said(self, message: dict[str, Any], *, bot_user: str | None, bot_thread: bool) -> bool:
        """Whether a message is context (and not a question to the bot, nor noise)."""
        if message.get("subtype") not in _SAID_SUBTYPES:
            return False
        text = str(message.get("text") or "")
        mentions = mentioned_users(text)
        if bot_user and bot_user in mentions:
            return False  # a question to the bot: its own turn
        if bot_thread and self.reply_without_mention and not mentions - {bot_user}:
            return False  # in the bot's thread, a reply to nobody else is a turn too
        return bool(text.strip() or message.get("files"))

    async def _said_by(self, message: dict[str, Any], *, bot_user: str | None) -> Said:
        files = tuple(
            str(f.get("name") or f.get("title") or "file")
            for f in message.get("files") or ()
            if isinstance(f, dict)
        )
        return Said(
            speaker=await self._speaker(message),
            text=plain_text(str(message.get("text") or ""), drop_user=bot_user),
            files=files,
        )

    async def _speaker(self, message: dict[str, Any]) -> str:
        user = message.get("user")
        if not isinstance(user, str) or not user:  # another app's message
            profile = message.get("bot_profile") or {}
            return str(message.get("username") or profile.get("name") or "an app")
        return await self.names.display_name(user)
