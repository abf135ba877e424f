"""Markdown (what the agent writes) -> Slack mrkdwn (what Slack shows).

Parsed with markdown-it-py (CommonMark plus tables and strikethrough) rather than regexes:
agent answers hold every kind of Markdown, nested and malformed, and a real parser gets
emphasis, code spans, unclosed fences and links inside lists right where regexes do not.
"""

from __future__ import annotations

import enum
import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote

from markdown_it import MarkdownIt
from markdown_it.token import Token
from markdown_it.tree import SyntaxTreeNode

from adapters.slack.split import FENCE, slack_len

MAX_LINK_URL = 2000  # longer URLs are shown as text: a link must fit in one 3,000-char block
MAX_LINK_LABEL = 500
RULE_TEXT = "———"
_INDENT = "    "
_MAX_NESTING = 40
_BAR = "\u2223"  # DIVIDES, looks like "|"
_GRAVE = "\u02cb"  # MODIFIER LETTER GRAVE ACCENT, looks like "`"

_MD = MarkdownIt("commonmark", {"maxNesting": _MAX_NESTING}).enable(["strikethrough", "table"])
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
_URL_START = re.compile(r"(?i)^(?:https?://[^\s/?#]|mailto:\S)")
_URL_UNSAFE = re.compile(r"[\s<>|\"`\\^{}]")
_SPACES = re.compile(r"\s+")


class Kind(enum.Enum):
    TEXT = "text"
    CODE = "code"
    HEADING = "heading"
    RULE = "rule"


@dataclass(frozen=True, slots=True)
class Chunk:
    """One top-level piece of an answer, already in mrkdwn.

    Headings keep their plain text too, so the renderer can show a leading one as a
    `header` block; rules become dividers.
    """

    kind: Kind
    text: str
    plain: str = ""
    level: int = 0


def clean(text: str) -> str:
    """Drop what Slack cannot carry: control characters and lone UTF-16 surrogates."""
    return _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


_BACKTICK_RUN = re.compile(r"`{3,}")


def escape(text: str) -> str:
    """Slack's three control characters as entities, and no stray code fence."""
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    # A literal ``` would open a code block Slack never closes; a zero-width space after
    # every second backtick of a run keeps it visible but inert (a run of five, replaced
    # three at a time, would leave a new ```).
    return _BACKTICK_RUN.sub(lambda m: "``" + "\u200b`" * (len(m.group()) - 2), escaped)


def collapse(text: str) -> str:
    """All runs of whitespace (newlines too) as one space, trimmed."""
    return _SPACES.sub(" ", text).strip()


def safe_url(url: str) -> str | None:
    """`url` ready to go inside `<...>`, or None when it is not a web or mail link that fits."""
    url = clean(url).strip()
    if not _URL_START.match(url):
        return None
    url = _URL_UNSAFE.sub(lambda m: quote(m.group(0), safe=""), url)
    url = url.replace("&", "&amp;")
    return url if slack_len(url) <= MAX_LINK_URL else None


def link(url: str, label: str = "") -> str:
    """A Slack link `<url|label>`; text that shows both when the URL cannot be linked."""
    label = collapse(clean(label))
    target = safe_url(url)
    url_text = collapse(clean(url))
    if target is None:
        if not label or label == url_text:
            return escape(url_text)
        return f"{escape(label)} ({escape(url_text)})" if url_text else escape(label)
    if not label or label == url_text:
        return f"<{target}>"
    if slack_len(label) > MAX_LINK_LABEL:
        return f"{escape(label)} (<{target}>)"
    # Slack ends the URL at the first "|" and the link at the first ">"; the ">" is already
    # an entity, and a look-alike bar keeps the label whole.
    return f"<{target}|{escape(label).replace('|', _BAR)}>"


def chunks(markdown: str) -> list[Chunk]:
    """The answer's top-level pieces (paragraphs, lists, code blocks, headings...) in mrkdwn."""
    markdown = clean(markdown)
    if not markdown.strip():
        return []
    tokens = _parse(markdown)
    if any(token.level >= _MAX_NESTING - 1 for token in tokens):
        # markdown-it drops everything past its nesting limit; show the text as it came.
        return [Chunk(Kind.TEXT, escape(markdown.strip("\n")))]
    return [c for c in _blocks(SyntaxTreeNode(tokens).children) if c.text.strip()]


def to_mrkdwn(markdown: str) -> str:
    """Markdown -> Slack mrkdwn: bold, italics, links, lists, headings, code; &, <, > escaped."""
    return "\n\n".join(c.text for c in chunks(markdown))


def to_plain(markdown: str) -> str:
    """The words of `markdown` without any markup, whitespace collapsed (not escaped)."""
    words: list[str] = []
    for token in _parse(clean(markdown)):
        if token.type in ("fence", "code_block", "html_block"):
            words.append(token.content)
        for child in token.children or ():
            if child.type in ("text", "code_inline", "html_inline"):
                words.append(child.content)
            elif child.type in ("softbreak", "hardbreak"):
                words.append(" ")
        words.append(" ")
    return collapse("".join(words))


