"""One answer shown while the agent writes it, then finished as the full native answer.

The pipeline's updates (activity, the text so far, one Final) are kept as the latest state;
a Pacer shows that state in Slack at a steady pace: through Slack's chat streaming where
it is allowed, else in one edited message. The first activity and the first text are shown
at once. In assistant threads the activity goes to the assistant status instead.

At the end the message carries everything a posted answer has (sources, buttons, feedback,
notes); whenever a step of that is refused, the next one down is tried (stop the stream,
edit the message, post the answer anew), so the answer always arrives in some form.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from adapters.slack.edited import EditedMessage
from adapters.slack.journal import MESSAGE, VIA, Journal
from adapters.slack.native import (
    SKIPPED,
    TEXT_BUDGET,
    Activity,
    NativeRefused,
    NativeStream,
    cut_point,
)
from adapters.slack.pacing import Pacer
from adapters.slack.ratelimits import optional
from adapters.slack.settings import StreamingMode
from bot import replies
from bot.domain import Answer, Final, PartialText, Question, Update
from bot.domain import Progress as AgentProgress

if TYPE_CHECKING:
    from adapters.slack.responder import Responder, Whisper

log = logging.getLogger(__name__)

# Refusals that say "not in this workspace" rather than "not right now": edits are used
# there for a while without asking Slack again for every answer.
UNSUPPORTED = frozenset(
    {
        "unknown_method",
        "method_unknown",
        "not_allowed",
        "not_allowed_token_type",
        "missing_scope",
        "feature_not_enabled",
        "no_permission",
    }
)
REFUSAL_MEMORY_SECONDS = 600.0


@dataclass(frozen=True, slots=True)
class StreamOptions:
    mode: StreamingMode = "native"
    interval: float = 1.0  # seconds between two updates of one message


@dataclass
class Refusals:
    """Workspaces where Slack lately refused native streaming as unsupported."""

    until: dict[str, float] = field(default_factory=dict)

    def refused(self, workspace: str) -> bool:
        return self.until.get(workspace, 0.0) > time.monotonic()

    def remember(self, workspace: str, code: str) -> None:
        if code in UNSUPPORTED:
            self.until[workspace] = time.monotonic() + REFUSAL_MEMORY_SECONDS


class LiveAnswer:
    """See the module docstring; `run` never raises for Slack's refusals."""

    def __init__(
        self,
        *,
        responder: Responder,
        question: Question,
        whisper: Whisper,
        options: StreamOptions,
        refusals: Refusals,
        assistant_status: bool,
        note: str | None = None,
        journal: Journal | None = None,
        on_shown: Callable[[], None] | None = None,
    ) -> None:
        """`journal`: where the started message is noted, and where an earlier run of the
        same job may have left one to finish (edited in place, never a second one);
        `on_shown` hears when the answer's message first shows in the thread."""
        self.responder = responder
        self.question = question
        self.whisper = whisper
        self.options = options
        self.refusals = refusals
        self.assistant_status = assistant_status
        self.note = note
        self.text = ""
        self.activity: Activity | None = None  # what the agent does now; None once text moves
        self.status: str | None = None  # the latest activity, for the assistant status
        self.native: NativeStream | None = None
        self.edited: EditedMessage | None = None
        self._native_ok = options.mode == "native" and not refusals.refused(question.workspace)
        # No stream could start within Slack's budget: the answer is posted whole at the end.
        self._quiet = False
        self._on_shown = on_shown
        self._count = 0
        self._status_sent: str | None = None
        self.journal = journal or Journal.none()
        self._noted: str | None = self.journal.get(MESSAGE)
        if self._noted is not None:
            self.edited = EditedMessage(
                client=responder.client, channel=question.channel, thread_ts=question.thread
            )
            self.edited.ts = self._noted
            self._native_ok = False

    # -- while the agent writes ------------------------------------------------------------
    async def run(self, updates: AsyncIterator[Update]) -> Answer:
        """Show `updates` as they come, then deliver the Final answer; returns it."""
        pacer = Pacer(self._show, interval=self.options.interval)
        status = Pacer(self._show_status, interval=self.options.interval)
        final: Answer | None = None
        try:
            async for update in updates:
                if isinstance(update, Final):
                    final = update.answer
                elif isinstance(update, PartialText):
                    first = not self.text.strip() and bool(update.text.strip())
                    if update.text != self.text:
                        self.text, self.activity = update.text, None
                        pacer.poke(urgent=first)
                elif isinstance(update, AgentProgress):
                    self._count += 1
                    self.activity, self.status = (self._count, update.text), update.text
                    if self.assistant_status:
                        status.poke(urgent=self._status_sent is None)
                    elif self._shown():
                        pacer.poke()
                    else:
                        await pacer.now()  # the first sign of work, before reading on
        except BaseException:
            # Cut short (the job's deadline, a lost fence) or failed: stop showing at once,
            # calls in flight included, rather than wait for them.
            pacer.cancel()
            status.cancel()
            raise
        finally:
            await pacer.close()
            await status.close()
            if isinstance(updates, AsyncGenerator):
                await updates.aclose()  # releases the thread at once, even after an error here
        if final is None:
            log.error("the answer stream of %s ended without a Final", self.question.thread_key)
            final = replies.INTERNAL
        if self.note:
            final = replies.with_note(final, self.note)
        await self._deliver(final)
        return final

    def _shown(self) -> bool:
        return bool(
            (self.native is not None and self.native.ts)
            or (self.edited is not None and self.edited.ts)
        )

    async def _show(self) -> None:
        activity = None if self.assistant_status else self.activity
        question = self.question
        if self._quiet:
            return
        if self._native_ok:
            if self.native is None:
                self.native = NativeStream(
                    client=self.responder.client,
                    channel=question.channel,
                    thread_ts=question.thread,
                    # Outside DMs a stream is shown to one person: the asker.
                    recipient_user=None if _is_dm(question) else question.user,
                    recipient_team=None if _is_dm(question) else _team(question),
                )
            try:
                # Starting a stream (Tier 2) happens only when the budget has room now; a
                # progress update may wait up to one interval, else the next one (or the
                # stop, which is never skipped) carries its text.
                with optional(0.0 if self.native.ts is None else self.options.interval):
                    await self.native.show(self.text, activity)
                await self._note_started(self.native.ts, "stream")
                return
            except NativeRefused as exc:
                if exc.code == SKIPPED:
                    log.info("no chat.startStream budget: %s is posted whole", question.thread_key)
                    self.native, self._native_ok, self._quiet = None, False, True
                    return
                log.info("Slack refused chat streaming (%s); editing a message instead", exc.code)
                self.refusals.remember(question.workspace, exc.code)
                self.native, self._native_ok = None, False
        if self.edited is None:
            self.edited = EditedMessage(
                client=self.responder.client, channel=question.channel, thread_ts=question.thread
            )
        edited = self.edited
        # Progress edits wait at most one interval for their budget; the placeholder is
        # posted only if it can be now, else the answer is posted whole at the end.
        with optional(0.0 if edited.ts is None else self.options.interval):
            await edited.show(self.text, activity[1] if activity else None)
        if edited.ts is None and edited.skipped:
            log.info("no budget for a placeholder: %s is posted whole", question.thread_key)
            self._quiet = True
        await self._note_started(edited.ts, "edit")

    async def _note_started(self, ts: str | None, via: str) -> None:
        """Note the answer's message once it exists, so a re-run finishes this one."""
        if ts is not None and self._on_shown is not None:
            self._on_shown()
        if ts is not None and ts != self._noted:
            self._noted = ts
            await self.journal.note(**{MESSAGE: ts, VIA: via})

    async def _show_status(self) -> None:
        status = self.status
        if status and status != self._status_sent:
            self._status_sent = status
            await self.responder.set_status(self.question, status)

    # -- the end ---------------------------------------------------------------------------
    async def _deliver(self, answer: Answer) -> None:
        replace: str | None = None
        if self.native is not None and self.native.ts is not None:
            if await self._finish_native(self.native, answer):
                return
            replace = self.native.ts
        elif self.edited is not None and self.edited.ts is not None:
            replace = self.edited.ts

        async def posted(ts: str) -> None:
            await self._note_started(ts, "post")

        await self.responder.post_answer(
            answer,
            question=self.question,
            whisper=self.whisper,
            replace_ts=replace,
            on_posted=posted,
        )

    async def _finish_native(self, native: NativeStream, answer: Answer) -> bool:
        """End the stream with the whole answer; False when the message must be replaced."""
        responder, question = self.responder, self.question
        text = answer.text
        if native.broken or native.diverged or (answer.ok and not text.startswith(native.shown)):
            await native.finish()  # end it as it stands; the caller replaces its content
            return False
        if not answer.ok:
            messages = await responder.render(answer, question)
            if not await native.finish(blocks=messages[0].blocks):
                return False
            await responder.post_messages(messages[1:], question=question, whisper=self.whisper)
            return True
        if len(text) > TEXT_BUDGET:
            cut = cut_point(text, start=len(native.shown), limit=TEXT_BUDGET)
            if not await native.finish(text[len(native.shown) : cut]):
                return False
            rest = dataclasses.replace(answer, text=text[cut:].strip())
            await responder.post_answer(rest, question=question, whisper=self.whisper)
            return True
        extras = await responder.render_extras(answer, question, text_shown=bool(text.strip()))
        if not await native.finish(text[len(native.shown) :], extras[0].blocks if extras else ()):
            return False
        await responder.post_messages(extras[1:], question=question, whisper=self.whisper)
        await responder.upload_artifacts(answer, question)
        return True


def _is_dm(question: Question) -> bool:
    return question.channel.startswith("D")


def _team(question: Question) -> str | None:
    team = question.reply_to.get("team")
    if team:
        return team
    # A workspace id is a team id, except for an org-wide install (an E... org id).
    return question.workspace if question.workspace.startswith("T") else None
