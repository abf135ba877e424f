"""The fleet benchmark's load: signed @mention events, each in a thread of its own, POSTed
by concurrent senders that time each ack."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field

import httpx
from slack_sdk.signature import SignatureVerifier

from bench.fleet_procs import SlackWatch
from tests.fixtures.slack import BOT_USER, TEAM


@dataclass(frozen=True)
class Ask:
    channel: str
    ts: str
    text: str
    event_id: str

    def body(self) -> bytes:
        event = {
            "type": "app_mention",
            "user": "U0BENCH01",
            "text": f"<@{BOT_USER}> {self.text}",
            "ts": self.ts,
            "channel": self.channel,
            "event_ts": self.ts,
        }
        envelope = {
            "token": "legacy-verification-token",
            "team_id": TEAM,
            "api_app_id": "A0BENCH01",
            "event": event,
            "type": "event_callback",
            "event_id": self.event_id,
            "event_time": int(time.time()),
            "authorizations": [
                {
                    "team_id": TEAM,
                    "user_id": BOT_USER,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
        }
        return json.dumps(envelope).encode()


def asks(count: int, *, base: int, tag: str, channels: int = 10) -> list[Ask]:
    """`count` questions, each in a thread of its own, spread over `channels` channels."""
    return [
        Ask(
            channel=f"C0FLEET{i % channels:04d}",
            ts=f"{base}.{i:06d}",
            text=f"fleet question {i} of run {tag}",
            event_id=f"Ev{tag}{base}{i:06d}",
        )
        for i in range(count)
    ]


@dataclass
class Sender:
    """POSTs signed events, spread over the bots' URLs, and times each ack."""

    http: httpx.AsyncClient
    urls: list[str]
    signer: SignatureVerifier
    acks: list[float] = field(default_factory=list)
    sent_at: dict[str, float] = field(default_factory=dict)  # thread ts -> monotonic
    acked_at: dict[str, float] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    async def send(self, index: int, ask: Ask) -> None:
        body = ask.body()
        stamp = str(int(time.time()))
        signature = self.signer.generate_signature(timestamp=stamp, body=body)
        assert signature is not None
        headers = {
            "Content-Type": "application/json",
            "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": signature,
        }
        url = self.urls[index % len(self.urls)]
        self.sent_at[ask.ts] = time.monotonic()
        started = time.perf_counter()
        try:
            response = await self.http.post(url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            self.failures.append(type(exc).__name__)
            return
        took = time.perf_counter() - started
        if response.status_code == 200:
            self.acks.append(took)
            self.acked_at[ask.ts] = time.monotonic()
        else:
            self.failures.append(f"HTTP {response.status_code}")

    async def send_all(self, items: list[Ask], *, senders: int) -> None:
        queue = list(enumerate(items))
        queue.reverse()

        async def one_sender() -> None:
            while queue:
                index, ask = queue.pop()
                await self.send(index, ask)

        await asyncio.gather(*(one_sender() for _ in range(senders)))


def answered(slack: SlackWatch, threads: set[str]) -> set[str]:
    return {a.thread for a in slack.answers if a.thread in threads}
