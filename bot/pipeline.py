"""The heart of the bot: thread key -> Meibel session -> chat -> a typed Answer."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from bot import replies
from bot.domain import (
    Answer,
    Artifact,
    CallToAction,
    Final,
    PartialText,
    Progress,
    Question,
    Source,
    ThreadKey,
    Update,
)
from bot.meibel.client import FilePart
from bot.meibel.errors import (
    MeibelAgentNotFound,
    MeibelAuthError,
    MeibelError,
    MeibelInvalidRequest,
    MeibelSessionGone,
)
from bot.meibel.models import ChatMessageResponse
from bot.meibel.stream import StreamDone, StreamEvent, StreamStatus, StreamText, StreamToolCall
from bot.metrics import Metrics
from bot.routing import AgentRef, Router
from bot.store.base import SessionRecord, Store, StoreError
from bot.threadlock import ThreadBusy, ThreadLocks
from bot.turnlog import Notes

log = logging.getLogger(__name__)


class ChatBackend(Protocol):
    """The part of the Meibel client the pipeline uses."""

    timeout_seconds: int

    async def start_session(self, agent: AgentRef) -> str: ...

    async def chat(self, session_id: str, user_message: str) -> ChatMessageResponse: ...

    def chat_stream(
        self, session_id: str, user_message: str, *, files: Sequence[FilePart] = ()
    ) -> AsyncIterator[StreamEvent]: ...


@dataclass(frozen=True, slots=True)
class PipelineConfig:
    router: Router
    session_ttl_seconds: int = 7 * 24 * 3600
    max_question_chars: int = 8000


class Pipeline:
    """Answers questions; every outcome, failures included, is an `Answer` to show."""

    def __init__(
        self,
        *,
        meibel: ChatBackend,
        store: Store,
        config: PipelineConfig,
        locks: ThreadLocks | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.meibel = meibel
        self.store = store
        self.config = config
        self.locks = locks or ThreadLocks(store)
        self.metrics = metrics or Metrics()

    async def ask(self, question: Question, *, notes: Notes | None = None) -> Answer:
        """Answer one question in its thread's session, one at a time per thread.

        `notes` are the job's notes (bot.turnlog): a turn noted as sent is never sent again.
        """
        self.metrics.questions.labels(question.platform).inc()
        answer = await self._ask(question)
        self.metrics.answered(question.platform, answer)
        return answer

    async def _ask(self, question: Question) -> Answer:
        refused = self._refusal(question)
        if refused is not None:
            return refused
        key = question.thread_key
        self.metrics.in_flight.inc()
        try:
            async with self.locks.hold(key):
                return await self._answer(question, key, question.text.strip())
        except Exception as exc:
            return self._failure(exc, key)
        finally:
            self.metrics.in_flight.dec()

    async def ask_stream(
        self,
        question: Question,
        *,
        files: Sequence[FilePart] = (),
        notes: Notes | None = None,
    ) -> AsyncIterator[Update]:
        """Answer as the agent writes: progress, the text so far, then one Final.

        If the stream fails before any text, the answer comes from `/chat` instead and the
        user never notices; if it fails midway, the text so far stays and the Final says
        the answer was cut off. Iterate to the end (or aclose()) to release the thread.
        """
        self.metrics.questions.labels(question.platform).inc()
        async for update in self._ask_stream(question, files):
            if isinstance(update, Final):
                self.metrics.answered(question.platform, update.answer)
            yield update

    async def _ask_stream(
        self, question: Question, files: Sequence[FilePart]
    ) -> AsyncIterator[Update]:
        refused = self._refusal(question)
        if refused is not None:
            yield Final(refused)
            return
        key = question.thread_key
        self.metrics.in_flight.inc()
        try:
            async with self.locks.hold(key):
                async for update in self._stream(question, key, question.text.strip(), files):
                    yield update
        except Exception as exc:
            yield Final(self._failure(exc, key))
        finally:
            self.metrics.in_flight.dec()

    def _refusal(self, question: Question) -> Answer | None:
        text = question.text.strip()
        if not text:
            return replies.hint()
        if len(text) > self.config.max_question_chars:
            return replies.too_long(len(text), self.config.max_question_chars)
        return None

    def _failure(self, exc: Exception, key: ThreadKey) -> Answer:
        if isinstance(exc, StoreError):
            log.error("store failed while answering in %s: %s", key, exc)
            return replies.STORE_UNAVAILABLE
        if isinstance(exc, ThreadBusy):
            log.warning("gave up waiting for the lock of %s", key)
            return replies.THREAD_BUSY
        if isinstance(exc, MeibelError):
            log.warning("meibel failed for %s: %s", key, exc)
            return replies.for_meibel_error(exc, timeout_seconds=self.meibel.timeout_seconds)
        log.error("unexpected failure while answering in %s", key, exc_info=exc)
        return replies.INTERNAL

    async def reset(self, key: ThreadKey) -> None:
        """Forget the thread's session: its next message starts a new conversation."""
        await self.store.delete_session(key)

    async def _answer(self, question: Question, key: ThreadKey, text: str) -> Answer:
        record = await self._session(question, key)
        try:
            response = await self._chat(record.session_id, text)
            restarted = False
        except MeibelSessionGone:
            log.info("session %s of %s is gone; starting a new one", record.session_id, key)
            record = await self._new_session(key, AgentRef.parse(record.agent))
            response = await self._chat(record.session_id, text)
            restarted = True
        answer = to_answer(response, session_restarted=restarted)
        log.info("answered in %s (signal_id=%s)", key, answer.signal_id)
        return answer

    async def _session(self, question: Question, key: ThreadKey) -> SessionRecord:
        record = await self.store.get_session(key, ttl_seconds=self.config.session_ttl_seconds)
        if record is not None:
            return record
        agent = self.config.router.agent_for(
            platform=question.platform, workspace=question.workspace, channel=question.channel
        )
        return await self._new_session(key, agent)

    async def _stream(
        self, question: Question, key: ThreadKey, text: str, files: Sequence[FilePart]
    ) -> AsyncIterator[Update]:
        record = await self._session(question, key)
        restarted = False
        shown = ""
        said = ""
        while True:
            try:
                started = time.perf_counter()
                async for event in self.meibel.chat_stream(record.session_id, text, files=files):
                    if isinstance(event, StreamText):
                        shown = event.text
                        yield PartialText(event.text)
                    elif isinstance(event, StreamDone):
                        elapsed = time.perf_counter() - started
                        self.metrics.meibel_latency.labels("chat_stream").observe(elapsed)
                        answer = to_answer(event.response, session_restarted=restarted)
                        log.info("answered in %s (signal_id=%s)", key, answer.signal_id)
                        yield Final(answer)
                        return
                    elif (progress := describe(event)) is not None:
                        # A status and the tool call behind it often say the same thing
                        # ("Searching the knowledge base" / search_knowledge_base).
                        if _gist(progress) != _gist(said):
                            yield Progress(progress)
                        said = progress
                return  # chat_stream raises when it ends without completion
            except MeibelSessionGone:
                if restarted or shown:
                    raise
                log.info("session %s of %s is gone; starting a new one", record.session_id, key)
                record = await self._new_session(key, AgentRef.parse(record.agent))
                restarted = True
            except MeibelError as exc:
                if isinstance(exc, MeibelAuthError | MeibelAgentNotFound | MeibelInvalidRequest):
                    raise
                if shown:
                    log.warning("stream broke midway in %s: %s", key, exc)
                    yield Final(replies.cut_off(shown, session_restarted=restarted))
                    return
                log.info("stream failed before any text in %s (%s); using /chat", key, exc.code)
                response = await self._chat(record.session_id, text)
                answer = to_answer(response, session_restarted=restarted)
                if files:
                    answer = replies.with_note(answer, replies.FILES_NOT_SENT)
                yield Final(answer)
                return

    async def _chat(self, session_id: str, text: str) -> ChatMessageResponse:
        with self.metrics.meibel_call("chat"):
            return await self.meibel.chat(session_id, text)

    async def _new_session(self, key: ThreadKey, agent: AgentRef) -> SessionRecord:
        with self.metrics.meibel_call("start_session"):
            session_id = await self.meibel.start_session(agent)
        record = SessionRecord(session_id=session_id, agent=str(agent))
        await self.store.put_session(key, record, ttl_seconds=self.config.session_ttl_seconds)
        return record


