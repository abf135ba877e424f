"""Small text helpers for what Discord shows: clean, defuse, escape, cut, safe links."""

from __future__ import annotations

import re
from urllib.parse import quote, urlsplit

# Characters that make Discord reject the payload or garble the message: C0 controls
# (bar tab and newline), DEL and C1 controls.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# "@everyone" / "@here" anywhere Discord would show a mass ping (even right after a word,
# as in "me@here.com"), but not inside a url, where it is part of the address.
_MASS_PING = re.compile(r"(https?://[^\s<>()]+)|@(everyone|here)", re.IGNORECASE)
_INLINE_MARKUP = re.compile(r"([\\\[\]()*_~`|])")
# Kept as they are in a link target; everything else is percent-encoded, so a space or a
# parenthesis cannot end a Markdown link early.
_URL_SAFE = "/:?#@!$&'*+,;=%~-._"
ZWSP = "\u200b"


def clean(text: str) -> str:
    """Normalized newlines; lone surrogates and control characters, which Discord
    rejects or shows as boxes, replaced or removed."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return _CONTROL.sub("", text)


def defuse(text: str) -> str:
    """ "@everyone" and "@here" split by a zero-width space: they no longer look like
    pings (allowed_mentions already stops them from pinging)."""
    return _MASS_PING.sub(_defuse_one, text)


def _defuse_one(match: re.Match[str]) -> str:
    url = match.group(1)
    return url if url is not None else "@" + ZWSP + match.group(2)


def one_line(text: str) -> str:
    return " ".join(text.split())


def cut(text: str, limit: int) -> str:
    """At most `limit` characters, ending in "…" when something was cut."""
    if len(text) <= limit:
        return text
    return text[: limit - 1].rstrip() + "…"


def escape_inline(text: str) -> str:
    """Backslash-escape what would turn a label into a link, emphasis or code."""
    return _INLINE_MARKUP.sub(r"\\\1", text)


def safe_url(url: str | None, *, limit: int | None = None) -> str | None:
    """An http(s) url fit for a Markdown link or a link button, or None."""
    if not url:
        return None
    url = url.strip()
    if not url.lower().startswith(("http://", "https://")) or not urlsplit(url).netloc:
        return None
    encoded = quote(clean(url), safe=_URL_SAFE)
    if limit is not None and len(encoded) > limit:
        return None
    return encoded


def host(url: str) -> str:
    return urlsplit(url).hostname or url
