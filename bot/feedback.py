"""Feedback that reaches the agent's owners: kept in the store, exported as CSV.

Each thumbs up or down is kept (the store's `feedback` log, FEEDBACK_KEEP_DAYS) with its
`signal_id`, a link to the thread, excerpts of the question and of the answer, and who
gave it (their platform id; left out with SHARE_IDENTITY=off). The question's excerpt is
noted when the answer is given (`remember_asked`), since a click carries only the answer.
`meibel-bot feedback export --since 7d` writes the records as CSV; /metrics counts them.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import asdict, dataclass, fields

from bot.domain import Tenant
from bot.store.base import Store

LOG = "feedback"
KEEP_DAYS = 90
EXCERPT_CHARS = 300
_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


@dataclass(frozen=True, slots=True)
class Feedback:
    at: float
    platform: str
    workspace: str
    channel: str
    thread: str
    verdict: str  # positive, negative (or unknown)
    signal_id: str = ""
    link: str = ""
    question: str = ""
    answer: str = ""
    user: str = ""  # empty when identity sharing is off
    comment: str = ""

    def encode(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)

    @classmethod
    def decode(cls, raw: str) -> Feedback | None:
        try:
            data = json.loads(raw)
            known = {f.name for f in fields(cls)}
            return cls(**{k: v for k, v in data.items() if k in known})
        except (ValueError, TypeError):
            return None


def excerpt(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= EXCERPT_CHARS else flat[: EXCERPT_CHARS - 1] + "…"


async def record(store: Store, feedback: Feedback) -> None:
    await store.append_log(LOG, feedback.encode(), at=feedback.at, keep_seconds=KEEP_DAYS * 86400)


async def since(store: Store, *, seconds: float, now: float) -> list[Feedback]:
    rows = await store.read_log(LOG, since=now - seconds)
    return [f for _, raw in rows if (f := Feedback.decode(raw)) is not None]


def to_csv(rows: list[Feedback]) -> str:
    out = io.StringIO()
    names = [f.name for f in fields(Feedback)]
    writer = csv.DictWriter(out, fieldnames=names, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(asdict(row))
    return out.getvalue()


def parse_duration(text: str) -> float:
    """`7d`, `12h`, `30m`, `2w` in seconds; ValueError in one line otherwise."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"bad duration {text!r}: expected a number and s, m, h, d or w (7d)")
    return int(match[1]) * _UNIT_SECONDS[match[2]]


def _asked_name(signal_id: str) -> str:
    return f"asked:{signal_id}"


async def remember_asked(
    store: Store, tenant: Tenant, signal_id: str, question: str, *, ttl_seconds: int
) -> None:
    await store.put_value(
        tenant, _asked_name(signal_id), excerpt(question), ttl_seconds=ttl_seconds
    )


async def asked(store: Store, tenant: Tenant, signal_id: str) -> str:
    return await store.get_value(tenant, _asked_name(signal_id)) or ""
