"""The messages of one answer while the agent writes it, and their end as the full answer.

The text so far is split like the final answer (2,000 characters a message); every part
but the last is finished, the last one grows and carries an italic status line with the
agent's activity. At the end the messages are edited into the rendered answer (content,
sources embed, buttons, files): extra messages are posted, surplus ones deleted.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import discord

from adapters.discord import text as fmt
from adapters.discord.delivery import NO_PINGS, Sent, Target
from adapters.discord.journal import Journal
from adapters.discord.render import CONTENT_LIMIT, DiscordMessage, split_text

log = logging.getLogger(__name__)

STATUS_LIMIT = 150


def status_line(status: str) -> str:
    """The agent's activity as one italic line ("_Searching the knowledge base..._")."""
    line = fmt.cut(fmt.one_line(fmt.clean(status)), STATUS_LIMIT)
    return f"_{fmt.defuse(fmt.escape_inline(line))}_" if line else ""


def live_parts(text: str, status: str | None) -> list[str]:
    """The messages' contents for the text so far, the status line under the last part.

    Parts are cut exactly as the final answer's text will be, so finished parts stay put;
    in the rare case the last part has no room left for the status line, it goes without.
    """
    parts = split_text(fmt.defuse(fmt.clean(text).strip()), CONTENT_LIMIT)
    line = status_line(status) if status else ""
    if not line:
        return parts
    if not parts:
        return [line]
    if len(parts[-1]) + 2 + len(line) <= CONTENT_LIMIT:
        parts[-1] = f"{parts[-1]}\n\n{line}"
    return parts


@dataclass(slots=True)
class Shown:
    sent: Sent
    content: str  # "" for a message an earlier run posted: its content is not known


class LiveAnswer:
    """Posts and edits the answer's messages through the first target that takes them.

    `shown`: messages an earlier run of the job posted; they are edited into this answer
    rather than left behind. Deleted surplus messages are struck from the `journal`
    (the targets note what they post themselves).
    """

    def __init__(
        self,
        targets: Sequence[Target],
        *,
        shown: Sequence[Sent] = (),
        journal: Journal | None = None,
    ) -> None:
        self.targets = list(targets)
        self.current = 0  # the target messages go to; moves on when one refuses
        self.shown: list[Shown] = [Shown(sent, "") for sent in shown]
        self.journal = journal

    @property
    def posted(self) -> bool:
        return bool(self.shown)

    @property
    def remaining_targets(self) -> list[Target]:
        return self.targets[self.current :]

    async def show(self, parts: Sequence[str]) -> None:
        """Make the messages show `parts`: edit the ones that changed, post new ones."""
        for index, content in enumerate(parts):
            if index < len(self.shown):
                shown = self.shown[index]
                if shown.content != content:
                    await self._edit(shown, DiscordMessage(content=content))
            elif not await self._post(DiscordMessage(content=content)):
                return

    async def finish(self, messages: Sequence[DiscordMessage]) -> bool:
        """Turn the messages into the full answer; False if Discord refused a part of it."""
        try:
            for index, message in enumerate(messages):
                if index >= len(self.shown):
                    # No moving on to the next target here: the caller re-renders the
                    # whole answer there (a sent discord.File cannot be sent again).
                    if not await self._post(message, move_on=False):
                        return False
                elif _changes(self.shown[index], message):
                    await self._edit(self.shown[index], message, strict=True)
        except discord.HTTPException:
            return False
        for surplus in self.shown[len(messages) :]:
            try:
                await surplus.sent.message.delete()
            except discord.NotFound:
                pass  # gone already: nothing left to show
            except discord.HTTPException as exc:
                log.warning("could not delete a surplus live message (status %s)", exc.status)
                continue
            if self.journal is not None:
                await self.journal.deleted(surplus.sent.ref)
        del self.shown[len(messages) :]
        return True

    async def _edit(self, shown: Shown, message: DiscordMessage, *, strict: bool = False) -> None:
        try:
            await shown.sent.message.edit(**edit_kwargs(message))
        except discord.HTTPException as exc:
            log.warning("discord refused an edit of the live answer (status %s)", exc.status)
            if strict:
                raise
            return
        shown.content = message.content

    async def _post(self, message: DiscordMessage, *, move_on: bool = True) -> bool:
        while self.current < len(self.targets):
            target = self.targets[self.current]
            try:
                sent = await target.send(message)
            except discord.HTTPException as exc:
                log.warning(
                    "discord refused a live message to the %s (status %s, code %s)",
                    target.name,
                    exc.status,
                    exc.code,
                )
                self.current += 1
                if not move_on:
                    return False
                continue
            self.shown.append(Shown(sent, message.content))
            return True
        return False


def edit_kwargs(message: DiscordMessage) -> dict[str, Any]:
    """edit() arguments that make a message exactly `message` (and ping no one)."""
    kwargs: dict[str, Any] = {
        "content": message.content or None,
        "embeds": message.embeds,
        "view": message.view,
        "allowed_mentions": NO_PINGS,
    }
    if message.files:
        kwargs["attachments"] = message.files
    return kwargs


def _changes(shown: Shown, message: DiscordMessage) -> bool:
    return bool(shown.content != message.content or message.embeds or message.view or message.files)
