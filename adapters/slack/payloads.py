"""What a button sends back when clicked: inline when it fits, else a token into the store.

A value names the workspace it was made for, so a click finds its payload and its session
whichever team id the click payload reports (org-wide installs report the clicker's team).
State lives in the value or the store, never in memory: buttons survive restarts and work
on every process that shares the store.
"""

from __future__ import annotations

import enum
import json
import logging
import secrets
from dataclasses import dataclass

from adapters.slack.split import slack_len
from bot.domain import Tenant
from bot.store.base import Store, StoreError

log = logging.getLogger(__name__)

PREFIX = "m1"  # format version: a future format can still read old buttons
MAX_VALUE_CHARS = 2000  # Slack's limit for a button value
_REF = "ref"


class ButtonKind(enum.Enum):
    ASK = "ask"  # a follow-up question
    ACTION = "act"  # a call to action the agent performs
    RETRY = "retry"  # "Try again" after a failure


@dataclass(frozen=True, slots=True)
class ButtonPayload:
    kind: ButtonKind
    workspace: str
    text: str  # what the agent is asked
    label: str = ""  # what the thread shows as asked; empty: the text itself

    @property
    def shown(self) -> str:
        return self.label or self.text

    @property
    def tenant(self) -> Tenant:
        return Tenant("slack", self.workspace)


def _body(payload: ButtonPayload) -> str:
    data = {"t": payload.text} | ({"l": payload.label} if payload.label else {})
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


async def encode(payload: ButtonPayload, *, store: Store, ttl_seconds: int) -> str:
    """The button value for `payload`; long payloads go to the store behind a random token.

    Raises StoreError when a long payload cannot be stored.
    """
    inline = f"{PREFIX}|{payload.kind.value}|{payload.workspace}|{_body(payload)}"
    if slack_len(inline) <= MAX_VALUE_CHARS:
        return inline
    token = secrets.token_urlsafe(16)
    stored = json.dumps({"k": payload.kind.value, "b": _body(payload)}, ensure_ascii=False)
    await store.put_value(payload.tenant, f"button:{token}", stored, ttl_seconds=ttl_seconds)
    return f"{PREFIX}|{_REF}|{payload.workspace}|{token}"


async def decode(value: str, *, store: Store) -> ButtonPayload | None:
    """The payload behind a button value; None when it is not ours or has expired.

    Raises StoreError when the store cannot be read.
    """
    prefix, _, rest = value.partition("|")
    kind_text, _, rest = rest.partition("|")
    workspace, _, body = rest.partition("|")
    if prefix != PREFIX or not workspace or not body:
        return None
    try:
        if kind_text == _REF:
            stored = await store.get_value(Tenant("slack", workspace), f"button:{body}")
            if stored is None:
                return None
            record = json.loads(stored)
            kind_text, body = record["k"], record["b"]
        kind = ButtonKind(kind_text)
        data = json.loads(body)
        text, label = data["t"], data.get("l", "")
    except (ValueError, KeyError, TypeError):
        log.warning("ignoring a malformed button value (%d chars)", len(value))
        return None
    if not isinstance(text, str) or not isinstance(label, str):
        return None
    return ButtonPayload(kind=kind, workspace=workspace, text=text, label=label)


__all__ = ["ButtonKind", "ButtonPayload", "StoreError", "decode", "encode"]
