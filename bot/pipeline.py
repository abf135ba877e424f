"""The heart of the bot: thread key -> Meibel session -> chat -> a typed Answer."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

from bot import replies
from bot.domain import Answer, Artifact, CallToAction, Question, Source, ThreadKey
from bot.meibel.errors import MeibelError, MeibelSessionGone
from bot.meibel.models import ChatMessageResponse
from bot.routing import AgentRef, Router
from bot.store.base import SessionRecord, Store, StoreError
from bot.threadlock import ThreadBusy, ThreadLocks

log = logging.getLogger(__name__)


class ChatBackend(Protocol):
    """The part of the Meibel client the pipeline uses."""

    timeout_seconds: int

    async def start_session(self, agent: AgentRef) -> str: ...

    async def chat(self, session_id: str, user_message: str) -> ChatMessageResponse: ...


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
    ) -> None:
        self.meibel = meibel
        self.store = store
        self.config = config
        self.locks = locks or ThreadLocks(store)

    async def ask(self, question: Question) -> Answer:
        """Answer one question in its thread's session, one at a time per thread."""
        text = question.text.strip()
        if not text:
            return replies.hint()
        if len(text) > self.config.max_question_chars:
            return replies.too_long(len(text), self.config.max_question_chars)
        key = question.thread_key
        try:
            async with self.locks.hold(key):
                return await self._answer(question, key, text)
        except StoreError as exc:
            log.error("store failed while answering in %s: %s", key, exc)
            return replies.STORE_UNAVAILABLE
        except ThreadBusy:
            log.warning("gave up waiting for the lock of %s", key)
            return replies.THREAD_BUSY
        except MeibelError as exc:
            log.warning("meibel failed for %s: %s", key, exc)
            return replies.for_meibel_error(exc, timeout_seconds=self.meibel.timeout_seconds)
        except Exception:
            log.exception("unexpected failure while answering in %s", key)
            return replies.INTERNAL

    async def reset(self, key: ThreadKey) -> None:
        """Forget the thread's session: its next message starts a new conversation."""
        await self.store.delete_session(key)

    async def _answer(self, question: Question, key: ThreadKey, text: str) -> Answer:
        ttl = self.config.session_ttl_seconds
        record = await self.store.get_session(key, ttl_seconds=ttl)
        if record is None:
            agent = self.config.router.agent_for(
                platform=question.platform, workspace=question.workspace, channel=question.channel
            )
            record = await self._new_session(key, agent)
        try:
            response = await self.meibel.chat(record.session_id, text)
            restarted = False
        except MeibelSessionGone:
            log.info("session %s of %s is gone; starting a new one", record.session_id, key)
            record = await self._new_session(key, AgentRef.parse(record.agent))
            response = await self.meibel.chat(record.session_id, text)
            restarted = True
        answer = to_answer(response, session_restarted=restarted)
        log.info("answered in %s (signal_id=%s)", key, answer.signal_id)
        return answer

    async def _new_session(self, key: ThreadKey, agent: AgentRef) -> SessionRecord:
        session_id = await self.meibel.start_session(agent)
        record = SessionRecord(session_id=session_id, agent=str(agent))
        await self.store.put_session(key, record, ttl_seconds=self.config.session_ttl_seconds)
        return record


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
