"""Agent text is untrusted: it may not ping anyone or spoof a link, on any platform or path.

A prompt-injected document can make an agent write `<!channel>`, `@everyone` or a link
whose text names one host while it opens another. Every text the bot shows that an agent
(or a user) wrote goes through `safe_markdown` first; streamed text goes through
`safe_prefix`, which is the same transformation held back where a later piece could still
change it, so that what was already sent is always the start of the final text.

What changes, and nothing else (Markdown stays Markdown):
- terminal escape sequences and control characters go (a renderer dropping them later
  could join a mention back up);
- mentions and broadcasts in any platform's syntax get a zero-width space that breaks the
  syntax but reads the same: Slack `<!channel>`, `<!here>`, `<!everyone>`,
  `<!subteam^...>`, `<@U...>`, `<#C...>`; Discord `<@...>`, `<@!...>`, `<@&...>`,
  `<#...>`; bare `@everyone`, `@here`, `@channel` (not inside a web address);
- a link whose text (or a source's title, a link button's label) looks like a web address
  or a domain and names another host than its target shows the target's host instead: `[https://sso.example.com](https://evil.example/x)`
  becomes `[evil.example](https://evil.example/x)`. Slack's own `<url|text>` links are
  turned into Markdown links first, so they get the same check.
"""

from __future__ import annotations

import dataclasses
import re
from urllib.parse import urlsplit

from bot.domain import Answer

ZWSP = "\u200b"

MAX_LABEL = 300
MAX_URL = 2000


def _bounded(pattern: str) -> str:
    return pattern.replace("LABEL", str(MAX_LABEL)).replace("URL", str(MAX_URL))


# `<` opening a Slack or Discord special: mentions, broadcasts, channels, user groups.
_SPECIAL = re.compile(r"<(?=[!@#])")
# Bare broadcasts, even run into other letters (Discord pings "@everyone" inside words),
# unless inside a web address (kept whole: it is part of the address; "|" ends one, as in
# Slack's <url|text>).
_BARE = re.compile(r"(?P<url>https?://[^\s<>()\[\]|]+)|@(?=everyone|here|channel)", re.IGNORECASE)
# Slack's link syntax: <https://target|text>.
_SLACK_LINK = re.compile(_bounded(r"<(https?://[^\s<>|]{1,URL})\|([^<>\n]{1,LABEL})>"))
# A Markdown link: [text](target), the target with at most one level of parentheses.
_MD_LINK = re.compile(
    _bounded(r"\[(?P<label>[^\[\]\n]{1,LABEL})\]\((?P<url>(?:[^()\s]|\([^()\s]*\)){1,URL})\)")
)
# What a label that names a place looks like: an optional scheme, a dotted host name.
_HOSTISH = re.compile(
    r"^(?:[a-z][a-z0-9+.-]*://)?(?:[^\s/@:]+@)?(?P<host>(?:[a-z0-9-]+\.)+[a-z][a-z0-9-]+\.?)"
    r"(?::\d+)?(?:[/?#]\S*)?$",
    re.IGNORECASE,
)
_MARKUP = re.compile(r"[*_~`]")
# Terminal escape sequences as a whole (CSI, OSC up to BEL or ST, DCS/SOS/PM/APC up to
# ST, two-character escapes, the 8-bit CSI), then any control character left (carriage
# returns too: CRLF becomes LF). They show as nothing, and a renderer that dropped them
# later would join "<\x1f@U1>" into a mention. Each alternative is linear.
ESCAPE_SEQUENCES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]?"
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"
    r"|\x1b[PX^_][^\x1b]*(?:\x1b\\)?"
    r"|\x1b[ -~]?"
    r"|\x9b[0-?]*[ -/]*[@-~]?"
)
CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")

