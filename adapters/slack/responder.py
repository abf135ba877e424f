"""One question, answered in its Slack thread: progress sign, files, pipeline, post, clean up.

Every path ends in something the user can see in the thread (the answer, a notice with
"Try again", or a private note), and never in an exception text or a token. With streaming
on, the answer is shown as the agent writes it (live.py) and files shared with the question
go to the agent; with it off, the whole answer is posted when it is done.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.deadline import call_bound
from adapters.slack import texts
from adapters.slack.downloads import Downloader, Fetched
from adapters.slack.errors import NOT_A_MEMBER, TRANSPORT_ERRORS, slack_error
from adapters.slack.inbound import SharedFile
from adapters.slack.journal import ANSWERED, MESSAGE, VIA, Journal
from adapters.slack.live import LiveAnswer, Refusals, StreamOptions
from adapters.slack.posting import Poster, Whisper, action_request
from adapters.slack.progress import EyesSign
from adapters.slack.progress import remove as remove_eyes
from adapters.slack.ratelimits import optional
from adapters.slack.share import post_private
from adapters.slack.threads import remember_thread
from bot import replies
from bot.attachments import skipped_note
from bot.domain import Answer, Question
from bot.pipeline import Pipeline
from bot.store.base import Store, StoreError
from bot.work.fence import FenceLost

__all__ = [
    "NOT_A_MEMBER",
    "TRANSPORT_ERRORS",
    "Progress",
    "Responder",
    "Whisper",
    "action_request",
    "slack_error",
]

log = logging.getLogger(__name__)

# An answer that shows nothing this long after work began gets the :eyes: on its question.
PROGRESS_DELAY_SECONDS = 1.5
CLEANUP_SECONDS = 3.0
STREAMING_OFF_REASON = "files reach the agent only when streaming is on"


@dataclass(frozen=True, slots=True)
class Progress:
    """How the user sees that the bot is working: a reaction, or the assistant status."""

    react_to: str | None = None  # ts of the message that gets the reaction
    assistant: bool = False  # set assistant.threads status (and the title, if given)
    title: str | None = None


@dataclass(frozen=True, slots=True)
class _Shown:
    eyes: EyesSign | None  # the reaction that comes if the answer is slow to show
    status: bool  # the assistant status is set (and shows the agent's activity)

    def visible(self) -> None:
        """Something of the answer shows in the thread: no reaction needed from now on."""
        if self.eyes is not None:
            self.eyes.shown()


class Responder(Poster):
    def __init__(
        self,
        *,
        client: AsyncWebClient,
        pipeline: Pipeline,
        store: Store,
        button_ttl_seconds: int,
        downloader: Downloader,
        stream: StreamOptions | None = None,
        progress_delay: float = PROGRESS_DELAY_SECONDS,
    ) -> None:
        super().__init__(client=client, store=store, button_ttl_seconds=button_ttl_seconds)
        self.progress_delay = progress_delay
        self.pipeline = pipeline
        self.stream = stream  # None: streaming is off
        self.downloader = downloader
        self.refusals = Refusals()
        self.places = pipeline.places

    # -- the whole turn ------------------------------------------------------------------
    async def respond(
        self,
        question: Question,
        *,
        progress: Progress,
        whisper: Whisper,
        files: Sequence[SharedFile] = (),
        journal: Journal | None = None,
        private: bool = False,
    ) -> Answer | None:
        """Answer `question` in its thread. Never raises: failures become visible notes.

        `journal` holds what an earlier run of the same job already showed: a delivered
        answer is not delivered again, a started message is finished in place. Returns the
        answer delivered (None when an earlier run had delivered it). `private`: shown to
        the asker alone, whole, with "Share with the channel" (adapters.slack.share).
        """
        journal = journal or Journal.none()
        channel = question.channel
        if journal.get(ANSWERED):
            log.info("%s: answered by an earlier run; not posting again", question.thread_key)
            if progress.react_to:  # that run may have died before taking it away
                await remove_eyes(self, channel=channel, ts=progress.react_to)
            return None
        shown = await self._start_progress(question, progress, journal)
        try:
            try:
                await remember_thread(
                    self.store, question.thread_key, ttl_seconds=self.button_ttl_seconds
                )
            except StoreError as exc:
                log.warning("could not remember thread %s: %s", question.thread_key, exc)
            if journal.get(VIA) == "stream":
                await self._end_stale_stream(question, journal)
            if private:
                answer = await self.pipeline.ask(question, notes=journal)
                messages = await self.render(answer, question)
                await post_private(self, messages, question, ttl_seconds=self.button_ttl_seconds)
            elif self.stream is None:
                answer = await self.pipeline.ask(question, notes=journal)
                note = skipped_note(
                    [f"{texts.code(f.name)} ({STREAMING_OFF_REASON})" for f in files]
                )
                if note:
                    answer = replies.with_note(answer, note)

                async def posted(ts: str) -> None:
                    shown.visible()
                    await journal.note(**{MESSAGE: ts, VIA: "post"})

                await self.post_answer(
                    answer,
                    question=question,
                    whisper=whisper,
                    replace_ts=journal.get(MESSAGE),
                    on_posted=posted,
                )
            else:
                answer = await self._stream_answer(
                    question, whisper, self.stream, files, shown=shown, journal=journal
                )
            await journal.note(**{ANSWERED: "1"})
            return answer
        finally:
            # Cosmetic, and maybe after the job's deadline cut the answer short: bounded.
            try:
                async with asyncio.timeout(call_bound(CLEANUP_SECONDS)):
                    if shown.eyes is not None:
                        await shown.eyes.end()
                    elif progress.assistant:
                        # The status clears itself on our reply; clear it when none came.
                        await self.set_status(question, "")
            except TimeoutError:
                log.warning("could not clear the progress sign in %s in time", question.thread_key)

    async def _stream_answer(
        self,
        question: Question,
        whisper: Whisper,
        options: StreamOptions,
        files: Sequence[SharedFile],
        *,
        shown: _Shown,
        journal: Journal,
    ) -> Answer:
        fetched = await self.downloader.fetch(files) if files else Fetched()
        live = LiveAnswer(
            responder=self,
            question=question,
            whisper=whisper,
            options=options,
            refusals=self.refusals,
            assistant_status=shown.status,
            note=skipped_note(fetched.skipped),
            journal=journal,
            on_shown=shown.visible,
        )
        try:
            return await live.run(
                self.pipeline.ask_stream(question, files=fetched.parts, notes=journal)
            )
        except FenceLost:
            raise  # another worker answers: nothing more from this run
        except Exception:
            # A bug here must not leave the thread silent.
            log.exception("could not show the streamed answer in %s", question.thread_key)
            await self.post_notice(question, replies.INTERNAL.text, retry=True)
            return replies.INTERNAL

    async def _end_stale_stream(self, question: Question, journal: Journal) -> None:
        """An earlier run died while streaming: end its stream, so that this run can edit
        that message into the answer (Slack may have ended it already; that is fine)."""
        ts = journal.get(MESSAGE)
        if ts is None:
            return
        try:
            await self.client.chat_stopStream(channel=question.channel, ts=ts)
        except SlackApiError as exc:
            log.info("the earlier run's stream in %s: %s", question.thread_key, slack_error(exc))
        except TRANSPORT_ERRORS as exc:
            log.warning("could not end the earlier run's stream: %s", type(exc).__name__)
        await journal.note(**{VIA: "edit"})

    async def _start_progress(
        self, question: Question, progress: Progress, journal: Journal
    ) -> _Shown:
        """Show the working sign: the assistant status where allowed, else the :eyes: after
        a short while (progress.py). Both only decorate: skipped when out of budget."""
        if progress.assistant:
            with optional():
                if progress.title:
                    await self.call_quietly(
                        "assistant.threads.setTitle",
                        self.client.assistant_threads_setTitle(
                            channel_id=question.channel,
                            thread_ts=question.thread,
                            title=progress.title,
                        ),
                    )
                status_set = await self.call_quietly(
                    "assistant.threads.setStatus",
                    self.client.assistant_threads_setStatus(
                        channel_id=question.channel,
                        thread_ts=question.thread,
                        status=texts.THINKING,
                        loading_messages=list(texts.LOADING_MESSAGES),
                    ),
                )
            if status_set:
                return _Shown(eyes=None, status=True)
        if not progress.react_to:
            return _Shown(eyes=None, status=False)
        eyes = EyesSign(
            poster=self,
            channel=question.channel,
            ts=progress.react_to,
            delay=self.progress_delay,
            journal=journal,
        )
        eyes.start()
        return _Shown(eyes=eyes, status=False)
