"""The neutral shapes every part of the bot speaks: thread keys, questions and answers.

Adapters turn platform events into a `Question` and render an `Answer`; the core never
sees a platform payload.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict

from bot.context import Said
from bot.identity import Asker, Where


@dataclass(frozen=True, slots=True)
class Tenant:
    """One workspace (Slack team, Discord guild, ...) on one platform.

    Everything the store keeps is namespaced by a tenant, so two workspaces can never
    reach each other's data even when their channel and thread ids collide.
    """

    platform: str
    workspace: str

    def __post_init__(self) -> None:
        for name in ("platform", "workspace"):
            value = getattr(self, name)
            if not value or ":" in value or "{" in value or "}" in value:
                raise ValueError(f"invalid {name} {value!r}: must be non-empty, no ':' or braces")

    def __str__(self) -> str:
        return f"{self.platform}:{self.workspace}"


@dataclass(frozen=True, slots=True)
class ThreadKey:
    """One conversation thread: the unit that maps to one Meibel session."""

    tenant: Tenant
    channel: str
    thread: str

    def __post_init__(self) -> None:
        for name in ("channel", "thread"):
            value = getattr(self, name)
            if not value or "{" in value or "}" in value:
                raise ValueError(f"invalid {name} {value!r}: must be non-empty, no braces")

    @classmethod
    def of(cls, platform: str, workspace: str, channel: str, thread: str) -> ThreadKey:
        return cls(Tenant(platform, workspace), channel, thread)

    @property
    def platform(self) -> str:
        return self.tenant.platform

    @property
    def workspace(self) -> str:
        return self.tenant.workspace

    def __str__(self) -> str:
        return f"{self.tenant}:{self.channel}:{self.thread}"


class Question(BaseModel):
    """One message to answer: a plain, serializable job.

    `reply_to` says where the answer goes, in the adapter's own terms (a channel and thread
    ts, an interaction token, ...); the core carries it untouched so that a queue can run
    the same pipeline later.
    """

    model_config = ConfigDict(frozen=True)

    platform: str
    workspace: str
    channel: str
    thread: str
    user: str
    text: str
    reply_to: dict[str, str] = {}
    event_id: str | None = None
    # What people said in the thread before this question (bot.context), oldest first:
    # read by the adapter when the job runs, sent to the agent with the question.
    context: tuple[Said, ...] = ()
    # Who asks, and the names of where (bot.identity), as far as the adapter knows them.
    asker: Asker | None = None
    where: Where | None = None
    # Asked in a place shared with other organisations (a Slack Connect channel).
    shared: bool = False

    @property
    def thread_key(self) -> ThreadKey:
        return ThreadKey.of(self.platform, self.workspace, self.channel, self.thread)


class AnswerKind(enum.Enum):
    """What an `Answer` is: a real answer, a usage hint, or a failure explained."""

    ANSWER = "answer"
    HINT = "hint"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class Source:
    title: str
    url: str | None = None
    snippet: str | None = None


@dataclass(frozen=True, slots=True)
class CallToAction:
    label: str
    action: str
    action_data: dict[str, Any] | None = None

    @property
    def url(self) -> str | None:
        """The link this action opens, when its data holds one."""
        if not self.action_data:
            return None
        for key in ("url", "href", "link"):
            value = self.action_data.get(key)
            if isinstance(value, str) and value.startswith(("http://", "https://")):
                return value
        return None


@dataclass(frozen=True, slots=True)
class Artifact:
    artifact_id: str
    filename: str
    mime_type: str
    content: str | None = None
    storage_url: str | None = None
    size_bytes: int | None = None


@dataclass(frozen=True, slots=True)
class Answer:
    """What the bot says back, for every renderer to show natively.

    `text` is Markdown. A failure is an `Answer` too (kind ERROR, with `error_code` for
    logs and metrics), so that every path ends in something visible in the thread.
    """

    text: str
    kind: AnswerKind = AnswerKind.ANSWER
    sources: tuple[Source, ...] = ()
    follow_ups: tuple[str, ...] = ()
    actions: tuple[CallToAction, ...] = ()
    artifacts: tuple[Artifact, ...] = ()
    signal_id: str | None = None
    token_usage: dict[str, int] = field(default_factory=dict)
    session_restarted: bool = False
    error_code: str | None = None

    @property
    def ok(self) -> bool:
        return self.kind is AnswerKind.ANSWER


@dataclass(frozen=True, slots=True)
class Progress:
    """What the agent is doing right now, phrased for people ("Searching the knowledge base...")."""

    text: str


@dataclass(frozen=True, slots=True)
class PartialText:
    """The answer's whole Markdown text so far, while it is being written."""

    text: str


@dataclass(frozen=True, slots=True)
class Final:
    """The finished answer (or the failure explained); always the last update."""

    answer: Answer


Update = Progress | PartialText | Final
