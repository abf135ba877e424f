"""Adversarial agent text through the pipeline's safety step and then the terminal
renderer (plain lines and the rich view): no ping syntax survives, no link or listed
source shows a host other than the one it opens, and no control sequence reaches the
terminal."""

from __future__ import annotations

import io

from hypothesis import HealthCheck, example, given, settings
from rich.console import Console

from adapters.terminal.render import answer_view, plain
from bot.domain import Answer
from bot.safety import safe_answer
from tests.adversarial import HUGE_ANSWER, answers, lies, lying_links, pings

PROPERTY = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def on_screen(answer: Answer) -> str:
    console = Console(file=io.StringIO(), width=100, color_system=None, record=True)
    console.print(answer_view(answer))
    return console.export_text()


@PROPERTY
@given(answers())
@example(HUGE_ANSWER)
def test_the_terminal_shows_no_ping_and_no_lying_link(answer: Answer) -> None:
    safe = safe_answer(answer)
    lines = plain(safe)
    assert pings(lines) == [] and lying_links(lines) == []
    assert "\x1b" not in lines
    for item in [*safe.sources, *safe.actions]:
        label = getattr(item, "title", None) or getattr(item, "label", "")
        assert item.url is None or not lies(label, item.url), item
    screen = on_screen(safe)
    assert pings(screen) == []
    assert "\x1b" not in screen
