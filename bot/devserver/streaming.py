"""Server-sent events in the shape the v1 SDK documents for `/chat/stream`.

Each event's `data` is JSON with `type`, `disposition`, `sequence` and `timestamp`. The
disposition values are not documented anywhere; the ones used here are a guess, and the bot
must not depend on them.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from aiohttp import web

from bot.devserver.answers import now_iso

StreamMode = Literal["cumulative", "delta"]
STREAM_MODES: tuple[StreamMode, ...] = ("cumulative", "delta")

_DISPOSITIONS = {
    "connected": "system",
    "status": "ephemeral",
    "tool_call": "ephemeral",
    "tool_result": "ephemeral",
    "partial_response": "partial",
    "completion": "final",
    "error": "error",
}


def format_event(event: str, data: dict[str, Any], sequence: int) -> bytes:
    """One SSE frame; `id` repeats the sequence so a client can log where it broke off."""
    payload = {
        "type": event,
        "disposition": _DISPOSITIONS.get(event, "ephemeral"),
        "sequence": sequence,
        "timestamp": now_iso(),
        **data,
    }
    # json.dumps never emits a raw newline, so one `data:` line always holds the whole event.
    body = json.dumps(payload, ensure_ascii=False)
    return f"event: {event}\nid: {sequence}\ndata: {body}\n\n".encode()


# Buffered events are written together once this many bytes are waiting.
FLUSH_BYTES = 16 * 1024


class EventWriter:
    """Writes numbered events to one prepared StreamResponse.

    `buffered` events wait (up to FLUSH_BYTES) and go out with the next write, as one HTTP
    chunk: a stream of many tiny pieces with no pause between them would otherwise cost
    one write per piece on both sides.
    """

    def __init__(self, response: web.StreamResponse) -> None:
        self.response = response
        self.sequence = 0
        self.partials_sent = 0
        self._buffer: list[bytes] = []
        self._buffered = 0

    async def send(self, event: str, data: dict[str, Any], *, buffered: bool = False) -> None:
        frame = format_event(event, data, self.sequence)
        self.sequence += 1
        if event == "partial_response":
            self.partials_sent += 1
        self._buffer.append(frame)
        self._buffered += len(frame)
        if not buffered or self._buffered >= FLUSH_BYTES:
            await self.flush()

    async def flush(self) -> None:
        if self._buffer:
            frames, self._buffer, self._buffered = b"".join(self._buffer), [], 0
            await self.response.write(frames)
