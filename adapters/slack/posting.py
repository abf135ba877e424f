"""Putting an answer in its thread: render it, post (or edit into place) its messages, upload
its files, and turn every refusal into something the user can see."""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack import texts
from adapters.slack.errors import NOT_A_MEMBER, TRANSPORT_ERRORS, slack_error
from adapters.slack.payloads import ButtonKind, ButtonPayload, encode
from adapters.slack.ratelimits import CallSkipped, optional
from adapters.slack.render import (
    ButtonValues,
    SlackMessage,
    render_answer,
    render_notice,
    shown_inline,
)
from bot.channel_settings import ChannelSettingsBook
from bot.domain import Answer, AnswerKind, Question, Tenant
from bot.store.base import Store, StoreError

log = logging.getLogger(__name__)

# A private note to one user; commands and clicks use their response_url, events ephemerals.
Whisper = Callable[[str], Coroutine[Any, Any, None]]
# Told the ts of an answer's first message as soon as Slack has it (for the job's journal).
OnPosted = Callable[[str], Awaitable[None]]
_EMPTY_MARK: list[dict[str, Any]] = []


class Poster:
    def __init__(self, *, client: AsyncWebClient, store: Store, button_ttl_seconds: int) -> None:
        self.client = client
        self.store = store
        self.button_ttl_seconds = button_ttl_seconds
        self.bot_user: str | None = None
        # The channels' own settings (bot.channel_settings): hand-off buttons follow them.
        self.places: ChannelSettingsBook | None = None

    # -- whole answers -------------------------------------------------------------------
    async def post_answer(
        self,
        answer: Answer,
        *,
        question: Question,
        whisper: Whisper,
        replace_ts: str | None = None,
        on_posted: OnPosted | None = None,
    ) -> None:
        """Post the answer (or the notice it stands for) and its files in the thread; with
        `replace_ts`, its first message replaces that message (a placeholder) if Slack lets it.
        `on_posted` hears the ts of a newly posted first message."""
        messages = await self.render(answer, question)
        if replace_ts is not None and await self._replace(replace_ts, messages[0], question):
            messages, on_posted = messages[1:], None
        if await self.post_messages(
            messages, question=question, whisper=whisper, on_first=on_posted
        ):
            await self.upload_artifacts(answer, question)

    async def post_messages(
        self,
        messages: Sequence[SlackMessage],
        *,
        question: Question,
        whisper: Whisper,
        on_first: OnPosted | None = None,
    ) -> bool:
        """Post `messages` in order; False (and the refusal made visible) if one failed."""
        for index, message in enumerate(messages):
            try:
                response = await self.client.chat_postMessage(
                    channel=question.channel,
                    thread_ts=question.thread,
                    text=message.text,
                    blocks=message.blocks,
                )
            except SlackApiError as exc:
                await self._post_failed(exc, question=question, whisper=whisper, part=index)
                return False
            except TRANSPORT_ERRORS as exc:
                log.error(
                    "chat.postMessage failed in %s: %s", question.thread_key, type(exc).__name__
                )
                return False
            ts = response.get("ts")
            if index == 0 and on_first is not None and ts:
                await on_first(str(ts))
        return True

    async def _replace(self, ts: str, message: SlackMessage, question: Question) -> bool:
        try:
            await self.client.chat_update(
                channel=question.channel, ts=ts, text=message.text, blocks=message.blocks
            )
        except SlackApiError as exc:
            log.warning("chat.update refused in %s: %s", question.thread_key, slack_error(exc))
            return False
        except TRANSPORT_ERRORS as exc:
            log.warning("chat.update failed in %s: %s", question.thread_key, type(exc).__name__)
            return False
        return True

    async def upload_artifacts(self, answer: Answer, question: Question) -> None:
        if answer.kind is not AnswerKind.ANSWER:
            return
        for artifact in answer.artifacts:
            if artifact.content is None or shown_inline(artifact):
                continue  # links, or shown in the rendered answer itself
            uploaded = await self.call_quietly(
                "files.upload_v2",
                self.client.files_upload_v2(
                    channel=question.channel,
                    thread_ts=question.thread,
                    content=artifact.content,
                    filename=artifact.filename,
                    title=artifact.filename,
                ),
            )
            if not uploaded:
                await self.post_notice(
                    question, texts.UPLOAD_FAILED.format(name=texts.code(artifact.filename))
                )

    # -- rendering -----------------------------------------------------------------------
    async def render(self, answer: Answer, question: Question) -> list[SlackMessage]:
        """The answer's messages; a notice (with "Try again" for failures) for the others."""
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

    async def render_extras(
        self, answer: Answer, question: Question, *, text_shown: bool
    ) -> list[SlackMessage]:
        """Everything of an answer but its text (already streamed): notes, files, sources,
        buttons, feedback; the renderer's "empty answer" line only if no text was shown."""
        messages = await self.render(dataclasses.replace(answer, text=""), question)
        if not text_shown:
            return messages
        mark = _empty_mark()
        pages = [
            SlackMessage(text=m.text, blocks=[b for b in m.blocks if b not in mark])
            for m in messages
        ]
        return [page for page in pages if page.blocks]

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
        return ButtonValues(
            follow_ups=follow_ups, actions=actions, handoff=await self._handoff(question)
        )

    async def _handoff(self, question: Question) -> str | None:
        """The question's message ts for "I need a person", where the channel names people."""
        if self.places is None or question.channel.startswith("D"):
            return None
        place = await self.places.get(
            Tenant(question.platform, question.workspace), question.channel
        )
        if not place.handoff:
            return None
        return question.reply_to.get("message_ts") or question.thread

    async def _retry_value(self, question: Question) -> str | None:
        payload = ButtonPayload(ButtonKind.RETRY, question.workspace, question.text)
        try:
            return await encode(payload, store=self.store, ttl_seconds=self.button_ttl_seconds)
        except StoreError as exc:
            log.warning("no Try again button in %s: %s", question.thread_key, exc)
            return None

    # -- small messages ------------------------------------------------------------------
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

    async def set_status(self, question: Question, status: str) -> bool:
        """The assistant thread's status line ("is searching the knowledge base..."); it only
        decorates, so it is skipped when its rate-limit budget is used up."""
        with optional():
            return await self.call_quietly(
                "assistant.threads.setStatus",
                self.client.assistant_threads_setStatus(
                    channel_id=question.channel, thread_ts=question.thread, status=status
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
        except CallSkipped:
            log.debug("%s skipped: no rate-limit budget for it now", method)
            return False
        except SlackApiError as exc:
            log.warning("%s refused: %s", method, slack_error(exc))
            return False
        except TRANSPORT_ERRORS as exc:
            log.warning("%s failed: %s", method, type(exc).__name__)
            return False
        return True


def _empty_mark() -> list[dict[str, Any]]:
    """The blocks the renderer shows for an answer without text (asked of it, not copied)."""
    if not _EMPTY_MARK:
        _EMPTY_MARK.extend(render_answer(Answer(text=""), buttons=ButtonValues())[0].blocks)
    return _EMPTY_MARK


def action_request(label: str, action: str, data: dict[str, object] | None) -> str:
    """What the agent is asked when someone clicks a call-to-action button."""
    details = f" with {json.dumps(data, ensure_ascii=False, sort_keys=True)}" if data else ""
    return f'Please perform the action "{label}" ({action}){details}.'
