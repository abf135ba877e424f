"""One question, answered in its Slack thread: progress sign, pipeline, post, clean up.

Every path ends in something the user can see in the thread (the answer, a notice with
"Try again", or a private note), and never in an exception text or a token.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack import texts
from adapters.slack.payloads import ButtonKind, ButtonPayload, encode
from adapters.slack.render import ButtonValues, SlackMessage, render_answer, render_notice
from adapters.slack.threads import remember_thread
from bot.domain import Answer, AnswerKind, Question
from bot.pipeline import Pipeline
from bot.store.base import Store, StoreError

log = logging.getLogger(__name__)

PROGRESS_REACTION = "eyes"
NOT_A_MEMBER = frozenset({"not_in_channel", "channel_not_found", "is_archived"})
# Failures of a call that never got a Slack answer (connection lost, timed out).
TRANSPORT_ERRORS = (SlackClientError, aiohttp.ClientError, TimeoutError)
# A private note to one user; commands and clicks use their response_url, events ephemerals.
Whisper = Callable[[str], Coroutine[Any, Any, None]]


def slack_error(exc: SlackApiError) -> str:
    """The error code of a refused call (never the request, which may hold a token)."""
    data = getattr(exc.response, "data", None)
    return str(data.get("error") or "unknown") if isinstance(data, dict) else "unknown"


@dataclass(frozen=True, slots=True)
class Progress:
    """How the user sees that the bot is working: a reaction, or the assistant status."""

    react_to: str | None = None  # ts of the message that gets the reaction
    assistant: bool = False  # set assistant.threads status (and the title, if given)
    title: str | None = None


class Responder:
    def __init__(
        self,
        *,
        client: AsyncWebClient,
        pipeline: Pipeline,
        store: Store,
        button_ttl_seconds: int,
    ) -> None:
        self.client = client
        self.pipeline = pipeline
        self.store = store
        self.button_ttl_seconds = button_ttl_seconds
        self.bot_user: str | None = None

    # -- the whole turn ------------------------------------------------------------------
    async def respond(self, question: Question, *, progress: Progress, whisper: Whisper) -> None:
        """Answer `question` in its thread. Never raises: failures become visible notes."""
        channel, thread = question.channel, question.thread
        reacted = await self._start_progress(channel, thread, progress)
        try:
            try:
                await remember_thread(
                    self.store, question.thread_key, ttl_seconds=self.button_ttl_seconds
                )
            except StoreError as exc:
                log.warning("could not remember thread %s: %s", question.thread_key, exc)
            answer = await self.pipeline.ask(question)
            await self.post_answer(answer, question=question, whisper=whisper)
        finally:
            if reacted and progress.react_to:
                await self.call_quietly(
                    "reactions.remove",
                    self.client.reactions_remove(
                        channel=channel, timestamp=progress.react_to, name=PROGRESS_REACTION
                    ),
                )
            elif progress.assistant:
                # The status clears itself on our reply; clear it when no reply came through.
                await self.call_quietly(
                    "assistant.threads.setStatus",
                    self.client.assistant_threads_setStatus(
                        channel_id=channel, thread_ts=thread, status=""
                    ),
                )

    async def _start_progress(self, channel: str, thread: str, progress: Progress) -> bool:
        """Show the working sign; True when a reaction was added (and must be removed)."""
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
            if status_set or not progress.react_to:
                return False
        if not progress.react_to:
            return False
        return await self.call_quietly(
            "reactions.add",
            self.client.reactions_add(
                channel=channel, timestamp=progress.react_to, name=PROGRESS_REACTION
            ),
        )

    # -- posting -------------------------------------------------------------------------
    async def post_answer(self, answer: Answer, *, question: Question, whisper: Whisper) -> None:
        """Post the answer (or the notice it stands for) and its files in the thread."""
        messages = await self._render(answer, question)
        channel, thread = question.channel, question.thread
        for index, message in enumerate(messages):
            try:
                await self.client.chat_postMessage(
                    channel=channel, thread_ts=thread, text=message.text, blocks=message.blocks
                )
            except SlackApiError as exc:
                await self._post_failed(exc, question=question, whisper=whisper, part=index)
                return
            except TRANSPORT_ERRORS as exc:
                log.error(
                    "chat.postMessage failed in %s: %s", question.thread_key, type(exc).__name__
                )
                return
        if answer.kind is AnswerKind.ANSWER:
            for artifact in answer.artifacts:
                if artifact.content is None:
                    continue  # storage_url artifacts are links in the rendered answer
                uploaded = await self.call_quietly(
                    "files.upload_v2",
                    self.client.files_upload_v2(
                        channel=channel,
                        thread_ts=thread,
                        content=artifact.content,
                        filename=artifact.filename,
                        title=artifact.filename,
                    ),
                )
                if not uploaded:
                    await self.post_notice(
                        question, texts.UPLOAD_FAILED.format(name=texts.code(artifact.filename))
                    )

    async def _render(self, answer: Answer, question: Question) -> list[SlackMessage]:
        try:
            if answer.kind is AnswerKind.ANSWER:
                return render_answer(answer, buttons=await self._buttons(answer, question))
            retry = await self._retry_value(question) if answer.kind is AnswerKind.ERROR else None
            return [render_notice(answer.text, retry_value=retry)]
        except Exception:
            # A renderer bug must still leave a visible trace in the thread.
            log.exception("could not render the answer for %s", question.thread_key)
            retry = await self._retry_value(question)
            try:
                return [render_notice(texts.POST_FAILED, retry_value=retry)]
            except Exception:
                log.exception("could not render a notice either")
                return [SlackMessage(text=texts.POST_FAILED)]

    async def _buttons(self, answer: Answer, question: Question) -> ButtonValues:
        ws = question.workspace
        ttl = self.button_ttl_seconds
        follow_ups = [
            await encode(ButtonPayload(ButtonKind.ASK, ws, text), store=self.store, ttl_seconds=ttl)
            for text in answer.follow_ups
        ]
        actions = [
            # A link button opens its URL and sends nothing back: no payload to keep.
            ""
            if a.url
            else await encode(
                ButtonPayload(
                    ButtonKind.ACTION, ws, action_request(a.label, a.action, a.action_data), a.label
                ),
                store=self.store,
                ttl_seconds=ttl,
            )
            for a in answer.actions
        ]
        return ButtonValues(follow_ups=follow_ups, actions=actions)

    async def _retry_value(self, question: Question) -> str | None:
        payload = ButtonPayload(ButtonKind.RETRY, question.workspace, question.text)
        try:
            return await encode(payload, store=self.store, ttl_seconds=self.button_ttl_seconds)
        except StoreError as exc:
            log.warning("no Try again button in %s: %s", question.thread_key, exc)
            return None

    async def post_notice(self, question: Question, markdown: str, *, retry: bool = False) -> None:
        """A short note in the question's thread; failures are only logged."""
        retry_value = await self._retry_value(question) if retry else None
        message = render_notice(markdown, retry_value=retry_value)
        await self.call_quietly(
            "chat.postMessage",
            self.client.chat_postMessage(
                channel=question.channel,
                thread_ts=question.thread,
                text=message.text,
                blocks=message.blocks,
            ),
        )

    async def _post_failed(
        self, exc: SlackApiError, *, question: Question, whisper: Whisper, part: int
    ) -> None:
        error = slack_error(exc)
        log.error("chat.postMessage refused in %s (part %d): %s", question.thread_key, part, error)
        if error in NOT_A_MEMBER:
            await whisper(texts.not_in_channel(self.bot_user))
        elif error in ("ratelimited", "invalid_auth", "token_revoked", "account_inactive"):
            return  # posting again would be refused the same way; the log says why
        else:
            # Blocks or size refused: say so in plain words, with a way to ask again.
            await self.post_notice(question, texts.POST_FAILED, retry=True)

    async def call_quietly(self, method: str, call: Awaitable[object]) -> bool:
        """Run a best-effort Slack call; log a refusal by its code, never raise."""
        try:
            await call
        except SlackApiError as exc:
            log.warning("%s refused: %s", method, slack_error(exc))
            return False
        except TRANSPORT_ERRORS as exc:
            log.warning("%s failed: %s", method, type(exc).__name__)
            return False
        return True


def action_request(label: str, action: str, data: dict[str, object] | None) -> str:
    """What the agent is asked when someone clicks a call-to-action button."""
    details = f" with {json.dumps(data, ensure_ascii=False, sort_keys=True)}" if data else ""
    return f'Please perform the action "{label}" ({action}){details}.'
