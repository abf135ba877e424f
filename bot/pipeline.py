"""The heart of the bot: thread key -> Meibel session -> chat -> a typed Answer."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from bot import replies
from bot.channel_settings import ChannelSettings, ChannelSettingsBook
from bot.context import ContextLimits, with_context
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
from bot.feedback import remember_asked
from bot.identity import IdentityOptions, initial_context
from bot.meibel.client import FilePart
from bot.meibel.errors import (
    MeibelError,
    MeibelSessionGone,
    MeibelTurnUncertain,
    turn_not_taken,
)
from bot.meibel.models import ChatMessageResponse, SessionDetail, SessionMessages
from bot.meibel.stream import (
    MAX_ANSWER_CHARS,
    StreamDone,
    StreamEvent,
    StreamStatus,
    StreamText,
    StreamToolCall,
)
from bot.meibel.turns import TurnAnswered, TurnNotArrived, TurnUnanswered, find_turn
from bot.metrics import Metrics
from bot.policies import PolicyRules
from bot.routing import AgentRef, Router
from bot.safety import safe_answer, safe_markdown, safe_prefix
from bot.store.base import SessionRecord, Store, StoreError
from bot.threadlock import ThreadBusy, ThreadLockLost, ThreadLocks
from bot.turnlog import TURN, Notes, SentTurn
from bot.work.fence import FenceLost, time_left

log = logging.getLogger(__name__)

# Live text is handed on when it grew by a quarter or after this long, never per delta:
# reading the text so far costs its length, and an answer may come in 3-byte deltas.
TEXT_GROWTH = 1.25
TEXT_INTERVAL_SECONDS = 0.1
# Time kept back from the job's deadline for posting what reconciliation found.
POST_RESERVE_SECONDS = 5.0


class ChatBackend(Protocol):
    """The part of the Meibel client the pipeline uses."""

    timeout_seconds: int

    @property
    def turn_deadline_seconds(self) -> float: ...

    async def start_session(
        self,
        agent: AgentRef,
        *,
        initial_context: dict[str, Any] | None = None,
        execution_policy_ids: Sequence[str] = (),
    ) -> str: ...

    async def chat(self, session_id: str, user_message: str) -> ChatMessageResponse: ...

    def chat_stream(
        self, session_id: str, user_message: str, *, files: Sequence[FilePart] = ()
    ) -> AsyncIterator[StreamEvent]: ...

    async def get_session(self, session_id: str) -> SessionDetail: ...

    async def get_messages(self, session_id: str) -> SessionMessages: ...


@dataclass(slots=True)
class _Turn:
    """One question's way to the agent: where it went, and what may be done again."""

    key: ThreadKey
    text: str  # what is sent: the question, after its thread context (bot.context)
    asked: str  # the question alone
    record: SessionRecord
    notes: Notes | None
    sent: SentTurn | None = None
    restarted: bool = False
    resent: bool = False
    files: bool = False  # the stream carried files, which /chat cannot send
    files_dropped: bool = False
    start: dict[str, Any] | None = None  # the initial_context of a session it starts
    policies: tuple[str, ...] = ()  # the execution policies of a session it starts


@dataclass(frozen=True, slots=True)
class PipelineConfig:
    router: Router
    session_ttl_seconds: int = 7 * 24 * 3600
    max_question_chars: int = 8000
    context: ContextLimits = field(default_factory=ContextLimits)
    identity: IdentityOptions = field(default_factory=IdentityOptions)
    policies: PolicyRules = field(default_factory=PolicyRules)


