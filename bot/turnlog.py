"""What a job noted about the agent turn it sent, so that a re-run never sends it again.

An agent turn can act in the world, so it is sent at most once per question. Before the
pipeline sends a turn it notes it (`turn` = "<session id> <unix time>") in the job's notes
(the adapter's journal, kept in the store). A re-run of the job (a takeover after a crash)
that finds the note asks the session what happened instead of sending the turn again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

TURN = "turn"


class Notes(Protocol):
    """A job's notes: the adapters' journals provide this."""

    def get(self, name: str) -> str | None: ...

    async def note(self, **values: str) -> None: ...


@dataclass(frozen=True, slots=True)
class SentTurn:
    """A turn that was (maybe) sent: into which session, and when (unix time)."""

    session_id: str
    sent_at: float

    def encode(self) -> str:
        return f"{self.session_id} {self.sent_at:.3f}"

    @classmethod
    def decode(cls, value: str | None) -> SentTurn | None:
        if not value:
            return None
        session_id, _, at = value.partition(" ")
        try:
            return cls(session_id=session_id, sent_at=float(at))
        except ValueError:
            return None
