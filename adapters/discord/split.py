"""Cut Markdown into Discord-sized parts where a reader would: paragraph, line, sentence,
word, and only as a last resort mid-word.

Code blocks follow Discord's own parser rather than CommonMark: a block runs from one
"```" to the next, wherever they stand, and an optional language tag directly after the
opening backticks ends with a newline. A part that ends inside a block gets a closing
"```", and the next part reopens it with the same tag, so every part renders on its own.

Lengths are counted in code points, as Discord's API counts them.
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from dataclasses import dataclass

FENCE = "```"
CLOSER = "\n" + FENCE
# Discord's highlighter takes a tag like these; a longer run is code, not a tag.
_LANG = re.compile(r"([A-Za-z0-9_+\-.#]{1,32})\n")
_PARAGRAPH = re.compile(r"\n[ \t]*\n")
_LINE = re.compile(r"\n")
# The cut goes after the punctuation (and any closing quote or bracket).
_SENTENCE = re.compile(
    r"[.!?\u2026][\"'\u2019\u201d)\]]*(?=\s)"  # . ! ? … then closing quotes or brackets
    r"|[\u3002\uff01\uff1f][\"'\u2019\u201d\u300d\u300f\uff09]*"  # CJK full stops need no space
)
_SPACE = re.compile(r"\s")
_MIN_LIMIT = 64


@dataclass(frozen=True, slots=True)
class _Fence:
    """One "```" run: where it starts and ends, and, for an opener, its header's end."""

    start: int
    end: int  # end of the backticks
    header_end: int  # end of "```lang\n" for an opener; == end for a closer
    opener: bool
    lang: str


class _Fences:
    """Where the code blocks of one text are, to know the state at any cut."""

    def __init__(self, text: str) -> None:
        self.fences: list[_Fence] = []
        opener = True
        for match in re.finditer(re.escape(FENCE), text):
            start, end = match.span()
            lang, header_end = "", end
            if opener:
                tag = _LANG.match(text, end)
                if tag:
                    lang, header_end = tag.group(1), tag.end()
                elif text.startswith("\n", end):
                    header_end = end + 1
            self.fences.append(_Fence(start, end, header_end, opener, lang))
            opener = not opener
        self._starts = [fence.start for fence in self.fences]

    def before(self, index: int) -> int:
        """How many fences start before `index`."""
        return bisect.bisect_left(self._starts, index)

    def open_at(self, index: int) -> _Fence | None:
        """The opener of the block that `index` (a valid cut) lies in, if any."""
        count = self.before(index)
        if count % 2 == 0:
            return None
        return self.fences[count - 1]

    def blocked(self, index: int) -> _Fence | None:
        """The fence a cut at `index` would break: strictly inside its backticks, or
        between an opener and the end of its header (which would leave an empty block)."""
        count = self.before(index)
        if count == 0:
            return None
        fence = self.fences[count - 1]
        if fence.opener:
            return fence if fence.start < index <= fence.header_end else None
        return fence if fence.start < index < fence.end else None

    def closer_at(self, index: int) -> _Fence | None:
        """The closing fence that starts exactly at `index`, if any."""
        count = self.before(index + 1)
        if count % 2 == 0 and count > 0 and self.fences[count - 1].start == index:
            return self.fences[count - 1]
        return None


def split_text(markdown: str, limit: int = 2000) -> list[str]:
    """Split on paragraph, line, sentence, then word boundaries; code fences closed and
    reopened across the split; every part at most `limit` characters.

    Whitespace at the edges of a part is dropped (Discord trims it anyway); an input with
    nothing but whitespace gives no parts.
    """
    if limit < _MIN_LIMIT:
        raise ValueError(f"limit must be at least {_MIN_LIMIT}, got {limit}")
    text = markdown
    fences = _Fences(text)
    parts: list[str] = []
    end = len(text.rstrip())
    # An unclosed block at the very end is closed too, so the last part renders.
    ends_open = fences.open_at(len(text)) is not None
    pos = _skip_space(text, 0)
    while pos < end:
        block = fences.open_at(pos)
        prefix = f"{FENCE}{block.lang}\n" if block else ""
        if len(prefix) + (end - pos) + (len(CLOSER) if ends_open else 0) <= limit:
            _append(parts, prefix, text[pos:end], close=ends_open)
            break
        budget = limit - len(prefix) - len(CLOSER)
        cut = _best_cut(text, pos=pos, budget=budget, fences=fences)
        head = text[pos:cut].rstrip()
        inside = fences.open_at(cut) is not None
        _append(parts, prefix, head, close=inside)
        pos = _skip_space(text, cut)
        closer = fences.closer_at(pos) if inside else None
        if closer is not None:
            # The block's own closer would open a new block in the next part: the closer
            # we just added stands in for it.
            pos = _skip_space(text, closer.end)
    return parts


def _append(parts: list[str], prefix: str, head: str, *, close: bool) -> None:
    if not head.strip():
        return
    parts.append(prefix + head + (CLOSER if close else ""))


def _skip_space(text: str, index: int) -> int:
    """Past the whitespace at `index`, keeping the indentation of the line it reaches."""
    end = index
    while end < len(text) and text[end].isspace():
        end += 1
    if end == len(text):
        return end
    newline = text.rfind("\n", index, end)
    return newline + 1 if newline >= 0 else end


def _best_cut(text: str, *, pos: int, budget: int, fences: _Fences) -> int:
    """Where the part starting at `pos` ends (exclusive): the preferred boundary that
    keeps the part at least half full, else any boundary, else a hard cut."""
    last = pos + budget  # the head may run up to here
    window_end = min(len(text), last + 2)
    tiers: list[list[int]] = [
        [m.start() for m in _PARAGRAPH.finditer(text, pos, window_end)],
        [m.start() for m in _LINE.finditer(text, pos, window_end)],
        [m.end() for m in _SENTENCE.finditer(text, pos, window_end)],
        [m.start() for m in _SPACE.finditer(text, pos, window_end)],
    ]
    for floor in (pos + budget // 2, pos + 1):
        for candidates in tiers:
            for cut in reversed(candidates):
                if cut < floor:
                    break
                if cut <= last and fences.blocked(cut) is None:
                    return cut
    return _hard_cut(text, pos=pos, last=last, fences=fences)


def _hard_cut(text: str, *, pos: int, last: int, fences: _Fences) -> int:
    cut = last
    fence = fences.blocked(cut)
    if fence is not None and fence.start > pos:
        cut = fence.start
    # Keep a character with its combining marks, joiners and variation selectors.
    while cut - 1 > pos and _binds_to_previous(text[cut]):
        cut -= 1
    return cut


def _binds_to_previous(char: str) -> bool:
    return (
        unicodedata.combining(char) != 0
        or char == "\u200d"
        or "\ufe00" <= char <= "\ufe0f"
        or "\U0001f3fb" <= char <= "\U0001f3ff"  # skin tones
        or unicodedata.category(char) == "Mn"
    )
