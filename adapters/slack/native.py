"""Slack's own chat streaming: one message that grows as the agent writes it.

chat.startStream opens the message (in a thread, and outside DMs for one recipient),
chat.appendStream adds Markdown to it, chat.stopStream ends it and may add blocks at its
bottom (the renderer's sources, buttons and feedback). The agent's activity shows as task
cards in the stream ("Searching the knowledge base"), marked complete when the text moves
on. Streamed text can only grow, so what is appended is always a prefix of the answer.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.models.messages.chunk import Chunk, MarkdownTextChunk, TaskUpdateChunk
from slack_sdk.web.async_chat_stream import AsyncChatStream
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.errors import TRANSPORT_ERRORS, slack_error
from adapters.slack.ratelimits import CallSkipped

log = logging.getLogger(__name__)

# Slack takes at most 12,000 characters of Markdown per call and renders a streamed message
# as one markdown block (12,000 across the payload); keep well inside it, and send the
# rest of a longer answer as ordinary messages at the end.
TEXT_BUDGET = 10_000
TITLE_LIMIT = 150
SKIPPED = "skipped"  # NativeRefused's code when the start had no rate-limit budget


class NativeRefused(Exception):
    """Slack would not start a stream here; `code` is its error."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


Activity = tuple[int, str]  # (sequence number, what the agent is doing)


class NativeStream:
    """One streamed message; see the module docstring. Never raises but NativeRefused."""

    def __init__(
        self,
        *,
        client: AsyncWebClient,
        channel: str,
        thread_ts: str,
        recipient_user: str | None,
        recipient_team: str | None,
    ) -> None:
        self.client = client
        self.channel = channel
        self.thread_ts = thread_ts
        self.recipient_user = recipient_user
        self.recipient_team = recipient_team
        self.shown = ""  # the Markdown appended so far
        self.broken = False  # a call after the start failed: nothing more is appended
        self.diverged = False  # the agent's text no longer extends what was shown
        self.full = False  # TEXT_BUDGET is used up
        self._stream: AsyncChatStream | None = None
        self._activity: int | None = None  # the sequence number of the last activity shown
        self._running: TaskUpdateChunk | None = None

    @property
    def ts(self) -> str | None:
        return self._stream.ts if self._stream is not None else None

    async def show(self, text: str, activity: Activity | None) -> None:
        """Append what is new in `text` (the whole answer so far) and new activity."""
        if self.broken:
            return
        before = (self._activity, self._running)  # kept if the call is skipped
        chunks: list[Chunk] = []
        if activity is not None and activity[0] != self._activity:
            chunks += self._complete_running()
            self._running = TaskUpdateChunk(
                id=f"activity-{activity[0]}",
                title=_title(activity[1]),
                status="in_progress",
            )
            chunks.append(self._running)
            self._activity = activity[0]
        delta = self._delta(text)
        if delta:
            chunks = [*chunks, *self._complete_running(), MarkdownTextChunk(text=delta)]
        if not chunks:
            return
        sent = await self._send(chunks)
        if sent:
            self.shown += delta
        elif sent is None:
            self._activity, self._running = before  # shown with the next call instead

    async def finish(self, markdown: str = "", blocks: Sequence[dict[str, Any]] = ()) -> bool:
        """Stop the stream with the last text and `blocks` at its bottom; True when done."""
        if self._stream is None or self.ts is None:
            return False
        chunks = self._complete_running()
        if markdown:
            chunks.append(MarkdownTextChunk(text=markdown))
        try:
            await self._stream.stop(chunks=chunks, blocks=list(blocks) or None)
        except SlackApiError as exc:
            log.warning("chat.stopStream refused: %s", slack_error(exc))
            return False
        except TRANSPORT_ERRORS as exc:
            log.warning("chat.stopStream failed: %s", type(exc).__name__)
            return False
        self.shown += markdown
        return True

    def _delta(self, text: str) -> str:
        # Trailing whitespace waits: the next piece may turn "word " into "word\n\n".
        visible = text.rstrip()
        if not visible.startswith(self.shown):
            self.diverged = True
        if self.diverged or self.full:
            return ""
        end = len(visible)
        if end > TEXT_BUDGET:
            end = cut_point(visible, start=len(self.shown), limit=TEXT_BUDGET)
            self.full = True
        return visible[len(self.shown) : end]

    def _complete_running(self) -> list[Chunk]:
        running, self._running = self._running, None
        if running is None:
            return []
        return [TaskUpdateChunk(id=running.id, title=running.title, status="complete")]

    async def _send(self, chunks: list[Chunk]) -> bool | None:
        """True when sent; None when skipped for want of budget; False when broken."""
        starting = self._stream is None or self.ts is None
        if self._stream is None:
            self._stream = await self.client.chat_stream(
                channel=self.channel,
                thread_ts=self.thread_ts,
                recipient_user_id=self.recipient_user,
                recipient_team_id=self.recipient_team,
                buffer_size=1,  # the Pacer decides when to send; the helper must not wait
            )
        try:
            await self._stream.append(chunks=chunks)
        except CallSkipped:
            if starting:
                raise NativeRefused(SKIPPED) from None
            return None
        except SlackApiError as exc:
            if starting:
                raise NativeRefused(slack_error(exc)) from None
            log.warning("chat.appendStream refused: %s", slack_error(exc))
        except TRANSPORT_ERRORS as exc:
            if starting:
                raise NativeRefused(type(exc).__name__) from None
            log.warning("chat.appendStream failed: %s", type(exc).__name__)
        else:
            return True
        self.broken = True
        return False


def cut_point(text: str, *, start: int, limit: int) -> int:
    """Where to cut `text` at or before `limit` (and not before `start`): the last paragraph,
    line or word break outside a code block, else the last break, else `limit`."""
    if limit <= start:
        return start
    window = text[start:limit]
    for separator in ("\n\n", "\n", " "):
        index = window.rfind(separator)
        while index > 0:
            if text[: start + index].count("```") % 2 == 0:
                return start + index
            index = window.rfind(separator, 0, index)
    for separator in ("\n\n", "\n", " "):
        index = window.rfind(separator)
        if index > 0:
            return start + index
    return limit


def _title(activity: str) -> str:
    title = " ".join(activity.split()).rstrip(".…").strip() or "Working"
    return title if len(title) <= TITLE_LIMIT else title[: TITLE_LIMIT - 1] + "…"
