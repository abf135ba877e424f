"""Deterministic agent answers that exercise every field of the chat contract.

The content depends only on (question, turn): two runs of a test see the same text, and two
turns of one session are told apart by the quoted question and the turn number. Only the
signal id (unique per call) and timestamps vary.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime
from typing import Any

from bot.context import split_context
from bot.meibel.models import (
    Artifact,
    CallToAction,
    ChatMessageResponse,
    ChatResponse,
    Source,
    ToolActivity,
)

DOCS_URL = "https://docs.meibel.ai"
TOOL_NAME = "search_knowledge_base"


def now_iso() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def new_signal_id() -> str:
    # Random on purpose: a bot that dedupes on signal ids across restarts must never see a
    # restarted dev server hand out the same id twice.
    return f"sig_{uuid.uuid4().hex}"


def _digest(question: str, turn: int) -> str:
    return hashlib.sha256(f"{turn}\x00{question}".encode()).hexdigest()[:12]


def topic_of(question: str) -> str:
    """A short, single-line label for the question, used in headings and follow-ups."""
    words = question.split()
    topic = " ".join(words[:6])
    if len(words) > 6:
        topic += " ..."
    # Follow-ups wrap the topic in a question of their own; "??" would look broken.
    return topic.rstrip("?!.,;: ") or "your question"


def answer_markdown(message: str, turn: int) -> str:
    """The answer text: Markdown with a heading, bold, a list, a code block and a link.

    A message with a thread context preamble (bot.context) is answered as its question, and
    the answer says how many earlier messages it read."""
    context, question = split_context(message)
    topic = topic_of(question)
    read = f"- I read {len(context)} earlier message(s) of the thread.\n" if context else ""
    return (
        f"## Answer {turn}: {topic}\n"
        "\n"
        f'You asked: "{question}"\n'
        "\n"
        f"This is turn **{turn}** of this session, answered by the **Meibel dev server**.\n"
        "\n"
        f"- The question has {len(question.split())} word(s).\n"
        f"{read}"
        "- Sources, follow-up questions and actions come with this answer.\n"
        "- Nothing here was produced by a real model.\n"
        "\n"
        "```python\n"
        f"print({f'turn {turn}'!r})\n"
        "```\n"
        "\n"
        f"Read more in the [Meibel docs]({DOCS_URL})."
    )


def sources_for(question: str, turn: int) -> list[Source]:
    digest = _digest(question, turn)
    return [
        Source(
            title="Meibel documentation: Sessions",
            url=f"{DOCS_URL}/sessions",
            snippet="A session keeps the conversation with one agent.",
            data_element_id=f"de_{digest}_1",
            relevance_score=0.92,
        ),
        # No URL: internal documents exist, and renderers must cope without a link.
        Source(
            title="Internal handbook (no link)",
            url=None,
            snippet=f"Turn {turn} of the session.",
            data_element_id=f"de_{digest}_2",
            relevance_score=0.71,
        ),
        Source(title="Meibel changelog", url=f"{DOCS_URL}/changelog"),
    ]


def follow_ups_for(question: str, turn: int) -> list[str]:
    topic = topic_of(question)
    return [
        f"Can you explain {topic} in more detail?",
        f"What should I do next about {topic}?",
        f"Where is turn {turn} documented?",
    ]


def call_to_actions_for(question: str, turn: int) -> list[CallToAction]:
    return [
        CallToAction(label="Open the docs", action="open_url", action_data={"url": DOCS_URL}),
        # Data but no URL: the bot must route it elsewhere, not render a link button.
        CallToAction(
            label="Create a ticket",
            action="create_ticket",
            action_data={"queue": "support", "summary": question[:80], "turn": turn},
        ),
        CallToAction(label="Talk to a human", action="escalate", action_data=None),
    ]


def artifact_for(message: str, turn: int) -> Artifact:
    _, question = split_context(message)  # a summary of the question, as the answer is
    content = f"# Summary of turn {turn}\n\nQuestion: {question}\n"
    return Artifact(
        artifact_id=f"art_{_digest(message, turn)}",
        filename=f"answer-turn-{turn}.md",
        mime_type="text/markdown",
        content=content,
        storage_url=None,
        size_bytes=len(content.encode()),
        created_at=now_iso(),
    )


def tool_activity_for(question: str, turn: int) -> ToolActivity:
    return ToolActivity(
        tool_id=f"tool_{_digest(question, turn)}",
        tool_name=TOOL_NAME,
        arguments={"query": question, "top_k": 3},
        result={"hits": 3, "turn": turn},
        timestamp=now_iso(),
    )


def citations_for(question: str, turn: int) -> list[dict[str, Any]]:
    """The stream's `citations` (not in the /chat spec; shape unconfirmed, kept simple)."""
    return [
        {"source_index": index, "title": source.title, "url": source.url}
        for index, source in enumerate(sources_for(question, turn)[:2])
    ]


def build_chat_response(
    question: str,
    turn: int,
    *,
    include_thinking: bool | None,
    include_tool_activity: bool | None,
    signal_id: str | None = None,
) -> ChatMessageResponse:
    """The full non-streaming answer, validated by the wire model."""
    message = answer_markdown(question, turn)
    words_in = len(question.split())
    words_out = len(message.split())
    return ChatMessageResponse(
        signal_id=signal_id or new_signal_id(),
        response=ChatResponse(
            message=message,
            sources=sources_for(question, turn),
            follow_up_questions=follow_ups_for(question, turn),
            call_to_actions=call_to_actions_for(question, turn),
            artifacts=[artifact_for(question, turn)],
        ),
        assistant_response=message,
        tool_activity=[tool_activity_for(question, turn)] if include_tool_activity else None,
        thinking=(
            f"The user asked about {topic_of(question)} on turn {turn}."
            if include_thinking
            else None
        ),
        token_usage={
            "input_tokens": words_in,
            "output_tokens": words_out,
            "total_tokens": words_in + words_out,
        },
    )


def split_chunks(text: str, parts: int = 6) -> list[str]:
    """Split text into about `parts` pieces at spaces; joined, they give the text back."""
    if not text:
        return [""]
    size = max(1, -(-len(text) // parts))
    chunks: list[str] = []
    start = 0
    while start < len(text):
        end = min(len(text), start + size)
        if end < len(text):
            space = text.find(" ", end)
            end = len(text) if space == -1 else space + 1
        chunks.append(text[start:end])
        start = end
    return chunks
