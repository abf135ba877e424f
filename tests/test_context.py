"""Thread context as the agent reads it: delimited, within limits, the question last."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bot.context import (
    CLOSE,
    OPEN,
    ContextLimits,
    Said,
    ends_with_question,
    split_context,
    with_context,
)

texts = st.text(min_size=1, max_size=200).filter(lambda t: t.strip())
saids = st.lists(
    st.builds(Said, speaker=st.text(max_size=30), text=st.text(max_size=300)), max_size=50
)
limits = st.builds(ContextLimits, max_messages=st.integers(0, 40), max_chars=st.integers(0, 3000))


@given(question=texts, said=saids, limit=limits)
def test_the_question_comes_last_and_the_context_keeps_its_limits(
    question: str, said: list[Said], limit: ContextLimits
) -> None:
    message = with_context(question, said, limit)
    lines, asked = split_context(message)
    assert asked == question
    assert len(lines) <= limit.max_messages
    assert len("\n".join(lines)) <= limit.max_chars
    assert ends_with_question(message, question)
    # nobody's message can close the preamble early or open another
    assert message.count(CLOSE) == (1 if lines else 0)
    assert message.count(OPEN) == (1 if lines else 0) + question.count(OPEN)


def test_the_most_recent_messages_are_kept_and_marked() -> None:
    said = [Said("Ann", f"message {n}") for n in range(5)] + [Said("x", "hi", by_bot=True)]
    lines, _ = split_context(with_context("q", said, ContextLimits(max_messages=3)))
    assert lines == ["[Ann]: message 3", "[Ann]: message 4", "[Meibel (you)]: hi"]


def test_a_different_question_after_the_same_context_is_not_ours() -> None:
    message = with_context("refund order 42", [Said("Ann", "hi")], ContextLimits())
    assert not ends_with_question(message, "order 42")
    assert not ends_with_question("refund order 42", "order 42")
    assert ends_with_question("refund  order\n42", "refund order 42")
