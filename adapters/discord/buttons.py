"""Buttons that keep working after a restart: `discord.ui.DynamicItem`s over custom_id.

A follow-up button's custom_id is "meibel:fu:<key>", a call to action's "meibel:act:<key>";
<key> names a payload the app put in the store (1-89 characters of A-Z a-z 0-9 _ -, so
the custom_id stays within Discord's 100). discord.py rebuilds the item from the custom_id
alone (`from_custom_id`), so a click needs nothing from memory, not even the message.

The app installs its handler on the client as the attribute `meibel_buttons`
(HANDLER_ATTRIBUTE): an object with the `ButtonHandler` methods, which answer the
interaction (within 3 s: defer first). Without a handler, the clicker privately reads
"This button is not available right now."; if the handler raises, a private apology
(the handler should answer its own failures; this is the last net).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, runtime_checkable

import discord

from bot.replies import INTERNAL

log = logging.getLogger(__name__)

HANDLER_ATTRIBUTE = "meibel_buttons"
FOLLOW_UP_PREFIX = "meibel:fu:"
ACTION_PREFIX = "meibel:act:"
FEEDBACK_PREFIX = "meibel:fb:"
COMMENT_PREFIX = "meibel:fbc:"
VERDICTS = {"up": "positive", "down": "negative"}
_SIGNAL = r"[A-Za-z0-9_.:-]{1,80}"
KEY_MAX_LENGTH = 100 - len(ACTION_PREFIX)
_KEY = rf"[A-Za-z0-9_-]{{1,{KEY_MAX_LENGTH}}}"
UNAVAILABLE = "This button is not available right now."


@runtime_checkable
class ButtonHandler(Protocol):
    """What the app does on a click; `key` is the store key from the custom_id."""

    async def on_follow_up(self, interaction: discord.Interaction, key: str) -> None: ...

    async def on_action(self, interaction: discord.Interaction, key: str) -> None: ...

    async def on_feedback(
        self, interaction: discord.Interaction, verdict: str, signal_id: str
    ) -> None: ...

    async def on_comment(
        self, interaction: discord.Interaction, verdict: str, signal_id: str
    ) -> None: ...


def is_valid_key(key: str) -> bool:
    return re.fullmatch(_KEY, key) is not None


class FollowUpButton(
    discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]],
    template=rf"{FOLLOW_UP_PREFIX}(?P<key>{_KEY})",
):
    """Asks a suggested follow-up question in the same thread."""

    def __init__(self, key: str, *, label: str = "Ask", row: int | None = None) -> None:
        _check_key(key)
        button: discord.ui.Button[discord.ui.View] = discord.ui.Button(
            style=discord.ButtonStyle.secondary, label=label, custom_id=FOLLOW_UP_PREFIX + key
        )
        super().__init__(button, row=row)
        self.key = key

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction,
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> FollowUpButton:
        return cls(match["key"], label=_label_of(item, "Ask"))

    async def callback(self, interaction: discord.Interaction) -> None:
        await _dispatch(interaction, kind="follow-up", key=self.key, call=_follow_up(self.key))


class ActionButton(
    discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]],
    template=rf"{ACTION_PREFIX}(?P<key>{_KEY})",
):
    """Runs a call to action that is not a plain link."""

    def __init__(self, key: str, *, label: str = "Open", row: int | None = None) -> None:
        _check_key(key)
        button: discord.ui.Button[discord.ui.View] = discord.ui.Button(
            style=discord.ButtonStyle.primary, label=label, custom_id=ACTION_PREFIX + key
        )
        super().__init__(button, row=row)
        self.key = key

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction,
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> ActionButton:
        return cls(match["key"], label=_label_of(item, "Open"))

    async def callback(self, interaction: discord.Interaction) -> None:
        await _dispatch(interaction, kind="action", key=self.key, call=_action(self.key))


class _VerdictButton(
    discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]],
    template=r"(?!)",  # never matches: only the subclasses below are registered
):
    """A button about one answer's feedback, by verdict and signal id; a subclass names its
    custom_id prefix, its look, and the handler method a click calls."""

    PREFIX = ""
    KIND = ""

    def __init__(self, verdict: str, signal_id: str, *, row: int | None = None) -> None:
        if verdict not in VERDICTS or not is_valid_signal(signal_id):
            raise ValueError(f"bad {self.KIND} button {verdict!r} {signal_id!r}")
        label, emoji = self.look(verdict)
        button: discord.ui.Button[discord.ui.View] = discord.ui.Button(
            style=discord.ButtonStyle.secondary,
            custom_id=f"{self.PREFIX}{verdict}:{signal_id}",
            label=label,
            emoji=emoji,
        )
        super().__init__(button, row=row)
        self.verdict, self.signal_id = verdict, signal_id

    @staticmethod
    def look(verdict: str) -> tuple[str, str | None]:
        """The button's label and emoji."""
        raise NotImplementedError

    @staticmethod
    def handle(handler: ButtonHandler) -> Callable[..., Awaitable[None]]:
        raise NotImplementedError

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction,
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> _VerdictButton:
        return cls(match["verdict"], match["signal"])

    async def callback(self, interaction: discord.Interaction) -> None:
        verdict, signal_id = VERDICTS[self.verdict], self.signal_id
        await _dispatch(
            interaction,
            kind=self.KIND,
            key=signal_id,
            call=lambda handler, i: self.handle(handler)(i, verdict, signal_id),
        )


