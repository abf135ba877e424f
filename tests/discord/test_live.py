"""The pacing of live writes and the live messages' contents, without Discord."""

from __future__ import annotations

import asyncio
from itertools import pairwise

from adapters.discord.live import live_parts, status_line
from adapters.discord.pacing import Pacer, Snapshot
from adapters.discord.render import CONTENT_LIMIT

INTERVAL = 0.1
SLACK = 0.02  # timer jitter


class Writes:
    """What the pacer wrote, and when; waits (bounded) for the next writes."""

    def __init__(self) -> None:
        self.done: list[tuple[float, Snapshot]] = []
        self.changed = asyncio.Condition()

    async def __call__(self, snapshot: Snapshot) -> None:
        async with self.changed:
            self.done.append((asyncio.get_running_loop().time(), snapshot))
            self.changed.notify_all()

    async def until(self, count: int) -> None:
        async with asyncio.timeout(2), self.changed:
            await self.changed.wait_for(lambda: len(self.done) >= count)

    @property
    def snapshots(self) -> list[Snapshot]:
        return [s for _, s in self.done]


def now() -> float:
    return asyncio.get_running_loop().time()


async def test_the_first_text_is_written_at_once_and_a_burst_becomes_one_later_write() -> None:
    writes = Writes()
    pacer = Pacer(writes, interval=INTERVAL)
    start = now()
    pacer.update(Snapshot("Hel"))
    await writes.until(1)
    assert writes.done[0][0] - start < SLACK
    for text in ("Hello", "Hello, w", "Hello, world"):
        pacer.update(Snapshot(text, "Writing..."))
    await writes.until(2)
    (first, _), (second, latest) = writes.done
    # Only the newest state is written, a whole interval after the first write.
    assert latest == Snapshot("Hello, world", "Writing...")
    assert second - first >= INTERVAL - SLACK
    await pacer.drain()
    assert len(writes.done) == 2


async def test_activity_alone_waits_an_interval_but_the_first_text_does_not() -> None:
    writes = Writes()
    pacer = Pacer(writes, interval=INTERVAL)
    pacer.update(Snapshot("", "Searching..."))
    pacer.update(Snapshot("The answer", "Searching..."))
    await writes.until(1)
    assert writes.snapshots == [Snapshot("The answer", "Searching...")]

    slow = Writes()
    pacer = Pacer(slow, interval=INTERVAL)
    start = now()
    pacer.update(Snapshot("", "Searching..."))
    await slow.until(1)
    assert slow.done[0][0] - start >= INTERVAL - SLACK
    # Text after a status-only message still shows at once.
    text_at = now()
    pacer.update(Snapshot("First words", "Searching..."))
    await slow.until(2)
    assert slow.done[1][0] - text_at < SLACK
    await pacer.drain()


async def test_writes_keep_their_distance_and_drain_drops_what_was_not_written() -> None:
    writes = Writes()
    pacer = Pacer(writes, interval=INTERVAL)
    for n in range(1, 4):
        pacer.update(Snapshot("x" * n))
        await writes.until(n)
    times = [t for t, _ in writes.done]
    assert all(b - a >= INTERVAL - SLACK for a, b in pairwise(times))
    pacer.update(Snapshot("never written"))
    await pacer.drain()
    assert writes.snapshots[-1] == Snapshot("xxx")
    # The final write waits its turn too.
    before = now()
    await pacer.wait_turn()
    assert now() - times[-1] >= INTERVAL - SLACK and now() >= before


async def test_a_failing_write_is_logged_and_pacing_goes_on() -> None:
    class Flaky(Writes):
        async def __call__(self, snapshot: Snapshot) -> None:
            await super().__call__(snapshot)
            if len(self.done) == 1:
                raise RuntimeError("discord hiccup")

    writes = Flaky()
    pacer = Pacer(writes, interval=0.01)
    pacer.update(Snapshot("one"))
    await writes.until(1)
    pacer.update(Snapshot("two"))
    await writes.until(2)
    await pacer.drain()
    assert [s.text for s in writes.snapshots] == ["one", "two"]


def test_the_status_line_sits_under_the_last_part_only() -> None:
    assert live_parts("Hello", "Searching the knowledge base...") == [
        "Hello\n\n_Searching the knowledge base..._"
    ]
    assert live_parts("", "Searching...") == ["_Searching..._"]
    assert live_parts("Hello", None) == ["Hello"]
    assert live_parts("", None) == []

    long = "\n\n".join(f"Paragraph {n}. " + "word " * 60 for n in range(20))
    parts = live_parts(long, "Writing...")
    assert len(parts) > 1 and all(len(p) <= CONTENT_LIMIT for p in parts)
    assert parts[-1].endswith("\n\n_Writing..._")
    assert not any(p.endswith("_Writing..._") for p in parts[:-1])
    # The finished parts are exactly the final answer's.
    assert parts[:-1] == live_parts(long, None)[:-1]


def test_the_status_line_cannot_ping_or_inject_markup() -> None:
    line = status_line("Using *bold* tool @everyone [x](http://e.vil)\nsecond line")
    assert "\n" not in line and "@everyone" not in line
    assert line == "_Using \\*bold\\* tool @\u200beveryone \\[x\\]\\(http://e.vil\\) second line_"
    assert len(status_line("x" * 1000)) <= 152


def test_a_full_last_part_goes_without_the_status_line() -> None:
    text = "a" * CONTENT_LIMIT
    assert live_parts(text, "Writing...") == [text]
