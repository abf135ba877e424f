"""Meibel's `/chat/stream` server-sent events, parsed into a few typed events.

The event shapes are only partly documented (see shared/meibel-api/README.md), so parsing
is defensive: unknown events are skipped, text may come as deltas or as the whole text so
far, and the final answer is rebuilt into the same ChatMessageResponse `/chat` returns.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import ValidationError as PydanticValidationError

from bot.meibel.errors import MeibelTurnUncertain
from bot.meibel.models import ChatMessageResponse, ChatResponse

log = logging.getLogger(__name__)

# An answer longer than this is cut (with a note): a runaway agent must not fill memory or
# a thread. Slack and Discord split long answers; 200k characters is already ~50 messages.
MAX_ANSWER_CHARS = 200_000
# One SSE event larger than this is a broken stream, not an answer.
MAX_EVENT_BYTES = 16 * 1024 * 1024


class MeibelStreamBroken(MeibelTurnUncertain):
    """The stream ended, failed or reported an error after Meibel accepted it.

    Meibel took the turn, so the agent may have run it: never send it again without asking
    the session first (bot.meibel.turns).
    """

    code = "meibel_stream_broken"

    def __init__(self, message: str, *, reason: str = "stream_cut") -> None:
        super().__init__(message, reason=reason)


class TextSoFar:
    """The answer text as it streams in, built in linear time and capped at `limit` chars.

    Pieces are kept in a list and joined only when `text` is read (once per growth), so
    appending many tiny deltas costs O(total), not O(total^2).
    """

    __slots__ = ("_cache", "_length", "_parts", "cut", "limit")

    def __init__(self, limit: int = MAX_ANSWER_CHARS) -> None:
        self.limit = limit
        self._parts: list[str] = []
        self._length = 0
        self._cache: str | None = ""
        self.cut = False

    def __len__(self) -> int:
        return self._length

    @property
    def text(self) -> str:
        if self._cache is None:
            self._cache = "".join(self._parts)
            self._parts = [self._cache]
        return self._cache

    def append(self, piece: str) -> bool:
        """Add a piece; False when nothing was added (empty, or the cap was reached)."""
        room = self.limit - self._length
        if not piece or room <= 0:
            self.cut = self.cut or bool(piece)
            return False
        if len(piece) > room:
            piece, self.cut = piece[:room], True
        self._parts.append(piece)
        self._length += len(piece)
        self._cache = None
        return True

    def replace(self, whole: str) -> bool:
        """Start over with the whole text so far; False when it did not change."""
        if len(whole) > self.limit:
            whole, self.cut = whole[: self.limit], True
        if self._length == len(whole) and self.text == whole:
            return False
        self._parts, self._length, self._cache = [whole], len(whole), whole
        return True


@dataclass(frozen=True, slots=True)
class StreamStatus:
    """What the agent says it is doing ("Searching the knowledge base")."""

    text: str


@dataclass(frozen=True, slots=True)
class StreamToolCall:
    tool_name: str
    arguments: dict[str, Any] = field(default_factory=dict)


class StreamText:
    """The answer text grew. A view: `text` is the whole text so far when read, and
    reading it joins the pieces, so read it when it is needed rather than per event."""

    __slots__ = ("so_far",)

    def __init__(self, so_far: TextSoFar) -> None:
        self.so_far = so_far

    @property
    def text(self) -> str:
        return self.so_far.text

    def __len__(self) -> int:
        return len(self.so_far)


@dataclass(frozen=True, slots=True)
class StreamDone:
    """The completion. `cut`: its text is the streamed text, which passed the cap."""

    response: ChatMessageResponse
    cut: bool = False


StreamEvent = StreamStatus | StreamToolCall | StreamText | StreamDone
TextMode = Literal["delta", "cumulative"]


@dataclass
class StreamParser:
    """Feeds on (event name, data) pairs; yields typed events; keeps the text so far.

    Whether `partial_response` carries a delta or the whole text so far is undocumented.
    The rule, decided once from evidence and then kept: a piece under a `delta` key is a
    delta; otherwise the second non-empty piece decides: it is the whole text so far if it
    is longer than the text so far and starts with it, else every piece is a delta. So a
    delta that repeats the text so far ("ha", "ha") is appended, never dropped. A delta
    stream whose second piece happens to start with the whole first one is read as whole
    texts; the completion's own message still gives the final answer in full.
    """

    signal_id: str | None = None
    so_far: TextSoFar = field(default_factory=TextSoFar)
    mode: TextMode | None = None
    done: bool = False
    failure: MeibelStreamBroken | None = None
    _view: StreamText = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._view = StreamText(self.so_far)

    @property
    def text(self) -> str:
        return self.so_far.text

    def feed_many(self, events: list[tuple[bytes, bytes]]) -> list[StreamEvent]:
        """Parse one network read's events; text growth is reported once per read.

        An `error` event ends the batch: the events before it are returned, and the
        failure waits in `failure` for the caller to raise once it has passed them on.
        """
        out: list[StreamEvent] = []
        if self.mode == "delta" and self.so_far.cut:
            # Past the cap, more text is dropped anyway: skip decoding it.
            events = [event for event in events if event[0] != b"partial_response"]
        datas = iter(_json_many([raw for _, raw in events]))
        pieces: list[str] = []  # consecutive deltas, appended in one go
        for raw_name, _ in events:
            data = next(datas)
            if self.mode == "delta" and (
                raw_name == b"partial_response"
                or (not raw_name and data.get("type") == "partial_response")
            ):
                # The common case, kept tight: hundreds of thousands of these are possible.
                inner = data.get("data")
                piece = inner.get("message") if type(inner) is dict else None
                if type(piece) is not str:
                    piece, _ = _message(data)
                if piece:
                    pieces.append(piece)
                continue
            if pieces:
                self._grow(out, self.so_far.append("".join(pieces)))
                pieces.clear()
            try:
                event = self._feed(raw_name.decode("utf-8", "replace"), data)
            except MeibelStreamBroken as exc:
                self.failure = exc
                break
            if event is None or (isinstance(event, StreamText) and out and out[-1] is event):
                continue
            out.append(event)
            if self.done:
                break
        if pieces:
            self._grow(out, self.so_far.append("".join(pieces)))
        return out

    def _grow(self, out: list[StreamEvent], changed: bool) -> None:
        if changed and not (out and out[-1] is self._view):
            out.append(self._view)

    def feed(self, name: str, raw: str) -> StreamEvent | None:
        """Parse one event (for callers that have them one at a time)."""
        return self._feed(name, _json(raw))

    def _feed(self, name: str, data: dict[str, Any]) -> StreamEvent | None:
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
            return self._partial(data)
        elif kind == "completion":
            return self._completion(data)
        elif kind == "error":
            message = _str(data.get("message")) or _str(_inner(data).get("message"))
            raise MeibelStreamBroken(
                f"Meibel stream reported an error: {message or 'no message'}"[:300],
                reason="agent_failed",
            )
        return None

    def _partial(self, data: dict[str, Any]) -> StreamText | None:
        piece, is_delta = _message(data)
        if not piece:
            return None
        so_far = self.so_far
        if self.mode is None:
            if is_delta:
                self.mode = "delta"
            elif len(so_far):
                text = so_far.text
                grows = len(piece) > len(text) and piece.startswith(text)
                self.mode = "cumulative" if grows else "delta"
        changed = so_far.replace(piece) if self.mode == "cumulative" else so_far.append(piece)
        # One view per parser: consecutive growth in one read collapses into one event.
        return self._view if changed else None

    def _completion(self, data: dict[str, Any]) -> StreamDone:
        inner = _inner(data)
        try:
            body = ChatResponse.model_validate(inner)
        except PydanticValidationError as exc:
            raise MeibelStreamBroken(
                f"Meibel completion does not follow the contract: {exc.error_count()} problem(s)"
            ) from None
        from_stream = not body.message
        final_text = body.message or self.so_far.text
        body.message = final_text
        usage = data.get("token_usage")
        response = ChatMessageResponse(
            signal_id=_str(data.get("signal_id")) or self.signal_id or "",
            response=body,
            assistant_response=final_text,
            token_usage=usage if isinstance(usage, dict) else None,
        )
        self.done = True
        return StreamDone(response, cut=from_stream and self.so_far.cut)


# The usual shape of one event block: an optional event name and id, one data line.
_SIMPLE_BLOCK = rb"(?:event: ?([^\n]*)\n)?(?:id:[^\n]*\n)?data: ?([^\n]*)\n\n"
_SIMPLE_BLOCKS = re.compile(_SIMPLE_BLOCK)
# True when every block of a read has the usual shape (blank lines aside).
_ALL_SIMPLE = re.compile(rb"(?:(?:event: ?[^\n]*\n)?(?:id:[^\n]*\n)?data: ?[^\n]*\n\n|\n)*")


class SSEDecoder:
    """Server-sent events from raw bytes, one network read at a time: (event, data) pairs.

    Works on whole reads rather than line by line: a stream of tiny deltas is hundreds of
    thousands of events, and per-line Python work was most of their cost. The data stays
    bytes so that a read's events can be JSON-decoded in one go (see `_json_many`).
    """

    def __init__(self) -> None:
        self._pending: list[bytes] = []
        self._size = 0

    def feed(self, chunk: bytes) -> list[tuple[bytes, bytes]]:
        """The complete events so far, as (event name, data) bytes; the rest waits."""
        self._pending.append(chunk)
        self._size += len(chunk)
        if self._size > MAX_EVENT_BYTES and b"\n\n" not in chunk:
            raise MeibelStreamBroken("Meibel sent a stream event that is too large")
        if b"\n" not in chunk and b"\r" not in chunk:
            return []
        data = b"".join(self._pending)
        if b"\r" in data:
            # A CR at the very end may be the first half of a CRLF: keep it for the next read.
            tail = b"\r" if data.endswith(b"\r") else b""
            data = data[: len(data) - len(tail)].replace(b"\r\n", b"\n").replace(b"\r", b"\n")
            data += tail
        end = data.rfind(b"\n\n") + 2
        rest = data[end:] if end >= 2 else data
        self._pending, self._size = ([rest], len(rest)) if rest else ([], 0)
        if end < 2:
            return []
        if _ALL_SIMPLE.fullmatch(data, 0, end) is not None:
            return _SIMPLE_BLOCKS.findall(data, 0, end)  # the fast way, all in C
        events: list[tuple[bytes, bytes]] = []
        for block in data[:end].split(b"\n\n"):
            if block.strip(b"\n") and (event := self._block(block.strip(b"\n"))) is not None:
                events.append(event)
        return events

    def _block(self, block: bytes) -> tuple[bytes, bytes] | None:
        """Any other block, by the rules of the SSE format: several data lines, comments."""
        name = b""
        lines: list[bytes] = []
        for line in block.split(b"\n"):
            key, _, value = line.partition(b":")
            if value[:1] == b" ":
                value = value[1:]
            if key == b"data":
                lines.append(value)
            elif key == b"event":
                name = value
        return (name, b"\n".join(lines)) if lines else None


def _json_many(raws: list[bytes]) -> list[dict[str, Any]]:
    """Decode many JSON objects at once when they all look like objects.

    One json.loads over "[a,b,...]" costs a third of one call per event. The count check
    (and each part starting with "{" and ending with "}") guards against a malformed part
    that would shift the others; then every part is decoded on its own.
    """
    if len(raws) > 1 and all(r[:1] == b"{" and r[-1:] == b"}" for r in raws):
        try:
            values = json.loads(b"[" + b",".join(raws) + b"]")
        except ValueError:
            values = None
        if isinstance(values, list) and len(values) == len(raws):
            return [v if isinstance(v, dict) else {} for v in values]
    return [_json(raw) for raw in raws]


def _json(raw: str | bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw) if raw else {}
    except ValueError:
        # A bare text frame: treat it as a piece of the answer.
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        return {"type": "partial_response", "message": text}
    return value if isinstance(value, dict) else {}


def _inner(data: dict[str, Any]) -> dict[str, Any]:
    inner = data.get("data")
    return inner if isinstance(inner, dict) else {}


def _message(data: dict[str, Any]) -> tuple[str | None, bool]:
    """The piece of text an event carries, and whether it is explicitly a delta."""
    for source in (_inner(data), data):
        for key in ("message", "delta", "content", "text"):
            value = source.get(key)
            if isinstance(value, str):
                return value, key == "delta"
    return None, False


def _str(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""
