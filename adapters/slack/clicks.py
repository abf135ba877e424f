"""Button clicks: follow-ups, calls to action and "Try again" ask again; feedback is kept
(bot.feedback) and counted."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext

from adapters.slack import texts
from adapters.slack.comments import thanks_blocks
from adapters.slack.inbound import PLATFORM, Click, parse_click
from adapters.slack.intake import LOOKUP_SECONDS
from adapters.slack.jobs import click_job
from adapters.slack.payloads import decode
from bot import feedback
from bot.domain import Tenant
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
        self, ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext
    ) -> None:
        """Queue the question behind a follow-up, call-to-action or "Try again" button,
        then acknowledge; anything that stops it is said privately to the clicker."""
        self.bot.remember_bot_user(context)
        click = parse_click(body)
        if click is None:
            log.warning("ignoring a button click without channel, message or user")
        else:
            await self.take_click(click)
        await ack()

    async def take_click(self, click: Click) -> None:
        bot = self.bot
        whisper = bot.ephemeral(channel=click.channel, user=click.user, thread_ts=click.thread)
        try:
            async with asyncio.timeout(LOOKUP_SECONDS):
                payload = await decode(click.value, store=bot.store)
        except (StoreError, TimeoutError) as exc:
            log.warning("could not read a button payload: %s", str(exc) or "timeout")
            bot.background.spawn(whisper(texts.UNAVAILABLE), name=f"tell:{click.click_id}")
            return
        if payload is None:
            bot.background.spawn(whisper(texts.BUTTON_EXPIRED), name=f"tell:{click.click_id}")
            return
        if payload.workspace not in click.teams:
            log.warning("ignoring a button made for another workspace in %s", click.channel)
            return
        job = click_job(click, payload)
        if not bot.settings.channel_allowed(click.channel, is_dm=click.channel.startswith("D")):
            bot.intake.tell(job, whisper, texts.CHANNEL_NOT_ALLOWED)
            return
        refusal = await bot.intake.accept(job)
        if refusal is not None:
            bot.intake.tell(job, whisper, refusal.text)

    async def on_feedback(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        click = parse_click(body)
        if click is None:
            return
        verdict, signal_id = parse_feedback(click.value)
        self.bot.background.spawn(
            self._keep(click, verdict, signal_id), name=f"feedback:{click.click_id}"
        )
        log.info(
            "feedback %s for signal_id=%s from %s in %s (thread %s)",
            verdict,
            signal_id,
            click.user,
            click.channel,
            click.thread,
        )
        thanks = self.bot.client.chat_postEphemeral(
            channel=click.channel,
            user=click.user,
            thread_ts=click.thread,
            text=texts.FEEDBACK_THANKS,
            blocks=thanks_blocks(click, verdict, signal_id),
        )

        async def thank() -> None:
            await self.bot.responder.call_quietly("chat.postEphemeral", thanks)

        self.bot.background.spawn(thank(), name=f"thanks:{click.click_id}")

    async def _keep(self, click: Click, verdict: str, signal_id: str | None) -> None:
        """Keep the feedback for the agent's owners (bot.feedback), and count it."""
        bot = self.bot
        bot.metrics.feedback.labels(PLATFORM, verdict).inc()
        if not click.workspace:
            return
        tenant = Tenant(PLATFORM, click.workspace)
        try:
            question = await feedback.asked(bot.store, tenant, signal_id) if signal_id else ""
            await feedback.record(
                bot.store,
                feedback.Feedback(
                    at=time.time(),
                    platform=PLATFORM,
                    workspace=click.workspace,
                    channel=click.channel,
                    thread=click.thread,
                    verdict=verdict,
                    signal_id=signal_id or "",
                    link=click.thread_link,
                    question=question,
                    answer=feedback.excerpt(click.message_text),
                    user=click.user if bot.identity.options.share else "",
                ),
            )
        except StoreError as exc:
            log.warning("could not keep feedback on %s: %s", signal_id, exc)
