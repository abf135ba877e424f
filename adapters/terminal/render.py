"""Answer -> plain terminal text: the answer, numbered sources, numbered follow-ups."""

from __future__ import annotations

from bot.domain import Answer, AnswerKind
from bot.replies import SESSION_RESTARTED


def render(answer: Answer) -> str:
    """Everything the answer holds, as lines a person reads top to bottom."""
    if answer.kind is AnswerKind.HINT:
        return f"(hint) {answer.text}"
    if answer.kind is AnswerKind.ERROR:
        return f"(error) {answer.text}"
    parts: list[str] = []
    if answer.session_restarted:
        parts.append(SESSION_RESTARTED.strip("_"))
    parts.append(answer.text.strip() or "(the agent sent an empty answer)")
    extras = render_extras(answer)
    return "\n\n".join(parts + ([extras] if extras else []))


def render_extras(answer: Answer) -> str:
    """Sources, files, actions and follow-ups: what comes under the text."""
    parts: list[str] = []
    if answer.sources:
        lines = ["Sources:"]
        for i, source in enumerate(answer.sources, 1):
            lines.append(f"  [{i}] {source.title}" + (f" <{source.url}>" if source.url else ""))
        parts.append("\n".join(lines))
    if answer.artifacts:
        lines = ["Files:"]
        for artifact in answer.artifacts:
            where = artifact.storage_url or f"{len(artifact.content or '')} characters of text"
            lines.append(f"  - {artifact.filename} ({where})")
        parts.append("\n".join(lines))
    if answer.actions:
        lines = ["Actions (type a1, a2, ... to ask the agent to do one):"]
        for i, action in enumerate(answer.actions, 1):
            lines.append(f"  a{i}) {action.label}" + (f" <{action.url}>" if action.url else ""))
        parts.append("\n".join(lines))
    if answer.follow_ups:
        lines = ["Follow-ups (type a number to ask one):"]
        for i, question in enumerate(answer.follow_ups, 1):
            lines.append(f"  {i}) {question}")
        parts.append("\n".join(lines))
    return "\n\n".join(parts)
