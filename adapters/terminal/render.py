"""Answer -> terminal: rich renderables for a terminal, plain lines for pipes and files.

Everything the agent wrote is untrusted. `clean` strips terminal control sequences from it
(an agent could otherwise move the cursor, retitle the window or hide text), and agent text
only ever reaches rich as `Markdown` or `Text` objects, so rich markup such as `[red]` in
it is shown as written, never interpreted.
"""

from __future__ import annotations

from typing import ClassVar

from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.markdown import Heading, Markdown, MarkdownElement
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

from bot.domain import Answer, AnswerKind, Artifact
from bot.replies import SESSION_RESTARTED
from bot.safety import CONTROLS, ESCAPE_SEQUENCES

# Escape sequences as a whole, then any control character left (see bot.safety).
_SEQUENCES, _CONTROLS = ESCAPE_SEQUENCES, CONTROLS

CODE_THEME = "monokai"
EMPTY = "(the agent sent an empty answer)"


def clean(text: str) -> str:
    """Text fit for a terminal: control sequences and control characters removed.

    Carriage returns go too (a lone one would overwrite the line); CRLF becomes LF first.
    """
    text = text.replace("\r\n", "\n")
    return _CONTROLS.sub("", _SEQUENCES.sub("", text))


# -- plain text: pipes, files, NO_COLOR-free scripts --------------------------------------


def plain(answer: Answer) -> str:
    """Everything the answer holds, as lines a person (or a script) reads top to bottom."""
    if answer.kind is AnswerKind.HINT:
        return f"(hint) {clean(answer.text)}"
    if answer.kind is AnswerKind.ERROR:
        return f"(error) {clean(answer.text)}"
    parts: list[str] = []
    if answer.session_restarted:
        parts.append(SESSION_RESTARTED.strip("_"))
    parts.append(clean(answer.text).strip() or EMPTY)
    extras = plain_extras(answer)
    return "\n\n".join(parts + ([extras] if extras else []))


def plain_extras(answer: Answer) -> str:
    """Sources, files, actions and follow-ups: what comes under the text."""
    parts: list[str] = []
    if answer.sources:
        lines = ["Sources:"]
        for i, source in enumerate(answer.sources, 1):
            url = f" <{clean(source.url)}>" if source.url else ""
            lines.append(f"  [{i}] {_line(source.title)}{url}")
        parts.append("\n".join(lines))
    if answer.artifacts:
        lines = ["Files:"]
        for artifact in answer.artifacts:
            lines.append(f"  - {_line(artifact.filename)} ({_where(artifact)})")
        parts.append("\n".join(lines))
    if answer.actions:
        lines = ["Actions (type a1, a2, ... to ask the agent to do one):"]
        for i, action in enumerate(answer.actions, 1):
            url = f" <{clean(action.url)}>" if action.url else ""
            lines.append(f"  a{i}) {_line(action.label)}{url}")
        parts.append("\n".join(lines))
    if answer.follow_ups:
        lines = ["Follow-ups (type a number to ask one):"]
        for i, question in enumerate(answer.follow_ups, 1):
            lines.append(f"  {i}) {_line(question)}")
        parts.append("\n".join(lines))
    return "\n\n".join(parts)


def _line(text: str) -> str:
    """One line of agent text: cleaned, newlines folded, so a list item stays one item."""
    return " ".join(clean(text).split())


def _where(artifact: Artifact) -> str:
    if artifact.storage_url:
        return clean(artifact.storage_url)
    return f"{len(artifact.content or '')} characters of text"


# -- rich: a terminal ---------------------------------------------------------------------


class _LeftHeading(Heading):
    """Headings flush left and without a box, as in a chat: rich centres h1 for documents."""

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        text = self.text.copy()
        text.justify = "left"
        yield text


class _ChatMarkdown(Markdown):
    elements: ClassVar[dict[str, type[MarkdownElement]]] = {
        **Markdown.elements,
        "heading_open": _LeftHeading,
    }


def markdown(text: str) -> Markdown:
    """Agent Markdown for rich: links show their URL in the text, code gets colours."""
    # hyperlinks=False writes "text (url)": the reader sees where a link goes, even in a
    # terminal without OSC 8 support, and a link cannot hide its target behind its text.
    return _ChatMarkdown(clean(text), code_theme=CODE_THEME, hyperlinks=False)


def answer_view(answer: Answer) -> RenderableType:
    """The whole answer: a hint or error line, or the Markdown text and its extras."""
    if answer.kind is AnswerKind.HINT:
        return notice(answer.text, style="yellow")
    if answer.kind is AnswerKind.ERROR:
        return Group(Text("error", style="bold red"), markdown(answer.text))
    parts: list[RenderableType] = []
    if answer.session_restarted:
        parts.append(Text(SESSION_RESTARTED.strip("_"), style="italic dim"))
    parts.append(markdown(answer.text) if answer.text.strip() else Text(EMPTY, style="dim"))
    extras = extras_view(answer)
    if extras is not None:
        parts.extend([Text(""), extras])
    return Group(*parts)


def extras_view(answer: Answer) -> RenderableType | None:
    """Sources, files, actions and follow-ups as one aligned block under a thin rule."""
    table = Table.grid(padding=(0, 1))
    table.add_column(style="bold", no_wrap=True, min_width=len("Follow-ups"))
    table.add_column(justify="right", style="cyan", no_wrap=True)
    table.add_column()
    for i, source in enumerate(answer.sources, 1):
        table.add_row("Sources" if i == 1 else "", f"[{i}]", _titled(source.title, source.url))
    for i, artifact in enumerate(answer.artifacts, 1):
        where = _where(artifact)
        label = Text(_line(artifact.filename)) + Text(f"  {where}", style="dim")
        table.add_row("Files" if i == 1 else "", "-", label)
    for i, action in enumerate(answer.actions, 1):
        table.add_row("Actions" if i == 1 else "", f"a{i}", _titled(action.label, action.url))
    for i, question in enumerate(answer.follow_ups, 1):
        table.add_row("Follow-ups" if i == 1 else "", str(i), Text(_line(question)))
    if not table.row_count:
        return None
    parts: list[RenderableType] = [Rule(style="dim"), table]
    if tip := choice_tip(answer):
        parts.append(Text(tip, style="dim"))
    return Group(*parts)


def choice_tip(answer: Answer) -> str:
    """How to pick what the answer offers, e.g. "Type 1-3 to ask a follow-up, a1-a3 ..."."""
    tips = []
    if answer.follow_ups:
        tips.append(f"{_span('', len(answer.follow_ups))} to ask a follow-up")
    if answer.actions:
        tips.append(f"{_span('a', len(answer.actions))} to ask the agent to do an action")
    return "Type " + ", ".join(tips) + "." if tips else ""


def _span(prefix: str, count: int) -> str:
    return f"{prefix}1" if count == 1 else f"{prefix}1-{prefix}{count}"


def _titled(title: str, url: str | None) -> Text:
    text = Text(_line(title))
    if url:
        text.append(f"  {clean(url)}", style="blue underline")
    return text


def notice(text: str, *, style: str = "dim") -> Text:
    """A line of the chat's own (a hint, "Started a new conversation."), never markup."""
    return Text(clean(text), style=style)
