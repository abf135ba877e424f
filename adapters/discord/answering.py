"""Ask the pipeline with typing shown, keep the buttons' payloads, post the answer."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import discord

from adapters.discord.delivery import Target, send_all, typing_in
from adapters.discord.payloads import save_buttons
from adapters.discord.render import ButtonKeys, DiscordMessage, render_answer, render_notice
from bot.domain import Answer, Question, Tenant
from bot.pipeline import Pipeline
from bot.store.base import Store, StoreError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Services:
    """The core parts the Discord adapter uses."""

    pipeline: Pipeline
    store: Store
    session_ttl_seconds: int
    # Discord may deliver an event twice (reconnects, resumed sessions); a day is plenty.
    event_ttl_seconds: int = 24 * 3600


def render(answer: Answer, keys: ButtonKeys) -> list[DiscordMessage]:
    """A real answer in full; a hint or a failure as a short notice."""
    if answer.ok:
        return render_answer(answer, keys=keys)
    return [render_notice(answer.text)]


def without_buttons(answer: Answer) -> Answer:
    """The answer minus the buttons that need a stored payload (kept when the store fails)."""
    return dataclasses.replace(
        answer, follow_ups=(), actions=tuple(a for a in answer.actions if a.url)
    )


class Answerer:
    def __init__(self, services: Services) -> None:
        self.services = services

    async def answer(
        self,
        question: Question,
        *,
        typing_channel: discord.abc.Messageable | None,
        targets: Sequence[Target],
    ) -> bool:
        """Answer and post; True when the whole answer was posted somewhere."""
        async with typing_in(typing_channel):
            answer = await self.services.pipeline.ask(question)
        keys = ButtonKeys()
        if answer.ok and (answer.follow_ups or answer.actions):
            try:
                keys = await save_buttons(
                    self.services.store,
                    key=question.thread_key,
                    answer=answer,
                    ttl_seconds=self.services.session_ttl_seconds,
                )
            except StoreError as exc:
                log.warning("could not keep button payloads in %s: %s", question.thread_key, exc)
                answer = without_buttons(answer)
        final = answer
        return await send_all(lambda: render(final, keys), targets)

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
