"""Wire models of the Meibel API, mirroring send-chat-message.openapi.yaml exactly.

Names, optionality and nulls follow the spec; unknown fields are kept (extra="allow") so a
newer API never breaks parsing.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class _Wire(BaseModel):
    model_config = ConfigDict(extra="allow")


class ChatMessageRequest(_Wire):
    user_message: str
    timeout_seconds: int | None = None
    include_thinking: bool | None = None
    include_tool_activity: bool | None = None


class Source(_Wire):
    title: str
    url: str | None = None
    snippet: str | None = None
    data_element_id: str | None = None
    relevance_score: float | int | None = None


class CallToAction(_Wire):
    label: str
    action: str
    action_data: dict[str, Any] | None = None


class Artifact(_Wire):
    artifact_id: str
    filename: str
    mime_type: str
    content: str | None = None
    storage_url: str | None = None
    size_bytes: int | None = None
    created_at: str | None = None


class ChatResponse(_Wire):
    message: str | None = ""
    sources: list[Source] | None = None
    follow_up_questions: list[str] | None = None
    call_to_actions: list[CallToAction] | None = None
    artifacts: list[Artifact] | None = None


class ToolActivity(_Wire):
    tool_id: str
    tool_name: str
    arguments: dict[str, Any]
    result: dict[str, Any] | None = None
    timestamp: str


class ChatMessageResponse(_Wire):
    signal_id: str
    response: ChatResponse
    assistant_response: str
    tool_activity: list[ToolActivity] | None = None
    thinking: str | None = None
    token_usage: dict[str, int] | None = None


class ValidationError(_Wire):
    loc: list[str | int]
    msg: str
    type: str


class HTTPValidationError(_Wire):
    detail: list[ValidationError] | None = None


class CreateSessionRequest(_Wire):
    prompt: str | None = None
    initial_context: dict[str, Any] | None = None
    max_iterations_per_user_message: int | None = None
    message_wait_timeout_seconds: int | None = None
    execution_policy_ids: list[str] | None = None
    execution_policy: dict[str, Any] | None = None


class CreateSessionResponse(_Wire):
    session_id: str


# -- reading a session back (SDK models; the role/type values are not documented) ------
class SessionMessage(_Wire):
    """One entry of a session's history: `role` in the session detail, `type` in /messages."""

    role: str | None = None
    type: str | None = None
    message: Any = None
    signal_id: str | None = None
    timestamp: str | None = None


class SessionDetail(_Wire):
    """`GET /sessions/{id}`: a RUNNING session is still working on a turn."""

    agent_id: str | None = None
    agent_name: str | None = None
    version: int | str | None = None
    status: str | None = None
    messages: list[SessionMessage] | None = None


class SessionMessages(_Wire):
    """`GET /sessions/{id}/messages`."""

    agent_id: str | None = None
    agent_name: str | None = None
    version: int | str | None = None
    messages: list[SessionMessage] | None = None
