"""Answer -> Discord messages (content, embeds, buttons), inside every Discord limit.

Pure functions: no I/O. Buttons are built by adapters.discord.buttons (DynamicItems whose
custom_id carries a store key); the app stores the payloads and passes the keys in.

Render right before sending: a `discord.File` is consumed by the send that uploads it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import discord

from adapters.discord import text as fmt
from adapters.discord.attachments import Attachments, attachments
from adapters.discord.buttons import (
    ActionButton,
    FeedbackButton,
    FollowUpButton,
    is_valid_key,
    is_valid_signal,
)
from adapters.discord.place_items import NO_EXTRAS, Extras
from adapters.discord.split import split_text
from bot.domain import Answer, CallToAction, Source
from bot.replies import SESSION_RESTARTED

__all__ = [
    "NO_PINGS",
    "ButtonKeys",
    "DiscordMessage",
    "render_answer",
    "render_notice",
    "split_text",
]

NO_PINGS = discord.AllowedMentions.none()

CONTENT_LIMIT = 2000
EMBED_DESCRIPTION_LIMIT = 4096
FILES_PER_MESSAGE = 10
ROWS = 5
BUTTONS_PER_ROW = 5
LABEL_LIMIT = 80
LINK_URL_LIMIT = 512  # Discord refuses a link button with a longer url
SOURCE_TITLE_LIMIT = 200
SOURCE_URL_LIMIT = 1024
SOURCES_TITLE = "Sources"
EMPTY_ANSWER = "_The agent sent an empty answer. Please try asking again._"


@dataclass(frozen=True, slots=True)
class ButtonKeys:
    """Store keys for each button, in the order of answer.follow_ups and answer.actions
    (None for a call to action that is a plain link button)."""

    follow_ups: Sequence[str] = ()
    actions: Sequence[str | None] = ()


@dataclass(slots=True)
class DiscordMessage:
    """One message worth of send() arguments; `allowed_mentions` always pings no one."""

    content: str = ""
    embeds: list[discord.Embed] = field(default_factory=list)
    view: discord.ui.View | None = None
    files: list[discord.File] = field(default_factory=list)
    allowed_mentions: discord.AllowedMentions = field(default_factory=discord.AllowedMentions.none)


def render_answer(
    answer: Answer, *, keys: ButtonKeys, extras: Extras = NO_EXTRAS
) -> list[DiscordMessage]:
    """The answer as one or more messages; only the last carries embeds and buttons
    (`extras`: the ones the channel's settings add, on the row of the feedback buttons).

    Files ride on the last text message, ten (and 8 MB) at a time; more go in messages
    of their own after it. Buttons that do not fit the 5x5 grid become text lines, so
    nothing the agent offered is lost.
    """
    buttons = _Buttons(answer, keys, extras)
    files = attachments(answer.artifacts)
    sections = [
        SESSION_RESTARTED if answer.session_restarted else "",
        answer.text,
        "\n".join(files.lines),
        "\n".join(buttons.overflow_lines),
    ]
    body = fmt.defuse("\n\n".join(fmt.clean(s).strip() for s in sections if s.strip()))
    messages = [DiscordMessage(content=part) for part in _contents(body)]
    _attach(messages, files)
    if not messages:
        messages.append(DiscordMessage())
    last = messages[-1]
    embed = _sources_embed(answer.sources)
    if embed is not None:
        last.embeds.append(embed)
    last.view = buttons.view()
    if not (last.content or last.embeds or last.files or last.view):
        last.content = EMPTY_ANSWER
    return messages


def _contents(body: str) -> list[str]:
    """`body` split into message contents, each defused again: a web address longer than
    a message is cut, and its second half ("/@everyone...") is no longer an address."""
    contents: list[str] = []
    for part in split_text(body, CONTENT_LIMIT):
        safe = fmt.defuse(part)
        contents.extend([safe] if len(safe) <= CONTENT_LIMIT else _contents(safe))
    return contents


def render_notice(markdown: str) -> DiscordMessage:
    """A short notice (error, hint, refusal): one message, cut with "…" if too long."""
    parts = split_text(fmt.defuse(fmt.clean(markdown)), CONTENT_LIMIT - 2)
    if not parts:
        return DiscordMessage(content="…")
    return DiscordMessage(content=parts[0] + ("\n…" if len(parts) > 1 else ""))


def _attach(messages: list[DiscordMessage], files: Attachments) -> None:
    batches = files.batches(per_message=FILES_PER_MESSAGE)
    if not batches:
        return
    if messages:
        messages[-1].files.extend(batches.pop(0))
    messages.extend(DiscordMessage(files=batch) for batch in batches)


def _sources_embed(sources: Sequence[Source]) -> discord.Embed | None:
    """Numbered links, trimmed with a visible "…and N more sources" to fit one embed."""
    if not sources:
        return None
    lines = [_source_line(number, source) for number, source in enumerate(sources, 1)]
    shown, length = 0, 0
    for line in lines:
        grown = length + len(line) + (1 if shown else 0)
        rest = len(lines) - shown - 1
        reserve = len(_more_sources(rest)) + 1 if rest else 0
        if grown + reserve > EMBED_DESCRIPTION_LIMIT:
            break
        shown, length = shown + 1, grown
    kept = lines[:shown]
    if shown < len(lines):
        kept.append(_more_sources(len(lines) - shown))
    return discord.Embed(title=SOURCES_TITLE, description="\n".join(kept))


def _more_sources(count: int) -> str:
    return f"…and {count} more source{'s' if count != 1 else ''}"


def _source_line(number: int, source: Source) -> str:
    url = fmt.safe_url(source.url, limit=SOURCE_URL_LIMIT)
    title = fmt.one_line(fmt.clean(source.title))
    if not title:
        title = fmt.host(url) if url else "Untitled source"
    title = fmt.defuse(fmt.escape_inline(fmt.cut(title, SOURCE_TITLE_LIMIT)))
    return f"{number}. [{title}]({url})" if url else f"{number}. {title}"


class _Buttons:
    """The answer's follow-ups and calls to action laid out on Discord's 5x5 grid."""

    def __init__(self, answer: Answer, keys: ButtonKeys, extras: Extras) -> None:
        self.follow_ups: list[discord.ui.Item[Any]] = []
        self.actions: list[discord.ui.Item[Any]] = []
        # Thumbs up/down on a real answer take the last row of their own, with the
        # channel's share and hand-off buttons (four at most: the row holds five).
        signal = answer.signal_id if answer.ok else None
        self.feedback: list[discord.ui.Item[Any]] = (
            [FeedbackButton("up", signal), FeedbackButton("down", signal)]
            if signal and is_valid_signal(signal)
            else []
        ) + (extras.items() if answer.ok else [])
        self.rows = ROWS - (1 if self.feedback else 0)
        self.overflow_lines: list[str] = []
        seen: set[str] = set()  # Discord refuses a message with a custom_id twice
        unbuttoned: list[str] = []
        for index, question in enumerate(answer.follow_ups):
            label = _label(question)
            key = keys.follow_ups[index] if index < len(keys.follow_ups) else None
            if not label:
                continue
            if key is None or not is_valid_key(key) or not self._room(answer=answer):
                unbuttoned.append(fmt.one_line(fmt.clean(question)))
            elif f"fu:{key}" not in seen:
                seen.add(f"fu:{key}")
                self.follow_ups.append(FollowUpButton(key, label=label))
        if unbuttoned:
            self.overflow_lines.append("**More questions you could ask:**")
            self.overflow_lines.extend(f"- {fmt.escape_inline(q)}" for q in unbuttoned)
        for index, action in enumerate(answer.actions):
            key = keys.actions[index] if index < len(keys.actions) else None
            self._add_action(action, key, seen)

    def _room(self, *, answer: Answer) -> bool:
        """Room for one more follow-up, leaving a row to the calls to action (if any)."""
        reserved = min(len(answer.actions), BUTTONS_PER_ROW)
        return len(self.follow_ups) < self.rows * BUTTONS_PER_ROW - reserved

    def _add_action(self, action: CallToAction, key: str | None, seen: set[str]) -> None:
        label = _label(action.label) or _label(action.action) or "Open"
        url = fmt.safe_url(action.url)
        full = len(self.follow_ups) + len(self.actions) >= self.rows * BUTTONS_PER_ROW
        if url is not None and len(url) <= LINK_URL_LIMIT and not full:
            self.actions.append(discord.ui.Button(label=label, url=url))
        elif key is not None and is_valid_key(key) and not full:
            if f"act:{key}" not in seen:
                seen.add(f"act:{key}")
                self.actions.append(ActionButton(key, label=label))
        elif url is not None:
            self.overflow_lines.append(f"🔗 [{fmt.escape_inline(label)}]({url})")
        elif key is not None:
            # A button we cannot show: at least say what the agent offered.
            self.overflow_lines.append(f"🔗 {fmt.escape_inline(label)}")

    def view(self) -> discord.ui.View | None:
        """Follow-ups one per row when that fits (long questions read best stacked), calls
        to action packed into the rows after them; else everything packed in order."""
        items = self.follow_ups + self.actions
        if not items and not self.feedback:
            return None
        action_rows = -(-len(self.actions) // BUTTONS_PER_ROW)
        stacked = len(self.follow_ups) + action_rows <= self.rows
        view = discord.ui.View(timeout=None)
        last = -1
        for index, item in enumerate(items):
            if stacked:
                after = index - len(self.follow_ups)
                item.row = index if after < 0 else len(self.follow_ups) + after // BUTTONS_PER_ROW
            else:
                item.row = index // BUTTONS_PER_ROW
            last = max(last, item.row)
            view.add_item(item)
        for item in self.feedback:
            item.row = last + 1
            view.add_item(item)
        return view


def _label(text: str) -> str:
    return fmt.cut(fmt.one_line(fmt.clean(text)), LABEL_LIMIT)