@functools.lru_cache(maxsize=64)
def _parse(markdown: str) -> tuple[Token, ...]:
    """markdown-it's tokens, kept for a few texts: rendering an answer parses its text twice
    (the blocks, and the notification's plain words), the second time for free. Read only."""
    return tuple(_MD.parse(markdown))


def _blocks(nodes: Sequence[SyntaxTreeNode]) -> list[Chunk]:
    out: list[Chunk] = []
    for node in nodes:
        kind = node.type
        if kind == "paragraph":
            out.append(Chunk(Kind.TEXT, _inline(_inline_children(node))))
        elif kind == "heading":
            children = _inline_children(node)
            plain = collapse(_plain(children))
            text = _wrap(_inline(children, styled=False), "*")
            out.append(Chunk(Kind.HEADING, text, plain=plain, level=int(node.tag[1:] or 1)))
        elif kind in ("fence", "code_block"):
            out.append(Chunk(Kind.CODE, _code_block(node.content)))
        elif kind in ("bullet_list", "ordered_list"):
            out.append(Chunk(Kind.TEXT, _list(node)))
        elif kind == "blockquote":
            inner = "\n".join(c.text for c in _blocks(node.children) if c.text.strip())
            out.append(Chunk(Kind.TEXT, "\n".join(f"> {line}" for line in inner.split("\n"))))
        elif kind == "hr":
            out.append(Chunk(Kind.RULE, RULE_TEXT))
        elif kind == "table":
            out.append(Chunk(Kind.CODE, _table(node)))
        elif node.children:
            out.extend(_blocks(node.children))
        else:  # html_block and anything markdown-it may add later: shown as written
            out.append(Chunk(Kind.TEXT, escape(node.content.strip("\n"))))
    return out


def _inline_children(node: SyntaxTreeNode) -> list[SyntaxTreeNode]:
    return [grandchild for child in node.children for grandchild in child.children]


def _inline(nodes: Sequence[SyntaxTreeNode], *, styled: bool = True) -> str:
    out: list[str] = []
    for node in nodes:
        kind = node.type
        if kind in ("softbreak", "hardbreak"):
            out.append("\n")
        elif kind == "code_inline":
            out.append(_code_span(node.content))
        elif kind in ("em", "strong", "s"):
            inner = _inline(node.children, styled=styled)
            mark = {"em": "_", "strong": "*", "s": "~"}[kind]
            out.append(_wrap(inner, mark) if styled else inner)
        elif kind == "link":
            out.append(link(str(node.attrs.get("href", "")), _plain(node.children)))
        elif kind == "image":
            out.append(link(str(node.attrs.get("src", "")), _plain(node.children)))
        elif node.children:
            out.append(_inline(node.children, styled=styled))
        else:  # text, html_inline: shown as written
            out.append(escape(node.content))
    return "".join(out)


def _plain(nodes: Sequence[SyntaxTreeNode]) -> str:
    parts: list[str] = []
    for node in nodes:
        if node.type in ("softbreak", "hardbreak"):
            parts.append(" ")
        elif node.children:
            parts.append(_plain(node.children))
        else:
            parts.append(node.content)
    return "".join(parts)


def _wrap(inner: str, mark: str) -> str:
    """`inner` between `mark`s, line by line: Slack styles never span a line break."""
    lines = []
    for line in inner.split("\n"):
        core = line.strip()
        if not core or (core.startswith(mark) and core.endswith(mark) and len(core) > 1):
            lines.append(line)  # nothing to style, or already styled the same way
            continue
        lead = line[: len(line) - len(line.lstrip())]
        trail = line[len(line.rstrip()) :]
        lines.append(f"{lead}{mark}{core}{mark}{trail}")
    return "\n".join(lines)


def _code_span(content: str) -> str:
    if not content.strip():
        return escape(content)
    # Slack code spans cannot hold a backtick; a look-alike keeps the code readable.
    return f"`{escape(content).replace('`', _GRAVE)}`"


def _code_block(content: str) -> str:
    body = content.strip("\n")
    if not body.strip():
        return ""
    return f"{FENCE}\n{escape(body)}\n{FENCE}"


def _list(node: SyntaxTreeNode) -> str:
    ordered = node.type == "ordered_list"
    number = int(node.attrs.get("start", 1)) if ordered else 0
    lines: list[str] = []
    for item in node.children:
        marker = f"{number}. " if ordered else "• "
        body = "\n".join(c.text for c in _blocks(item.children) if c.text.strip())
        first, *rest = body.split("\n")
        lines.append(marker + first)
        lines.extend(_INDENT + line if line.strip() else "" for line in rest)
        number += 1
    return "\n".join(lines)


def _table(node: SyntaxTreeNode) -> str:
    """A table as aligned columns in a code block: mrkdwn has no tables."""
    rows: list[list[str]] = []
    for section in node.children:
        for row in section.children:
            rows.append([collapse(_plain(_inline_children(cell))) for cell in row.children])
    if not rows:
        return ""
    columns = max(len(row) for row in rows)
    rows = [row + [""] * (columns - len(row)) for row in rows]
    widths = [min(40, max(len(row[i]) for row in rows)) for i in range(columns)]
    lines = [
        " | ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows
    ]
    lines.insert(1, "-+-".join("-" * width for width in widths))
    return _code_block("\n".join(lines))
