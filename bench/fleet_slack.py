"""The fake Slack Web API for the fleet benchmark, run in its own process.

It is the test suite's FakeSlack (tests/fixtures/slack.py), so the bots under test talk to
exactly what the tests check. Running it apart keeps its work off the benchmark's loop,
where the ack latencies are measured, and off the bots' loops.

On stdout it prints `listening <base url>`, then one JSON line each time a message in a
thread becomes a finished answer (posted, or edited or streamed into its final form, and
holding the dev server's `You asked: "<question>"`): the thread, the message ts, the
question quoted and the arrival time of the call that finished it (time.monotonic(), one
clock for every process on the machine). Each message is reported once, so two lines for
one thread are two answers. A posted message in a thread that holds no answer is reported
as `other` (a notice, say). When stdin closes it prints a `summary` line (calls by method,
refusals by method, and `over_limit`: calls by method beyond Slack's rate limits as they
arrived, per tests/fixtures/slack_limits.py) and exits.
Run by bench.fleet: .venv/bin/python -m bench.fleet_slack
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from tests.fixtures.slack import FakeSlack, SlackCall
from tests.fixtures.slack_limits import LimitChecker

ASKED = re.compile(r'You asked: "([^"\n]*)"')
# Calls that create a message: its ts is in the answer, not in the arguments.
_CREATING = frozenset({"chat.postMessage", "chat.startStream"})
_CHANGING = frozenset({"chat.update", "chat.appendStream", "chat.stopStream"})


def strings(value: Any) -> Iterator[str]:
    """Every string inside a message's text and blocks."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def emit(line: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(line) + "\n")
    sys.stdout.flush()


@dataclass
class WatchedSlack(FakeSlack):
    """FakeSlack that reports each message the moment it holds a finished answer."""

    reported: set[str] = field(default_factory=set)
    counts: Counter[str] = field(default_factory=Counter)
    refusals: Counter[str] = field(default_factory=Counter)

    async def _record(self, call: SlackCall) -> None:
        await super()._record(call)
        self.counts[call.method] += 1
        if not call.ok:
            self.refusals[f"{call.method}: {call.error}"] += 1
            return
        if call.method in _CREATING:
            ts = call.result.get("ts")
        elif call.method in _CHANGING:
            ts = call.get("ts")
        else:
            return
        message = self.conversations.messages.get(str(ts))
        if message is None or message.streaming or message.ts in self.reported:
            return
        found = ASKED.search("\n".join(strings([message.text, message.markdown, message.blocks])))
        if found is None:
            if call.method == "chat.postMessage" and message.thread_ts:
                emit({"event": "other", "thread": message.thread_ts, "ts": message.ts})
            return
        self.reported.add(message.ts)
        emit(
            {
                "event": "answer",
                "thread": message.thread_ts,
                "channel": message.channel,
                "ts": message.ts,
                "question": found.group(1),
                "method": call.method,
                "at": call.at,
            }
        )


async def main() -> None:
    slack = WatchedSlack(limits=LimitChecker())
    await slack.start()
    emit({"event": "listening", "base_url": slack.base_url})
    try:
        await asyncio.to_thread(sys.stdin.read)  # until the benchmark closes our stdin
    finally:
        emit(
            {
                "event": "summary",
                "calls": dict(slack.counts),
                "refusals": dict(slack.refusals),
                "over_limit": dict(slack.limits.over) if slack.limits else {},
            }
        )
        await slack.stop()


if __name__ == "__main__":
    asyncio.run(main())
