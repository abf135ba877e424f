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
