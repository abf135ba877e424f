"""Adversarial agent text through the pipeline's safety step and then the terminal
renderer (plain lines and the rich view): no ping syntax survives, no link or listed
source shows a host other than the one it opens, and no control sequence reaches the
terminal."""

from __future__ import annotations

import io
import re

from hypothesis import HealthCheck, example, given, settings
from rich.cells import cell_len
from rich.console import Console

from adapters.terminal.render import answer_view, plain
from bot.domain import Answer
from bot.safety import safe_answer
from tests.adversarial import HUGE_ANSWER, answers, lies, lying_links, pings

PROPERTY = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


WIDTH = 100


def on_screen(answer: Answer) -> str:
    console = Console(file=io.StringIO(), width=WIDTH, color_system=None, record=True)
    console.print(answer_view(answer))
    return console.export_text()


# What would notify if the screen's text were pasted into Slack or Discord: a whole
# mention (`<@U1>`, `<!channel>`, `<#C1>`, `<@&1>`) or a bare broadcast outside a web
# address. (The screen shows Markdown rendered: `<**@x**` reads `<@x` there, which is
# neither; the raw text is checked with the stricter `pings` above.)
WHOLE_MENTION = re.compile(r"<[@#!][&\w^|.-]*>")


def notifying(screen: str) -> list[str]:
    return WHOLE_MENTION.findall(screen) + [p for p in pings(screen) if p.startswith("@")]


def unwrapped(screen: str) -> str:
    """The screen with rich's line wraps undone: a line that fills the width goes on."""
    out = ""
    for line in screen.splitlines():
        text = line.rstrip()
        out += text if cell_len(text) >= WIDTH - 1 else text + "\n"  # wide glyphs count 2
    return out


@PROPERTY
@given(answers())
@example(HUGE_ANSWER)
@example(Answer(text="https://x.example/@everyone" * 12))  # a web address wrapped on screen
@example(Answer(text="https://x.example/@everyone日本語" * 6))  # ... with wide glyphs in it
def test_the_terminal_shows_no_ping_and_no_lying_link(answer: Answer) -> None:
    safe = safe_answer(answer)
    lines = plain(safe)
    assert pings(lines) == [] and lying_links(lines) == []
    assert "\x1b" not in lines
    for item in [*safe.sources, *safe.actions]:
        label = getattr(item, "title", None) or getattr(item, "label", "")
        assert item.url is None or not lies(label, item.url), item
    screen = on_screen(safe)
    # rich wraps a long web address across lines, so a piece of one can start a line (a
    # web address keeps its text, bot.safety); read the screen with its wraps undone
    assert notifying(unwrapped(screen)) == []
    assert "\x1b" not in screen
