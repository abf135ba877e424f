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

PROGRESS_REACTION = "eyes"
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
    reacted: bool  # a reaction was added (and must be removed)
    status: bool  # the assistant status is set (and shows the agent's activity)


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
    ) -> None:
        super().__init__(client=client, store=store, button_ttl_seconds=button_ttl_seconds)
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
        channel, thread = question.channel, question.thread
        if journal.get(ANSWERED):
            log.info("%s: answered by an earlier run; not posting again", question.thread_key)
            if progress.react_to:  # that run may have died before taking it away
                await self._unreact(channel, progress.react_to)
            return None
        shown = await self._start_progress(channel, thread, progress)
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
                    question, whisper, self.stream, files, status=shown.status, journal=journal
                )
            await journal.note(**{ANSWERED: "1"})
            return answer
        finally:
            # Cosmetic, and maybe after the job's deadline cut the answer short: bounded.
            try:
                async with asyncio.timeout(call_bound(CLEANUP_SECONDS)):
                    if shown.reacted and progress.react_to:
                        await self._unreact(channel, progress.react_to)
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
        status: bool,
        journal: Journal,
    ) -> Answer:
        fetched = await self.downloader.fetch(files) if files else Fetched()
        live = LiveAnswer(
            responder=self,
            question=question,
            whisper=whisper,
            options=options,
            refusals=self.refusals,
            assistant_status=status,
            note=skipped_note(fetched.skipped),
            journal=journal,
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

    async def _unreact(self, channel: str, ts: str) -> None:
        await self.call_quietly(
            "reactions.remove",
            self.client.reactions_remove(channel=channel, timestamp=ts, name=PROGRESS_REACTION),
        )

    async def _start_progress(self, channel: str, thread: str, progress: Progress) -> _Shown:
        """Show the working sign: the assistant status where allowed, else a reaction."""
        if progress.assistant:
            if progress.title:
                await self.call_quietly(
                    "assistant.threads.setTitle",
                    self.client.assistant_threads_setTitle(
                        channel_id=channel, thread_ts=thread, title=progress.title
                    ),
                )
            status_set = await self.call_quietly(
                "assistant.threads.setStatus",
                self.client.assistant_threads_setStatus(
                    channel_id=channel,
                    thread_ts=thread,
                    status=texts.THINKING,
                    loading_messages=list(texts.LOADING_MESSAGES),
                ),
            )
            if status_set:
                return _Shown(reacted=False, status=True)
        if not progress.react_to:
            return _Shown(reacted=False, status=False)
        try:
            await self.client.reactions_add(
                channel=channel, timestamp=progress.react_to, name=PROGRESS_REACTION
            )
        except SlackApiError as exc:
            error = slack_error(exc)
            # Already there: an earlier run of the same job put it; this run takes it away.
            if error != "already_reacted":
                log.warning("reactions.add refused: %s", error)
                return _Shown(reacted=False, status=False)
        except TRANSPORT_ERRORS as exc:
            log.warning("reactions.add failed: %s", type(exc).__name__)
            return _Shown(reacted=False, status=False)
        return _Shown(reacted=True, status=False)