# Trailing pieces of a stream that a later piece could still turn into something that
# safe_markdown changes, each from its first character: a word after "@", an unclosed
# Slack link, an unfinished Markdown link.
_OPEN = {
    "@": re.compile(r"@[\w-]*"),
    "<": re.compile(r"<(?:h[^\s<>|]*(?:\|[^<>\n]*)?)?"),
    "[": re.compile(
        _bounded(
            r"\[[^\[\]\n]{0,LABEL}(?:\](?:\((?:[^()\s]|\([^()\s]*\)){0,URL}(?:\([^()\s]*)?)?)?"
        )
    ),
}
_TAIL = MAX_LABEL + MAX_URL + 8  # no open piece is longer


def safe_markdown(text: str) -> str:
    """`text` with every ping defused and every spoofing link label corrected."""
    text = CONTROLS.sub("", ESCAPE_SEQUENCES.sub("", text))
    text = _SLACK_LINK.sub(lambda m: f"[{m.group(2)}]({m.group(1)})", text)
    text = _MD_LINK.sub(_honest_link, text)
    text = _SPECIAL.sub("<" + ZWSP, text)
    return _BARE.sub(_defuse_bare, text)


def safe_prefix(text: str) -> str:
    """The safe form of the part of a growing `text` that no later piece can change.

    For any continuation `more`, `safe_prefix(text)` is a prefix of
    `safe_markdown(text + more)`: streamed chunks never need taking back.
    """
    return safe_markdown(text[: stable_length(text)])


def stable_length(text: str) -> int:
    """How much of a growing `text` is final for `safe_markdown` (see `safe_prefix`)."""
    tail = max(0, len(text) - _TAIL)
    for index in range(tail, len(text)):  # the leftmost open piece decides
        pattern = _OPEN.get(text[index])
        if pattern is not None and pattern.fullmatch(text, index):
            return index
    return len(text)


def safe_answer(answer: Answer) -> Answer:
    """Every text of an answer an agent wrote, made safe: the Markdown, source titles and
    snippets, follow-up questions and action labels (the pipeline applies this to every
    answer it gives, so each renderer and path gets safe text)."""
    return dataclasses.replace(
        answer,
        text=safe_markdown(answer.text),
        sources=tuple(
            dataclasses.replace(
                s,
                title=honest_label(safe_markdown(s.title), s.url),
                snippet=safe_markdown(s.snippet) if s.snippet else s.snippet,
            )
            for s in answer.sources
        ),
        follow_ups=tuple(safe_markdown(q) for q in answer.follow_ups),
        actions=tuple(
            dataclasses.replace(a, label=honest_label(safe_markdown(a.label), a.url))
            for a in answer.actions
        ),
    )


def honest_label(label: str, url: str | None) -> str:
    """`label` for a link (a source's title, a link button) that opens `url`: the target's
    host instead, when the label names another host."""
    if url is None:
        return label
    named = _named_host(label)
    if named is None:
        return label
    target = _host_of(url)
    if target is not None and _same_host(named, target):
        return label
    return target if target is not None else url


def _defuse_bare(match: re.Match[str]) -> str:
    url = match.group("url")
    return url if url is not None else "@" + ZWSP


def _honest_link(match: re.Match[str]) -> str:
    label, url = match.group("label"), match.group("url")
    shown = honest_label(label, url)
    return match.group(0) if shown == label else f"[{shown}]({url})"


def _named_host(label: str) -> str | None:
    """The host a link's text names, when it looks like a web address or a domain, or
    starts with one: a renderer may cut a long label down to its first word."""
    plain = _MARKUP.sub("", label).strip()
    words = plain.split(maxsplit=1)
    for candidate in (plain, words[0] if words else ""):
        found = _HOSTISH.match(candidate.strip("<>"))
        if found:
            return found.group("host").lower().rstrip(".")
    return None


def _host_of(url: str) -> str | None:
    url = url.strip().strip("<>")
    if url.lower().startswith("mailto:"):
        return url.rpartition("@")[2].split("?")[0].lower() or None
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return None
    return host.rstrip(".") if host else None


def _same_host(named: str, target: str) -> bool:
    def bare(host: str) -> str:
        return host.removeprefix("www.")

    return bare(named) == bare(target)