def describe(event: StreamEvent) -> str | None:
    """The agent's activity in words for the thread; None for what is not activity."""
    if isinstance(event, StreamStatus):
        return event.text if event.text.endswith(("...", "…", ".")) else event.text + "..."
    if isinstance(event, StreamToolCall):
        name = event.tool_name.replace("_", " ").replace("-", " ").strip()
        if "search" in name:
            return f"{name[:1].upper()}{name[1:]}...".replace("Search ", "Searching ", 1)
        return f"Using {name}..."
    return None


def _gist(text: str) -> str:
    words = text.lower().replace("...", " ").replace("…", " ").split()
    return " ".join(w for w in words if w not in ("the", "a", "an"))


def to_answer(response: ChatMessageResponse, *, session_restarted: bool = False) -> Answer:
    """The neutral answer from Meibel's wire response; nulls become empty collections."""
    body = response.response
    return Answer(
        text=body.message or response.assistant_response or "",
        sources=tuple(
            Source(title=s.title, url=s.url, snippet=s.snippet) for s in body.sources or ()
        ),
        follow_ups=tuple(q for q in body.follow_up_questions or () if q.strip()),
        actions=tuple(
            CallToAction(label=a.label, action=a.action, action_data=a.action_data)
            for a in body.call_to_actions or ()
        ),
        artifacts=tuple(
            Artifact(
                artifact_id=a.artifact_id,
                filename=a.filename,
                mime_type=a.mime_type,
                content=a.content,
                storage_url=a.storage_url,
                size_bytes=a.size_bytes,
            )
            for a in body.artifacts or ()
        ),
        signal_id=response.signal_id,
        token_usage=dict(response.token_usage or {}),
        session_restarted=session_restarted,
    )