# This run may no longer act for its question: another worker or process took it over.
LOST_THE_RIGHT_TO_ANSWER = (FenceLost, ThreadLockLost)


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
        # What channel managers set in chat (bot.channel_settings): the agent and the
        # policies of new sessions here; the adapters read the rest.
        self.places = ChannelSettingsBook(store)

    async def ask(self, question: Question, *, notes: Notes | None = None) -> Answer:
        """Answer one question in its thread's session, one at a time per thread (the
        answer's agent text made safe by bot.safety).

        `notes` are the job's notes (bot.turnlog): a turn noted as sent is never sent again.
        """
        self.metrics.questions.labels(question.platform).inc()
        answer = safe_answer(await self._ask(question, notes))
        self.metrics.answered(question.platform, answer)
        await self._remember_asked(question, answer)
        return answer

    async def _ask(self, question: Question, notes: Notes | None) -> Answer:
        refused = self._refusal(question)
        if refused is not None:
            return refused
        key = question.thread_key
        self.metrics.in_flight.inc()
        try:
            async with self.locks.hold(key):
                turn = await self._turn(question, notes)
                if turn.sent is not None:
                    return await self._recover(turn)
                return await self._send(turn)
        except LOST_THE_RIGHT_TO_ANSWER:
            raise  # another worker answers now: say nothing here (bot.work.fence)
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

        Agent text is untrusted: every answer and every text so far has been through
        bot.safety (no pings, no spoofed links), on every path.

        The turn is sent once: `/chat` takes over only when Meibel did not take the stream
        (429, 503, refused, 501). A stream cut after Meibel took it is reconciled with the
        session (bot.meibel.turns), never sent again on a guess. Iterate to the end (or
        aclose()) to release the thread.
        """
        self.metrics.questions.labels(question.platform).inc()
        async for update in self._ask_stream(question, files, notes):
            if isinstance(update, Final):
                update = Final(safe_answer(update.answer))
                self.metrics.answered(question.platform, update.answer)
                await self._remember_asked(question, update.answer)
            elif isinstance(update, PartialText):
                # What was shown is always the start of the safe final text (bot.safety).
                update = PartialText(safe_prefix(update.text))
            elif isinstance(update, Progress):
                update = Progress(safe_markdown(update.text))  # the agent's status words
            yield update

    async def _ask_stream(
        self, question: Question, files: Sequence[FilePart], notes: Notes | None
    ) -> AsyncIterator[Update]:
        refused = self._refusal(question)
        if refused is not None:
            yield Final(refused)
            return
        key = question.thread_key
        self.metrics.in_flight.inc()
        try:
            async with self.locks.hold(key):
                turn = await self._turn(question, notes)
                if turn.sent is not None:
                    yield Final(await self._recover(turn))
                    return
                async for update in self._stream(turn, files):
                    yield update
        except LOST_THE_RIGHT_TO_ANSWER:
            raise  # another worker answers now: say nothing here (bot.work.fence)
        except Exception as exc:
            yield Final(self._failure(exc, key))
        finally:
            self.metrics.in_flight.dec()

    async def _remember_asked(self, question: Question, answer: Answer) -> None:
        """Note the question under the answer's signal id, for feedback on it (bot.feedback)."""
        if not (answer.ok and answer.signal_id):
            return
        try:
            await remember_asked(
                self.store,
                question.thread_key.tenant,
                answer.signal_id,
                question.text,
                ttl_seconds=self.config.session_ttl_seconds,
            )
        except StoreError as exc:
            log.warning("could not note the question of %s: %s", answer.signal_id, exc)

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

    async def _turn(self, question: Question, notes: Notes | None) -> _Turn:
        """The thread's session, or the one a crashed earlier run noted it sent into."""
        key = question.thread_key
        sent = SentTurn.decode(notes.get(TURN)) if notes is not None else None
        asker = self.config.identity.asker(question.asker)
        start = (
            initial_context(question.platform, question.where, asker)
            if self.config.identity.share
            else None
        )
        place = await self.places.get(key.tenant, question.channel)
        policies = self._policies(question, place)
        later = True  # a later turn of its session names its asker
        if sent is None:
            record, later = await self._session(question, key, start, policies, place)
        else:
            found = await self.store.get_session(key, ttl_seconds=self.config.session_ttl_seconds)
            record = SessionRecord(
                session_id=sent.session_id,
                agent=found.agent if found is not None else str(self._agent_for(question, place)),
            )
        asked = question.text.strip()
        text = with_context(
            asked,
            question.context,
            self.config.context,
            asker=asker.name if asker is not None and later else None,
        )
        return _Turn(
            key=key,
            text=text,
            asked=asked,
            record=record,
            notes=notes,
            sent=sent,
            start=start,
            policies=policies,
        )

    async def _note(self, turn: _Turn) -> None:
        """Note the turn just before it is sent: one store write per turn, and one more
        only when it moves to a new session (an earlier sent_at stays a valid bound)."""
        if turn.sent is not None and turn.sent.session_id == turn.record.session_id:
            return
        turn.sent = SentTurn(session_id=turn.record.session_id, sent_at=time.time())
        if turn.notes is not None:
            await turn.notes.note(**{TURN: turn.sent.encode()})

    async def _send(self, turn: _Turn) -> Answer:
        """Send the turn through /chat; a 404 moves it to a new session, an ambiguous
        failure asks the session instead of sending again."""
        while True:
            await self._note(turn)
            try:
                response = await self._chat(turn.record.session_id, turn.text)
            except MeibelSessionGone:
                await self._restart(turn)
                continue
            except MeibelTurnUncertain as exc:
                log.warning("turn in %s may have reached the agent: %s", turn.key, exc)
                return await self._reconcile(turn)
            return self._finish(turn, to_answer(response, session_restarted=turn.restarted))

    async def _restart(self, turn: _Turn) -> None:
        """The session is gone (404): the turn goes to a new one, once."""
        if turn.restarted:
            raise MeibelSessionGone(f"the new session of {turn.key} is gone too", status=404)
        log.info("session %s of %s is gone; starting a new one", turn.record.session_id, turn.key)
        turn.record = await self._new_session(
            turn.key, AgentRef.parse(turn.record.agent), turn.start, turn.policies
        )
        turn.restarted = True

    async def _recover(self, turn: _Turn) -> Answer:
        """A re-run of a job whose turn was noted as sent: ask, never send on a guess."""
        log.info(
            "a turn of %s was noted as sent into %s; asking the session",
            turn.key,
            turn.record.session_id,
        )
        return await self._reconcile(turn)

    async def _reconcile(self, turn: _Turn, *, shown: str = "") -> Answer:
        """What became of the sent turn: its answer, a wait, one re-send, or the notice."""
        assert turn.sent is not None
        budget = turn.sent.sent_at + self.meibel.turn_deadline_seconds - time.time()
        left = time_left()
        if left is not None:
            budget = min(budget, left - POST_RESERVE_SECONDS)
        with self.metrics.meibel_call("reconcile"):
            outcome = await find_turn(
                self.meibel,
                session_id=turn.record.session_id,
                text=turn.asked,
                sent_at=turn.sent.sent_at,
                deadline=time.monotonic() + max(0.0, budget),
            )
        if isinstance(outcome, TurnAnswered):
            log.info("recovered the answer of %s from its session", turn.key)
            answer = Answer(
                text=outcome.text,
                signal_id=outcome.signal_id,
                session_restarted=turn.restarted,
            )
            return self._finish(turn, answer)
        if isinstance(outcome, TurnNotArrived) and not turn.resent:
            log.info("the turn of %s never reached the agent; sending it once more", turn.key)
            turn.resent, turn.files_dropped = True, turn.files
            return await self._send(turn)
        if isinstance(outcome, TurnUnanswered) and shown.strip():
            return replies.cut_off(shown, session_restarted=turn.restarted)
        log.warning("cannot tell what became of the turn of %s: %s", turn.key, outcome)
        return replies.turn_uncertain(session_restarted=turn.restarted)

    def _finish(self, turn: _Turn, answer: Answer, *, cut: bool = False) -> Answer:
        answer = replies.capped(answer, MAX_ANSWER_CHARS, cut=cut)
        if turn.files_dropped and answer.ok:
            answer = replies.with_note(answer, replies.FILES_NOT_SENT)
        log.info("answered in %s (signal_id=%s)", turn.key, answer.signal_id)
        return answer

    async def _session(
        self,
        question: Question,
        key: ThreadKey,
        start: dict[str, Any] | None,
        policies: tuple[str, ...],
        place: ChannelSettings,
    ) -> tuple[SessionRecord, bool]:
        """The thread's session, and whether it existed before this turn."""
        record = await self.store.get_session(key, ttl_seconds=self.config.session_ttl_seconds)
        if record is not None:
            return record, True
        agent = self._agent_for(question, place)
        return await self._new_session(key, agent, start, policies), False

    def _policies(self, question: Question, place: ChannelSettings) -> tuple[str, ...]:
        """The execution policies of a new session: EXTERNAL_EXECUTION_POLICIES in shared
        places (a channel manager cannot loosen it), else the channel's own setting, else
        EXECUTION_POLICIES."""
        rules = self.config.policies
        if not (question.shared and rules.external is not None) and place.policies is not None:
            return place.policies
        return rules.for_place(
            platform=question.platform,
            workspace=question.workspace,
            channel=question.channel,
            shared=question.shared,
        )

    def _agent_for(self, question: Question, place: ChannelSettings) -> AgentRef:
        if place.agent_ref is not None:
            return place.agent_ref
        return self.config.router.agent_for(
            platform=question.platform, workspace=question.workspace, channel=question.channel
        )

    async def _stream(self, turn: _Turn, files: Sequence[FilePart]) -> AsyncIterator[Update]:
        said = ""
        text: StreamText | None = None
        shown_size, shown_at = 0, 0.0
        while True:
            await self._note(turn)
            try:
                started = time.perf_counter()
                stream = self.meibel.chat_stream(turn.record.session_id, turn.text, files=files)
                async for event in stream:
                    if isinstance(event, StreamText):
                        text = event
                        now = time.monotonic()
                        if (
                            len(text) >= shown_size * TEXT_GROWTH
                            or now - shown_at >= TEXT_INTERVAL_SECONDS
                        ):
                            shown_size, shown_at = len(text), now
                            yield PartialText(text.text)
                    elif isinstance(event, StreamDone):
                        elapsed = time.perf_counter() - started
                        self.metrics.meibel_latency.labels("chat_stream").observe(elapsed)
                        answer = to_answer(event.response, session_restarted=turn.restarted)
                        yield Final(self._finish(turn, answer, cut=event.cut))
                        return
                    elif (progress := describe(event)) is not None:
                        if text is not None and len(text) > shown_size:
                            shown_size, shown_at = len(text), time.monotonic()
                            yield PartialText(text.text)
                        # A status and the tool call behind it often say the same thing
                        # ("Searching the knowledge base" / search_knowledge_base).
                        if _gist(progress) != _gist(said):
                            yield Progress(progress)
                        said = progress
                return  # chat_stream raises when it ends without completion
            except MeibelSessionGone:
                await self._restart(turn)
            except MeibelTurnUncertain as exc:
                log.warning("stream of %s broke after Meibel took it: %s", turn.key, exc)
                turn.files = bool(files)
                yield Final(await self._reconcile(turn, shown=text.text if text else ""))
                return
            except MeibelError as exc:
                if not turn_not_taken(exc):
                    raise
                log.info(
                    "Meibel did not take the stream of %s (%s); using /chat", turn.key, exc.code
                )
                turn.files_dropped = turn.files = bool(files)
                yield Final(await self._send(turn))
                return

    async def _chat(self, session_id: str, text: str) -> ChatMessageResponse:
        with self.metrics.meibel_call("chat"):
            return await self.meibel.chat(session_id, text)

    async def _new_session(
        self,
        key: ThreadKey,
        agent: AgentRef,
        start: dict[str, Any] | None,
        policies: tuple[str, ...],
    ) -> SessionRecord:
        with self.metrics.meibel_call("start_session"):
            session_id = await self.meibel.start_session(
                agent, initial_context=start, execution_policy_ids=policies
            )
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
