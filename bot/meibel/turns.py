"""What became of a sent turn whose answer was lost: ask the session, never send again.

An agent turn can act in the world, so a turn that may have reached the agent is never sent
a second time on a guess. After an ambiguous failure (bot.meibel.errors.MeibelTurnUncertain)
or a takeover after a crash, `find_turn` reads the session back:

- our message is the session's last user message (same question, bare or after its thread
  context preamble, bot.context; and a timestamp, when there
  is one, no older than when we sent it minus CLOCK_SKEW_SECONDS) and an assistant reply
  follows it: that reply is the answer (TurnAnswered);
- the session is RUNNING: it is still working (or our message is still on its way), so
  look again with backoff until the deadline;
- our message is not there and the session is not RUNNING: it never arrived
  (TurnNotArrived), the one case in which the caller may send it once more;
- our message is there, the session is done and no reply follows (TurnUnanswered), or
  nothing can be read: TurnUnknown.

Role names are undocumented (README: "match defensively"), so a few spellings of each are
accepted, in any case. Without timestamps, an identical earlier message in the same
session (asked twice in a row) cannot be told apart from ours.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from bot.context import ends_with_question
from bot.meibel.errors import MeibelError
from bot.meibel.models import SessionDetail, SessionMessage, SessionMessages

log = logging.getLogger(__name__)

USER_ROLES = frozenset({"user", "human", "user_message", "usermessage", "question"})
ASSISTANT_ROLES = frozenset(
    {"assistant", "agent", "ai", "bot", "model", "assistant_message", "agent_message", "answer"}
)
# How far Meibel's clock may run behind ours when we compare its timestamp with sent_at.
CLOCK_SKEW_SECONDS = 5.0
FIRST_POLL_SECONDS = 0.2
MAX_POLL_SECONDS = 2.0


class SessionReader(Protocol):
    """The part of the Meibel client that reads a session back."""

    async def get_session(self, session_id: str) -> SessionDetail: ...

    async def get_messages(self, session_id: str) -> SessionMessages: ...


@dataclass(frozen=True, slots=True)
class TurnAnswered:
    """The session holds our message and the agent's reply to it."""

    text: str
    signal_id: str | None


@dataclass(frozen=True, slots=True)
class TurnNotArrived:
    """The session is idle and does not hold our message: it never reached the agent."""


@dataclass(frozen=True, slots=True)
class TurnUnanswered:
    """The agent received our message and finished without a reply."""


@dataclass(frozen=True, slots=True)
class TurnUnknown:
    """Nothing could be established in time; `why` is for the log."""

    why: str


TurnOutcome = TurnAnswered | TurnNotArrived | TurnUnanswered | TurnUnknown


async def find_turn(
    reader: SessionReader,
    *,
    session_id: str,
    text: str,
    sent_at: float,
    deadline: float,
) -> TurnOutcome:
    """Look at the session until the turn's fate is known or `deadline` (monotonic) passes.

    `sent_at` is the unix time the turn was (first) sent. Looks at least once.
    """
    delay = FIRST_POLL_SECONDS
    looks = 0
    while True:
        looks += 1
        try:
            outcome = await _look(reader, session_id=session_id, text=text, sent_at=sent_at)
        except MeibelError as exc:
            return TurnUnknown(f"cannot read session {session_id}: {exc.code}")
        if outcome is not None:
            return outcome
        left = deadline - time.monotonic()
        if left <= 0:
            return TurnUnknown(f"session {session_id} still RUNNING after {looks} look(s)")
        await asyncio.sleep(min(delay, left))
        delay = min(delay * 2, MAX_POLL_SECONDS)


async def _look(
    reader: SessionReader, *, session_id: str, text: str, sent_at: float
) -> TurnOutcome | None:
    """One look; None while the session is still working on it."""
    detail = await reader.get_session(session_id)
    listing = await reader.get_messages(session_id)
    messages = listing.messages if listing.messages is not None else detail.messages or []
    running = (detail.status or "").strip().upper() == "RUNNING"
    mine = _last_user_message(messages)
    if mine is None or not _is_ours(messages[mine], text=text, sent_at=sent_at):
        return None if running else TurnNotArrived()
    for later in messages[mine + 1 :]:
        if _role(later) in ASSISTANT_ROLES and (reply := message_text(later)):
            return TurnAnswered(text=reply, signal_id=later.signal_id)
    return None if running else TurnUnanswered()


def _role(message: SessionMessage) -> str:
    return (message.role or message.type or "").strip().lower()


def _last_user_message(messages: list[SessionMessage]) -> int | None:
    for index in range(len(messages) - 1, -1, -1):
        if _role(messages[index]) in USER_ROLES:
            return index
    return None


def _is_ours(message: SessionMessage, *, text: str, sent_at: float) -> bool:
    if not ends_with_question(message_text(message), text):
        return False
    at = parse_timestamp(message.timestamp)
    return at is None or at >= sent_at - CLOCK_SKEW_SECONDS


def message_text(message: SessionMessage) -> str:
    """The text of a history entry: a string, or an object holding one."""
    value: Any = message.message
    if isinstance(value, dict):
        value = next(
            (value[k] for k in ("message", "content", "text") if isinstance(value.get(k), str)),
            None,
        )
    return value if isinstance(value, str) else ""


def parse_timestamp(value: str | None) -> float | None:
    """Unix time from an ISO 8601 timestamp (naive means UTC); None if absent or unreadable."""
    if not value:
        return None
    try:
        when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()
