"""The dev server's memory: agents it knows and sessions it started."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.devserver.recording import RecordedFile


@dataclass
class AgentInfo:
    id: str
    name: str
    display_name: str
    version: int = 1
    type: str = "chat"
    published: bool = True

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "display_name": self.display_name,
            "version": self.version,
            "type": self.type,
            "published": self.published,
        }


def default_agents() -> list[AgentInfo]:
    return [
        AgentInfo(id="agt_dev_helpdesk", name="helpdesk", display_name="Helpdesk", version=3),
        AgentInfo(id="agt_dev_research", name="research", display_name="Research", version=1),
        # Never published: starting a session by its name must 404, as on the real API.
        AgentInfo(
            id="agt_dev_draft",
            name="draft",
            display_name="Draft (unpublished)",
            published=False,
        ),
    ]


def is_missing(ref: str) -> bool:
    """Agent ids/names that the dev server pretends do not exist."""
    return ref.startswith("missing")


def synthesize_agent(ref: str) -> AgentInfo:
    """Any other unknown agent exists, so a fresh bot config works without setup."""
    return AgentInfo(id=ref, name=ref, display_name=ref.replace("-", " ").title() or ref)


@dataclass
class Turn:
    """One chat call the agent received: recorded on arrival, answered when done.

    `answer` stays None while the agent works (the session is RUNNING) and for a turn the
    agent failed (`failed`).
    """

    number: int
    user_message: str
    answer: str | None
    signal_id: str
    streamed: bool
    timestamp: str
    files: list[RecordedFile] = field(default_factory=list)
    failed: bool = False

    @property
    def running(self) -> bool:
        return self.answer is None and not self.failed


@dataclass
class SessionInfo:
    session_id: str
    agent: AgentInfo
    created_at: str
    request: dict[str, Any] | None = None
    turns: list[Turn] = field(default_factory=list)

    @property
    def status(self) -> str:
        """RUNNING while the agent works on a turn; COMPLETED when it has nothing to do."""
        return "RUNNING" if any(turn.running for turn in self.turns) else "COMPLETED"

    @property
    def agent_id(self) -> str:
        return self.agent.id

    @property
    def user_messages(self) -> list[str]:
        return [turn.user_message for turn in self.turns]

    def summary(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "agent_id": self.agent.id,
            "agent_name": self.agent.name,
            "version": self.agent.version,
            "status": self.status,
            "created_at": self.created_at,
            "message_count": 2 * len(self.turns),
        }

    def messages(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for turn in self.turns:
            out.append({"type": "user", "timestamp": turn.timestamp, "message": turn.user_message})
            if turn.answer is None:
                continue
            out.append(
                {
                    "type": "assistant",
                    "timestamp": turn.timestamp,
                    "message": turn.answer,
                    "signal_id": turn.signal_id,
                }
            )
        return out

    def detail(self) -> dict[str, Any]:
        return {**self.summary(), "messages": self.messages(), "tool_activity": []}
