"""Cutting Slack mrkdwn into pieces that fit a length limit without breaking what it shows.

Pieces are cut on paragraph, then line, then sentence, then word boundaries, and only as a
last resort inside a word (never inside a `<url|text>` link, an `&amp;` entity or a
character sequence that draws as one glyph). A code block cut in two is closed at the end of
one piece and reopened at the start of the next, so both halves still show as code.
"""

from __future__ import annotations

import re
import unicodedata

FENCE = "```"
# Room kept in every piece for the "\n```" and "```\n" that close and reopen a cut code block.
_FENCE_RESERVE = 2 * (len(FENCE) + 1)

_LINK = re.compile(r"<[^<>\n]*>")
# Stands for a space inside a link while cutting, so no sentence or word cut lands there;
# control characters never reach mrkdwn (mrkdwn.clean removes them).
_LINK_SPACE = "\x00"
_LEVELS = (
    re.compile(r"\n[ \t]*\n\s*"),  # paragraphs
    re.compile(r"\n"),  # lines
    re.compile("(?<=[.!?\u2026\u3002\uff01\uff1f])[ \t]+"),  # sentences
    re.compile(r"[ \t]+"),  # words
)
_LIST_NUMBER = re.compile(r"\s*\d{1,4}[.)]\s*")
_JOINERS = {"\u200d", "\u2060"}  # zero-width joiner, word joiner: never cut right after one


def slack_len(text: str) -> int:
    """Length as Slack may count it (UTF-16 code units): never less than Python's len()."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def split_mrkdwn(text: str, limit: int) -> list[str]:
    """`text` in pieces of at most `limit` (slack_len), none of them blank.

    Joined back together the pieces hold every character of `text` except the whitespace
    at the cuts (and the fences added to close and reopen a cut code block).
    """
    if limit <= _FENCE_RESERVE + 16:
        raise ValueError(f"limit {limit} is too small to cut mrkdwn")
    if not text.strip():
        return []
    if slack_len(text) <= limit:
        return [text.strip("\n")]
    shielded = _LINK.sub(lambda m: m.group(0).replace(" ", _LINK_SPACE), text)
    # Pieces keep the separators at their ends until here: a piece that goes on growing at
    # a higher level needs them, and only a cut drops them.
    pieces = _split(shielded, limit - _FENCE_RESERVE, 0)
    pieces = [_trim(p).replace(_LINK_SPACE, " ") for p in pieces]
    return _balance_fences([p for p in pieces if p.strip()])


def truncate(text: str, limit: int, *, marker: str = "…") -> str:
    """`text` cut to at most `limit` (slack_len) with `marker` at the end when cut."""
    if slack_len(text) <= limit:
        return text
    budget = limit - slack_len(marker)
    cut = _cut_index(text, budget)
    return text[:cut].rstrip() + marker


def _split(text: str, limit: int, level: int) -> list[str]:
    if slack_len(text) <= limit:
        return [text]
    if level == len(_LEVELS):
        return _hard_split(text, limit)
    pieces: list[str] = []
    current, current_len = "", 0
    for unit in _units(text, _LEVELS[level]):
        unit_len = slack_len(unit)
        # The separator at a unit's end is dropped at a cut, so only its text must fit.
        if current_len + slack_len(unit.rstrip()) <= limit:
            current, current_len = current + unit, current_len + unit_len
            continue
        if current.strip():
            pieces.append(current)
        if slack_len(unit.rstrip()) <= limit:
            current, current_len = unit, unit_len
            continue
        parts = _split(unit, limit, level + 1)
        pieces.extend(parts[:-1])
        current = parts[-1] if parts else ""
        current_len = slack_len(current)
    if current.strip():
        pieces.append(current)
    return pieces


def _units(text: str, separator: re.Pattern[str]) -> list[str]:
    """`text` cut after each separator; each unit keeps its separator at its end.

    A list number ("1. ") stays with what follows it, though it looks like a sentence end.
    """
    units: list[str] = []
    start = 0
    for match in separator.finditer(text):
        if match.start() > start and not _LIST_NUMBER.fullmatch(text, start, match.end()):
            units.append(text[start : match.end()])
            start = match.end()
    units.append(text[start:])
    return [u for u in units if u]


def _trim(piece: str) -> str:
    return piece.strip("\n").rstrip()


def _hard_split(text: str, limit: int) -> list[str]:
    pieces: list[str] = []
    remaining = slack_len(text)
    while remaining > limit:
        cut = _cut_index(text, limit)
        pieces.append(text[:cut])
        remaining -= slack_len(text[:cut])
        text = text[cut:]
    if text:
        pieces.append(text)
    return pieces


def _cut_index(text: str, budget: int) -> int:
    """The largest safe index i with slack_len(text[:i]) <= budget (at least 1)."""
    used, cut = 0, 0
    for ch in text:
        used += 2 if ord(ch) > 0xFFFF else 1
        if used > budget:
            break
        cut += 1
    if cut >= len(text):
        return len(text)
    best = cut
    # Step back out of a link or an entity, then off a combining mark or joiner; give up
    # (cut where we are) rather than step back to nothing.
    head = text[:cut]
    link_start = head.rfind("<")
    if link_start > head.rfind(">") and link_start > 0:
        cut = link_start
    amp = head.rfind("&", max(0, cut - 8), cut)
    if amp > 0 and ";" not in text[amp:cut]:
        cut = amp
    floor = max(1, cut - 32)
    while cut > floor and (_joins_previous(text[cut]) or text[cut - 1] in _JOINERS):
        cut -= 1
    return cut if cut > 0 else max(best, 1)


def _joins_previous(ch: str) -> bool:
    """True for characters drawn as part of the character before them."""
    if ch in _JOINERS or unicodedata.combining(ch):
        return True
    code = ord(ch)
    return (
        0xFE00 <= code <= 0xFE0F  # variation selectors
        or 0x1F3FB <= code <= 0x1F3FF  # skin tones
        or 0xE0020 <= code <= 0xE007F  # tag characters (flag sequences)
        or unicodedata.category(ch) in ("Mn", "Me", "Mc")
    )


def _balance_fences(pieces: list[str]) -> list[str]:
    """Close a code block left open at the end of a piece and reopen it in the next."""
    balanced: list[str] = []
    open_fence = False
    for piece in pieces:
        if open_fence and piece.startswith(FENCE):
            # The cut fell just before the closing fence: nothing to reopen.
            piece = piece[len(FENCE) :].lstrip("\n")
        elif open_fence:
            piece = f"{FENCE}\n{piece}"
        open_fence = piece.count(FENCE) % 2 == 1
        if open_fence and piece.endswith(FENCE):
            # The cut fell just after an opening fence: open it in the next piece instead.
            piece = piece[: -len(FENCE)].rstrip()
        elif open_fence:
            piece = f"{piece}\n{FENCE}"
        if piece.strip():
            balanced.append(piece)
    return balanced
