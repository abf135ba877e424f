"""Button clicks: follow-ups, calls to action and "Try again" ask again; feedback is logged."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.context.respond.async_respond import AsyncRespond

from adapters.slack import texts
from adapters.slack.inbound import PLATFORM, Click, parse_click, reply_to
from adapters.slack.payloads import ButtonKind, decode
from adapters.slack.responder import Progress
from bot import replies
from bot.domain import Question
from bot.store.base import StoreError

if TYPE_CHECKING:
    from adapters.slack.app import SlackBot

log = logging.getLogger(__name__)
POSITIVE = frozenset({"positive", "good", "up", "yes", "helpful", "thumbs_up", "+1"})
NEGATIVE = frozenset({"negative", "bad", "down", "no", "unhelpful", "thumbs_down", "-1"})


def parse_feedback(value: str) -> tuple[str, str | None]:
    """(verdict, signal_id) from a feedback button value such as `up:sig_123`.

    Only the first separator splits: a signal id may itself contain ':' or '|'.
    """
    word, _, rest = value.replace("|", ":", 1).partition(":")
    verdict = word.strip().lower()
    if verdict in POSITIVE:
        return "positive", rest.strip() or None
    if verdict in NEGATIVE:
        return "negative", rest.strip() or None
    return "unknown", None


class ClickHandler:
    def __init__(self, *, bot: SlackBot) -> None:
        self.bot = bot

    async def on_ask_button(
        self,
        ack: AsyncAck,
        body: dict[str, Any],
        respond: AsyncRespond,
        context: AsyncBoltContext,
    ) -> None:
        await ack()
        self.bot.remember_bot_user(context)
        click = parse_click(body)
        if click is None:
            log.warning("ignoring a button click without channel, message or user")
            return
        self.bot.background.spawn(self.ask_again(click, respond=respond), name=click.click_id)

    async def ask_again(self, click: Click, *, respond: AsyncRespond) -> None:
        """Ask the button's question in the clicked message's thread and session."""
        bot = self.bot
        whisper = bot.ephemeral(channel=click.channel, user=click.user, thread_ts=click.thread)
        try:
            payload = await decode(click.value, store=bot.store)
        except StoreError as exc:
            log.warning("could not read a button payload: %s", exc)
            await whisper(replies.STORE_UNAVAILABLE.text)
            return
        if payload is None:
            await whisper(texts.BUTTON_EXPIRED)
            return
        if payload.workspace not in click.teams:
            log.warning("ignoring a button made for another workspace in %s", click.channel)
            return
        if not await bot.claim(payload.tenant, click.click_id):
            return
        is_dm = click.channel.startswith("D")
        if not bot.settings.channel_allowed(click.channel, is_dm=is_dm):
            await whisper(texts.CHANNEL_NOT_ALLOWED)
            return
        # Only the bot's refusal to post needs the response_url: it works without membership.
        refused = bot.responder_url(respond)
        if payload.kind is ButtonKind.RETRY:
            react_to: str = click.message_ts
        else:
            asked = await bot.post_asked(
                channel=click.channel,
                thread_ts=click.thread,
                user=click.user,
                text=payload.shown,
                whisper=refused,
            )
            if asked is None:
                return
            react_to = asked
        question = Question(
            platform=PLATFORM,
            workspace=payload.workspace,
            channel=click.channel,
            thread=click.thread,
            user=click.user,
            text=payload.text,
            reply_to=reply_to(
                channel=click.channel,
                thread_ts=click.thread,
                message_ts=react_to,
                team=click.user_team,
            ),
            event_id=click.click_id,
        )
        # In a DM thread the assistant status is the natural sign; outside assistant
        # threads Slack refuses it, and the reaction is used instead.
        progress = Progress(react_to=react_to, assistant=is_dm)
        await bot.responder.respond(question, progress=progress, whisper=refused)

    async def on_feedback(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        click = parse_click(body)
        if click is None:
            return
        verdict, signal_id = parse_feedback(click.value)
        log.info(
            "feedback %s for signal_id=%s from %s in %s (thread %s)",
            verdict,
            signal_id,
            click.user,
            click.channel,
            click.thread,
        )
        whisper = self.bot.ephemeral(channel=click.channel, user=click.user, thread_ts=click.thread)
        self.bot.background.spawn(whisper(texts.FEEDBACK_THANKS), name=f"thanks:{click.click_id}")
