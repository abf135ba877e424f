"""Answering a question: its files fetched, the answer streamed or posted whole."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import discord

from adapters.discord.delivery import Sent, Target, send_all, typing_in
from adapters.discord.final import NO_OFFER, Answered, Offer, prepare
from adapters.discord.jobs import FileRef
from adapters.discord.journal import Journal
from adapters.discord.live import LiveAnswer
from adapters.discord.question_files import NEEDS_STREAMING, Download, fetch_files, not_sent
from adapters.discord.render import render_notice
from adapters.discord.services import Services
from adapters.discord.streaming import stream_answer
from bot import replies
from bot.attachments import skipped_note
from bot.domain import Question, Tenant
from bot.store.base import StoreError

log = logging.getLogger(__name__)


class Answerer:
    def __init__(self, services: Services) -> None:
        self.services = services

    async def answer(
        self,
        question: Question,
        *,
        typing_channel: discord.abc.Messageable | None,
        targets: Sequence[Target],
        files: Sequence[FileRef] = (),
        download: Download | None = None,
        shown: Sequence[Sent] = (),
        journal: Journal | None = None,
        offer: Offer = NO_OFFER,
    ) -> Answered:
        """Answer and post (streamed, or whole when streaming is off). Attached files go
        to the agent when they can (fetched with `download`); the others are named in a
        note under the answer. `shown`: messages an earlier run posted, edited into this
        answer rather than posted again. `offer`: the buttons the channel's settings add."""
        services = self.services
        live = LiveAnswer(targets, shown=shown, journal=journal)
        if services.streaming:
            async with typing_in(typing_channel if files else None):
                fetched = await fetch_files(files, services.attachments, download=_need(download))
            return await stream_answer(
                services,
                question,
                files=fetched.files,
                note=skipped_note(fetched.skipped),
                typing_channel=typing_channel,
                live=live,
                notes=journal,
                offer=offer,
            )
        note = skipped_note(not_sent(files, NEEDS_STREAMING))
        async with typing_in(typing_channel):
            answer = await services.pipeline.ask(question, notes=journal)
        if note:
            answer = replies.with_note(answer, note)
        ready = await prepare(services, question.thread_key, answer, offer)
        if live.posted and await live.finish(ready.render()):
            return Answered(True, ready.answer)
        return Answered(await send_all(ready.render, live.remaining_targets), ready.answer)

    async def notify(self, text: str, targets: Sequence[Target]) -> bool:
        """Post a short notice (refusal, failure, confirmation)."""
        return await send_all(lambda: [render_notice(text)], targets)

    # -- threads the bot opened ---------------------------------------------------------
    async def remember_thread(self, tenant: Tenant, *, thread_id: int, parent_id: str) -> None:
        """Note the thread as the bot's, so replies in it are answered without a mention
        (and its parent is known after a restart, when the thread is not cached)."""
        try:
            await self.services.store.put_value(
                tenant,
                thread_marker(thread_id),
                parent_id,
                ttl_seconds=self.services.session_ttl_seconds,
            )
        except StoreError as exc:
            log.warning("could not remember thread %s: %s", thread_id, exc)

    async def bot_thread_parent(self, tenant: Tenant, thread_id: int) -> str | None:
        """The parent channel id of a thread the bot opened; None for any other thread."""
        return await self.services.store.get_value(tenant, thread_marker(thread_id))


def thread_marker(thread_id: int) -> str:
    return f"thread:{thread_id}"


def _need(download: Download | None) -> Download:
    if download is None:
        raise ValueError("files to fetch, but no way to download them")
    return download
