"""What the user reads when the bot cannot give a real answer. Never a trace, never a secret."""

from __future__ import annotations

import dataclasses

from bot.domain import Answer, AnswerKind
from bot.meibel.errors import (
    MeibelAgentNotFound,
    MeibelAuthError,
    MeibelError,
    MeibelInvalidRequest,
    MeibelRateLimited,
    MeibelTimeout,
    MeibelTurnUncertain,
)

EMPTY_QUESTION = (
    "Please add a question, for example: *How do I reset my password?* "
    "I'll answer here, and you can keep asking follow-ups in this thread."
)
SESSION_RESTARTED = "_I had to start a new conversation with the agent; earlier context is lost._"


def hint(text: str = EMPTY_QUESTION) -> Answer:
    return Answer(text=text, kind=AnswerKind.HINT)


def too_long(length: int, limit: int) -> Answer:
    return Answer(
        text=(
            f"Your question is {length:,} characters long; the limit is {limit:,}. "
            "Please shorten it and ask again."
        ),
        kind=AnswerKind.HINT,
        error_code="question_too_long",
    )


def failure(code: str, text: str) -> Answer:
    return Answer(text=text, kind=AnswerKind.ERROR, error_code=code)


def for_meibel_error(exc: MeibelError, *, timeout_seconds: int) -> Answer:
    """Say what happened and what to do, in words a user can act on."""
    if isinstance(exc, MeibelTurnUncertain):
        # Reached only when no one asked the session (the pipeline always does).
        return TURN_UNCERTAIN
    if isinstance(exc, MeibelAuthError):
        text = (
            "I can't reach the Meibel agent: my Meibel API key was refused. "
            "Please tell an admin (they can run `meibel-bot check`)."
        )
    elif isinstance(exc, MeibelAgentNotFound):
        text = (
            "The Meibel agent set up for this place was not found or has no published "
            "version. Please tell an admin (they can run `meibel-bot check`)."
        )
    elif isinstance(exc, MeibelRateLimited):
        text = (
            "The Meibel agent is getting too many requests right now. Please try again in a minute."
        )
    elif isinstance(exc, MeibelTimeout):
        text = (
            f"The agent took longer than {timeout_seconds} seconds to answer, so I stopped "
            "waiting. Please try again, perhaps with a narrower question."
        )
    elif isinstance(exc, MeibelInvalidRequest):
        text = (
            "Meibel could not accept this message"
            + (f" ({exc.detail})" if exc.detail else "")
            + ". Please rephrase it; if this keeps happening, tell an admin."
        )
    else:
        text = (
            "The Meibel agent is unavailable right now. Please try again in a few minutes; "
            "if this keeps happening, tell an admin."
        )
    return failure(exc.code, text)


STORE_UNAVAILABLE = failure(
    "store_unavailable",
    "I can't reach my conversation store right now, so I can't answer. "
    "Please try again in a minute; if this keeps happening, tell an admin.",
)
THREAD_BUSY = failure(
    "thread_busy",
    "I'm still working on an earlier message in this thread. "
    "Please try again when that answer has arrived.",
)
INTERNAL = failure(
    "internal",
    "Something went wrong on my side while answering. Please try again; "
    "if this keeps happening, tell an admin.",
)


def cut_off(text: str, *, session_restarted: bool = False) -> Answer:
    """The text the user already saw, kept, with a line saying the rest did not come."""
    return Answer(
        text=text.rstrip()
        + "\n\n_The answer was cut off: the agent's stream broke. Ask again for the rest._",
        session_restarted=session_restarted,
        error_code="stream_cut_off",
    )


TURN_UNCERTAIN = failure(
    "turn_uncertain",
    "I lost the connection to the agent while it was answering. "
    "The agent may still be working on this; ask again if nothing arrives.",
)


def turn_uncertain(*, session_restarted: bool = False) -> Answer:
    """Nothing could establish what became of a sent turn (kind ERROR, `turn_uncertain`).

    Never followed by a silent re-send: the user decides (the adapters add a Try again
    button to ERROR answers, and keep any text already shown above this notice).
    """
    return dataclasses.replace(TURN_UNCERTAIN, session_restarted=session_restarted)


ANSWER_CUT = "_This answer was longer than {limit:,} characters, so it was cut here._"


def capped(answer: Answer, limit: int, *, cut: bool = False) -> Answer:
    """The answer cut to `limit` characters, with a short note saying so (also when `cut`
    says the text was already cut on the way in)."""
    if len(answer.text) <= limit and not cut:
        return answer
    return with_note(
        dataclasses.replace(answer, text=answer.text[:limit]), ANSWER_CUT.format(limit=limit)
    )


FILES_NOT_SENT = (
    "_Your attached files could not be sent to the agent this time; "
    "the answer is based on your text only._"
)


def with_note(answer: Answer, note: str) -> Answer:
    """The same answer with a short note under its text."""
    return dataclasses.replace(answer, text=f"{answer.text.rstrip()}\n\n{note}")
