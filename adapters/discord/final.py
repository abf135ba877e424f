"""A finished answer as Discord messages: its buttons' payloads kept, then rendered."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

from adapters.discord.payloads import save_buttons
from adapters.discord.place_items import NO_EXTRAS, Extras
from adapters.discord.render import ButtonKeys, DiscordMessage, render_answer, render_notice
from adapters.discord.services import Services
from adapters.discord.sharing import keep_for_sharing
from bot.domain import Answer, ThreadKey
from bot.store.base import StoreError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Offer:
    """What the channel's settings add under an answer: a Share button (a private
    answer), an "I need a person" button about the question's (channel, message)."""

    share: bool = False
    handoff: tuple[int, int] | None = None


NO_OFFER = Offer()


@dataclass(frozen=True, slots=True)
class Ready:
    """An answer with the store keys its buttons carry."""

    answer: Answer
    keys: ButtonKeys
    extras: Extras = NO_EXTRAS

    def render(self) -> list[DiscordMessage]:
        """Fresh messages (a discord.File is used up by the send that uploads it)."""
        return render(self.answer, self.keys, self.extras)


@dataclass(frozen=True, slots=True)
class Answered:
    """How answering went: whether the whole answer was posted, and the answer itself."""

    posted: bool
    answer: Answer


def render(answer: Answer, keys: ButtonKeys, extras: Extras = NO_EXTRAS) -> list[DiscordMessage]:
    """A real answer in full; a hint or a failure as a short notice."""
    if answer.ok:
        return render_answer(answer, keys=keys, extras=extras)
    return [render_notice(answer.text)]


def without_buttons(answer: Answer) -> Answer:
    """The answer minus the buttons that need a stored payload (kept when the store fails)."""
    return dataclasses.replace(
        answer, follow_ups=(), actions=tuple(a for a in answer.actions if a.url)
    )


async def prepare(
    services: Services, key: ThreadKey, answer: Answer, offer: Offer = NO_OFFER
) -> Ready:
    """Keep the payloads of the answer's buttons; without a store, drop those buttons."""
    extras = Extras(handoff=offer.handoff) if answer.ok else Extras()
    if answer.ok and offer.share:
        extras = await _shareable(services, key, answer, extras)
    if not (answer.ok and (answer.follow_ups or answer.actions)):
        return Ready(answer, ButtonKeys(), extras)
    try:
        keys = await save_buttons(
            services.store, key=key, answer=answer, ttl_seconds=services.session_ttl_seconds
        )
    except StoreError as exc:
        log.warning("could not keep button payloads in %s: %s", key, exc)
        return Ready(without_buttons(answer), ButtonKeys(), extras)
    return Ready(answer, keys, extras)


async def _shareable(services: Services, key: ThreadKey, answer: Answer, extras: Extras) -> Extras:
    """`extras` with a Share button, the answer kept for it (without, if the store fails)."""
    try:
        share_key = await keep_for_sharing(
            services.store,
            key.tenant,
            render_answer(answer, keys=ButtonKeys()),
            ttl_seconds=services.session_ttl_seconds,
        )
    except StoreError as exc:
        log.warning("could not keep a private answer in %s for sharing: %s", key, exc)
        return extras
    return dataclasses.replace(extras, share_key=share_key)
