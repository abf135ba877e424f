"""Adversarial agent text, and what would make rendered output unsafe.

One strategy module for every safety test: the core step (tests/test_safety.py) and every
renderer (tests/*/test_render_safety.py). An injected document would make an agent write
pings in each platform's syntax, links whose text names another host than they open, huge
text, hundreds of sources, long follow-ups and odd Unicode; the checks below say what a
user would notice: a notification, or a link that lies about where it goes.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from hypothesis import strategies as st

from bot.domain import Answer, CallToAction, Source

# Pieces an injected document would combine, plus the Markdown around them.
PIECES = [
    "<", ">", "!", "@", "#", "&", "^", "|", "[", "]", "(", ")", " ", "\n", "*", "_", "`",
    "channel", "here", "everyone", "subteam^S0TEAM", "U0ADMIN", "C0GENERAL", "123456789",
    "https://", "http://", "mailto:", "sso.example.com", "evil.example", "www.", "/phish",
    "a", ".", ":", "-", "x", "**", "```", "\u200b", "\x1b[0m", "\x1b]0;t\x07", "\x1f", "\r",
]  # fmt: skip
# Whole attacks, in every platform's syntax, and Unicode that has broken renderers before.
ATTACKS = [
    "<!channel>", "<!here>", "<!everyone>", "<!subteam^S0TEAM|@admins>", "<@U0ADMIN>",
    "<#C0GENERAL>", "<@123456789012345678>", "<@!123456789012345678>", "<@&42>", "<#42>",
    "@everyone", "@here", "@channel", "@Everyone!", "x@here", "**@everyone**",
    "[https://sso.example.com](https://evil.example/phish)",
    "[sso.example.com](https://evil.example/phish)",
    "[**www.sso.example.com/login**](http://evil.example:8080/a_(b))",
    "<https://evil.example/phish|sso.example.com>", "<https://evil.example|https://sso.example.com>",
    "[mail sso](mailto:a@evil.example)", "[a@sso.example.com](mailto:a@evil.example)",
    "[the docs](https://docs.example.com/a)", "https://x.example/@everyone",
    "\u202eevil", "e\u0301\u0301", "👨\u200d👩\u200d👧", "🇩🇪", "日本語", "مرحبا",
    "\U0001d518\U0001d52b\U0001d526",
]  # fmt: skip
adversarial = st.lists(st.sampled_from(PIECES + ATTACKS), max_size=40).map("".join)
texts = st.one_of(adversarial, st.text(max_size=60))
# Mostly short; sometimes an answer tens of thousands of characters long.
huge_texts = st.tuples(texts, st.sampled_from([1, 1, 1, 2, 60, 400])).map(lambda t: t[0] * t[1])

SPOOFED = ["https://sso.example.com", "sso.example.com", "www.sso.example.com/login", "Docs"]
TARGETS = [
    None,
    "https://evil.example/phish",
    "https://sso.example.com/real",
    "http://evil.example:8080/x?q=[1]",
    "https://evil.example/" + "p" * 2500,
]
labels = st.one_of(st.sampled_from(SPOOFED), texts)
sources = st.builds(Source, title=labels, url=st.sampled_from(TARGETS), snippet=st.none() | texts)
follow_ups = st.one_of(texts, st.integers(70, 90).map(lambda n: ("@everyone " * 9)[:n]))
actions = st.builds(
    CallToAction,
    label=labels,
    action=st.sampled_from(["open_url", "create_ticket"]),
    action_data=st.sampled_from(TARGETS).map(lambda u: {"url": u} if u else None),
)


@st.composite
def answers(draw: st.DrawFn) -> Answer:
    """An answer an injected agent could give: every text of it adversarial."""
    many = draw(st.booleans())
    return Answer(
        text=draw(huge_texts),
        sources=tuple(draw(st.lists(sources, max_size=4 if not many else 200))),
        follow_ups=tuple(draw(st.lists(follow_ups, max_size=4 if not many else 30))),
        actions=tuple(draw(st.lists(actions, max_size=3 if not many else 30))),
        session_restarted=draw(st.booleans()),
    )


# --- what a user would notice -----------------------------------------------------------

URL = re.compile(r"https?://[^\s<>()\[\]|]+", re.IGNORECASE)
PING = re.compile(r"<[!@#]|@(?:everyone|here|channel)", re.IGNORECASE)
LINK = re.compile(r"\[([^\[\]\n]+)\]\(((?:[^()\s]|\([^()\s]*\))+)\)")
SLACK_LINK = re.compile(r"<((?:https?://|mailto:)[^\s<>|]+)\|([^<>\n]+)>")
HOSTISH = re.compile(
    r"^(?:[a-z][a-z0-9+.-]*://)?(?:[^\s/@:]+@)?((?:[a-z0-9-]+\.)+[a-z][a-z0-9-]+)\.?"
    r"(?::\d+)?(?:[/?#]\S*)?$",
    re.IGNORECASE,
)


def pings(text: str) -> list[str]:
    """What would notify people, in Slack's or Discord's syntax: `<!...>`, `<@...>`,
    `<#...>` and bare broadcasts outside web addresses (a Slack link's text is checked)."""
    text = SLACK_LINK.sub(lambda m: f" {m.group(2)} ", text)
    return PING.findall(URL.sub(" ", text))


def named_host(label: str) -> str | None:
    """The host a link's text names, if it looks like a web address or a domain."""
    found = HOSTISH.match(re.sub(r"[*_~`]", "", label).strip().strip("<>"))
    return found.group(1).lower().removeprefix("www.") if found else None


def target_host(url: str) -> str:
    if url.lower().startswith("mailto:"):
        return url.rpartition("@")[2].split("?")[0].lower()
    try:
        return (urlsplit(url.strip("<>")).hostname or "").removeprefix("www.")
    except ValueError:
        return ""


def lies(label: str, url: str) -> bool:
    """True when `label` names a host and `url` opens another."""
    named = named_host(label)
    return named is not None and named != target_host(url)


def lying_links(text: str) -> list[tuple[str, str]]:
    """Links (Markdown or Slack syntax) whose text names a host their target is not on."""
    found = [(m.group(1), m.group(2)) for m in LINK.finditer(text)]
    found += [(m.group(2), m.group(1)) for m in SLACK_LINK.finditer(text)]
    return [(label, url) for label, url in found if lies(label, url)]


# Always tried (hypothesis `example`): every attack, 38,000 characters of it, 200 spoofing
# sources, 30 long follow-ups and 30 spoofing link buttons.
HUGE_ANSWER = Answer(
    text=(" ".join(ATTACKS) + "\n\n") * 60,
    sources=tuple(Source(SPOOFED[i % 4], TARGETS[1 + i % 4]) for i in range(200)),
    follow_ups=tuple(("@everyone <!here> " * 6)[: 70 + i % 20] for i in range(30)),
    actions=tuple(
        CallToAction(SPOOFED[i % 4], "open_url", {"url": TARGETS[1 + i % 4]}) for i in range(30)
    ),
    session_restarted=True,
)
