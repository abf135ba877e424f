"""What the dev server received, kept so tests can assert on the wire traffic."""

from __future__ import annotations

import hmac
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy

API_KEY_HEADER = "Meibel-API-Key"
_FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")


@dataclass(frozen=True, slots=True)
class RecordedFile:
    """One file part of a multipart request (the content itself is not kept)."""

    field: str
    filename: str
    size: int
    content_type: str


@dataclass(slots=True)
class RecordedRequest:
    """One request as the server saw it.

    The API key's value is never stored: `key_present` and `key_valid` say enough, and a
    recorded request can then be printed or logged without leaking it.
    """

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    key_present: bool
    key_valid: bool
    timestamp: float
    json: Any = None
    form: dict[str, str] | None = None
    files: list[RecordedFile] = field(default_factory=list)
    raw_body: bytes = b""
    # Filled in once the handler has answered; None while the request is in flight.
    status: int | None = None
    # /chat/stream: time.monotonic() just before the first partial_response was written, so
    # a benchmark in the same process can time how long the bot takes to show that text.
    first_partial_at: float | None = None

    @property
    def session_id(self) -> str | None:
        """The session a /sessions/{id}/... request addressed."""
        prefix = "/v2/sessions/"
        if not self.path.startswith(prefix):
            return None
        return self.path[len(prefix) :].split("/", 1)[0] or None

    @property
    def user_message(self) -> str | None:
        """The user_message sent to /chat (JSON) or /chat/stream (form), if any."""
        if isinstance(self.json, dict) and isinstance(self.json.get("user_message"), str):
            return str(self.json["user_message"])
        if self.form is not None:
            return self.form.get("user_message")
        return None


def new_record(request: web.Request, *, api_key: str | None) -> RecordedRequest:
    """Record the request line and headers; `api_key` None accepts any non-empty key."""
    key = request.headers.get(API_KEY_HEADER)
    valid = bool(key) and (
        api_key is None or hmac.compare_digest((key or "").encode(), api_key.encode())
    )
    return RecordedRequest(
        method=request.method,
        path=request.path,
        query=dict(request.query),
        headers={k: v for k, v in request.headers.items() if k.lower() != API_KEY_HEADER.lower()},
        key_present=key is not None,
        key_valid=valid,
        timestamp=time.monotonic(),
    )


async def read_body(request: web.Request, record: RecordedRequest) -> None:
    """Read the body into the record: JSON (or raw bytes), or form fields and files.

    aiohttp caches what it read, so handlers can still call request.post()/read().
    """
    if not request.body_exists:
        return
    if request.content_type in _FORM_TYPES:
        try:
            form = await request.post()
        except ValueError:
            return  # unreadable form: record.form stays None and the route answers 422
        record.form, record.files = _split_form(form)
        return
    record.raw_body = await request.read()
    try:
        record.json = json.loads(record.raw_body)
    except ValueError:
        record.json = None


def _split_form(form: MultiDictProxy[Any]) -> tuple[dict[str, str], list[RecordedFile]]:
    fields: dict[str, str] = {}
    files: list[RecordedFile] = []
    for name, value in form.items():
        if isinstance(value, web.FileField):
            value.file.seek(0, 2)
            size = value.file.tell()
            value.file.seek(0)
            files.append(RecordedFile(name, value.filename, size, value.content_type))
        else:
            fields[name] = str(value)
    return fields, files
