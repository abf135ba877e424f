"""What a button stands for, kept in the store behind the key its custom_id carries.

Nothing about a button lives in memory, so a click after a restart (or on another
process) finds its question and thread in the store; once the TTL has passed it is gone
and the click gets an explanation instead.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any

from adapters.discord.render import ButtonKeys
from bot.domain import Answer, CallToAction, Tenant, ThreadKey
from bot.store.base import Store


@dataclass(frozen=True, slots=True)
class ButtonPayload:
    """A click asks `text` in the thread (channel, thread) of the answer that had it."""

    kind: str  # "follow_up" or "action"
    channel: str
    thread: str
    text: str

    def thread_key(self, tenant: Tenant) -> ThreadKey:
        return ThreadKey(tenant, self.channel, self.thread)

    def to_json(self) -> str:
        return json.dumps(
            {"kind": self.kind, "channel": self.channel, "thread": self.thread, "text": self.text}
        )

    @classmethod
    def from_json(cls, raw: str) -> ButtonPayload | None:
        try:
            data: Any = json.loads(raw)
            return cls(
                kind=str(data["kind"]),
                channel=str(data["channel"]),
                thread=str(data["thread"]),
                text=str(data["text"]),
            )
        except (ValueError, KeyError, TypeError):
            return None


def action_request(action: CallToAction) -> str:
    """What clicking a call to action asks the agent: its label, and its action name
    when that says something the label does not."""
    label, name = action.label.strip(), action.action.strip()
    if not name or name.lower() == label.lower():
        return label or name
    return f"{label} [{name}]" if label else name


def store_name(key: str) -> str:
    return f"button:{key}"


def new_key() -> str:
    # Hex only: safe inside any custom_id pattern, 16 characters of 100 allowed.
    return secrets.token_hex(8)


async def save_buttons(
    store: Store, *, key: ThreadKey, answer: Answer, ttl_seconds: int
) -> ButtonKeys:
    """Keep one payload per follow-up and per non-link action; the keys go into custom_ids."""
    follow_ups: list[str] = []
    for question in answer.follow_ups:
        follow_ups.append(
            await _put(
                store,
                key,
                ButtonPayload("follow_up", key.channel, key.thread, question),
                ttl_seconds,
            )
        )
    actions: list[str | None] = []
    for action in answer.actions:
        if action.url:
            actions.append(None)  # a link button needs nothing kept
            continue
        payload = ButtonPayload("action", key.channel, key.thread, action_request(action))
        actions.append(await _put(store, key, payload, ttl_seconds))
    return ButtonKeys(follow_ups=follow_ups, actions=actions)


async def load_button(store: Store, *, tenant: Tenant, key: str) -> ButtonPayload | None:
    """The payload behind a button, or None when it expired (or never existed)."""
    raw = await store.get_value(tenant, store_name(key))
    return None if raw is None else ButtonPayload.from_json(raw)


async def _put(store: Store, key: ThreadKey, payload: ButtonPayload, ttl_seconds: int) -> str:
    button_key = new_key()
    await store.put_value(
        key.tenant, store_name(button_key), payload.to_json(), ttl_seconds=ttl_seconds
    )
    return button_key