class FeedbackButton(
    _VerdictButton,
    template=rf"{FEEDBACK_PREFIX}(?P<verdict>up|down):(?P<signal>{_SIGNAL})",
):
    """Thumbs up or down on an answer, by its signal id (kept by bot.feedback)."""

    PREFIX, KIND = FEEDBACK_PREFIX, "feedback"

    @staticmethod
    def look(verdict: str) -> tuple[str, str | None]:
        return ("Helpful", "👍") if verdict == "up" else ("Not helpful", "👎")

    @staticmethod
    def handle(handler: ButtonHandler) -> Callable[..., Awaitable[None]]:
        return handler.on_feedback


class CommentButton(
    _VerdictButton,
    template=rf"{COMMENT_PREFIX}(?P<verdict>up|down):(?P<signal>{_SIGNAL})",
):
    """ "Add a comment" under the thanks for feedback: opens a modal."""

    PREFIX, KIND = COMMENT_PREFIX, "comment"

    @staticmethod
    def look(verdict: str) -> tuple[str, str | None]:
        return "Add a comment", None

    @staticmethod
    def handle(handler: ButtonHandler) -> Callable[..., Awaitable[None]]:
        return handler.on_comment


def is_valid_signal(signal_id: str) -> bool:
    return re.fullmatch(_SIGNAL, signal_id) is not None


def register_buttons(client: discord.Client) -> None:
    """Make the client route clicks on these buttons, whichever message carries them."""
    client.add_dynamic_items(FollowUpButton, ActionButton, FeedbackButton, CommentButton)


def handler_of(client: discord.Client) -> ButtonHandler | None:
    handler = getattr(client, HANDLER_ATTRIBUTE, None)
    return handler if isinstance(handler, ButtonHandler) else None


async def reply_privately(interaction: discord.Interaction, text: str) -> None:
    """An ephemeral reply, whether or not the interaction was answered already."""
    mentions = discord.AllowedMentions.none()
    try:
        if interaction.response.is_done():
            await interaction.followup.send(text, ephemeral=True, allowed_mentions=mentions)
        else:
            await interaction.response.send_message(text, ephemeral=True, allowed_mentions=mentions)
    except Exception as exc:  # the interaction may have expired: nothing left to tell
        log.warning("could not reply to a button click: %s", type(exc).__name__)


_Call = Callable[[ButtonHandler, discord.Interaction], Awaitable[None]]


def _follow_up(key: str) -> _Call:
    return lambda handler, interaction: handler.on_follow_up(interaction, key)


def _action(key: str) -> _Call:
    return lambda handler, interaction: handler.on_action(interaction, key)


async def _dispatch(interaction: discord.Interaction, *, kind: str, key: str, call: _Call) -> None:
    handler = handler_of(interaction.client)
    if handler is None:
        log.warning("%s button clicked, but client.%s is not set", kind, HANDLER_ATTRIBUTE)
        await reply_privately(interaction, UNAVAILABLE)
        return
    try:
        await call(handler, interaction)
    except Exception:
        log.exception("%s button handler failed (key %s)", kind, key)
        await reply_privately(interaction, INTERNAL.text)


def _check_key(key: str) -> None:
    if not is_valid_key(key):
        raise ValueError(f"button key must match {_KEY}, got {key!r}")


def _label_of(item: discord.ui.Item[Any], default: str) -> str:
    label = getattr(item, "label", None)
    return label if isinstance(label, str) and label else default
