"""Meibel's `/chat/stream` server-sent events, parsed into a few typed events.

The event shapes are only partly documented (see shared/meibel-api/README.md), so parsing
is defensive: unknown events are skipped, text may come as deltas or as the whole text so
far, and the final answer is rebuilt into the same ChatMessageResponse `/chat` returns.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError as PydanticValidationError

from bot.meibel.errors import MeibelError
from bot.meibel.models import ChatMessageResponse, ChatResponse

log = logging.getLogger(__name__)


class MeibelStreamBroken(MeibelError):
    """The stream ended, or reported an error, before its completion event."""

    code = "meibel_stream_broken"


@dataclass(frozen=True, slots=True)
class StreamStatus:
    """What the agent says it is doing ("Searching the knowledge base")."""

    text: str


@dataclass(frozen=True, slots=True)
class StreamToolCall:
    tool_name: str
    arguments: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StreamText:
    """The whole answer text so far (deltas are already joined)."""

    text: str


@dataclass(frozen=True, slots=True)
class StreamDone:
    response: ChatMessageResponse


StreamEvent = StreamStatus | StreamToolCall | StreamText | StreamDone


@dataclass
class StreamParser:
    """Feeds on (event name, data) pairs; yields typed events; remembers the text so far."""

    signal_id: str | None = None
    text: str = ""
    done: bool = False

    def feed(self, name: str, raw: str) -> StreamEvent | None:
        data = _json(raw)
        kind = name if name and name != "message" else str(data.get("type", ""))
        if kind == "connected":
            self.signal_id = _str(data.get("signal_id")) or self.signal_id
        elif kind == "status":
            text = _str(data.get("content")) or _str(_inner(data).get("content"))
            return StreamStatus(text) if text else None
        elif kind == "tool_call":
            tool = _str(data.get("tool_name")) or _str(_inner(data).get("tool_name"))
            arguments = data.get("arguments")
            return StreamToolCall(
                tool or "a tool", arguments if isinstance(arguments, dict) else {}
            )
        elif kind == "partial_response":
            return self._partial(_message(data))
        elif kind == "completion":
            return self._completion(data)
        elif kind == "error":
            message = _str(data.get("message")) or _str(_inner(data).get("message"))
            raise MeibelStreamBroken(f"Meibel stream reported an error: {message or raw[:200]}")
        return None

    def _partial(self, piece: str | None) -> StreamText | None:
        if not piece:
            return None
        # A partial that starts with what we already have is the whole text so far;
        # anything else is a delta to append.
        self.text = piece if piece.startswith(self.text) else self.text + piece
        return StreamText(self.text)

    def _completion(self, data: dict[str, Any]) -> StreamDone:
        inner = _inner(data)
        try:
            body = ChatResponse.model_validate(inner)
        except PydanticValidationError as exc:
            raise MeibelStreamBroken(
                f"Meibel completion does not follow the contract: {exc}"
            ) from None
        final_text = body.message or self.text
        body.message = final_text
        usage = data.get("token_usage")
        response = ChatMessageResponse(
            signal_id=_str(data.get("signal_id")) or self.signal_id or "",
            response=body,
            assistant_response=final_text,
            token_usage=usage if isinstance(usage, dict) else None,
        )
        self.text, self.done = final_text, True
        return StreamDone(response)


def _json(raw: str) -> dict[str, Any]:
    try:
        value = json.loads(raw) if raw else {}
    except ValueError:
        # A bare text frame: treat it as a piece of the answer.
        return {"type": "partial_response", "message": raw}
    return value if isinstance(value, dict) else {}


def _inner(data: dict[str, Any]) -> dict[str, Any]:
    inner = data.get("data")
    return inner if isinstance(inner, dict) else {}


def _message(data: dict[str, Any]) -> str | None:
    for source in (_inner(data), data):
        for key in ("message", "delta", "content", "text"):
            value = source.get(key)
            if isinstance(value, str):
                return value
    return None


def _str(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""
