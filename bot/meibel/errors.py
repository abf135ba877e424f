"""Typed Meibel errors. Their text never contains the API key."""

from __future__ import annotations


class MeibelError(Exception):
    """Any failure talking to Meibel."""

    code = "meibel_error"

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class MeibelAuthError(MeibelError):
    """401/403: the API key is missing, wrong or lacks access."""

    code = "meibel_auth"


class MeibelNotFound(MeibelError):
    """404: the session (or agent) does not exist (any more)."""

    code = "meibel_not_found"


class MeibelSessionGone(MeibelNotFound):
    """404 on chat: the session vanished; start a new one."""

    code = "meibel_session_gone"


class MeibelAgentNotFound(MeibelNotFound):
    """404 on session start: no such agent, or no published version."""

    code = "meibel_agent_not_found"


class MeibelInvalidRequest(MeibelError):
    """422 (or another 4xx): Meibel refused the request; `detail` says why."""

    code = "meibel_invalid_request"

    def __init__(self, message: str, *, status: int | None = None, detail: str = "") -> None:
        super().__init__(message, status=status)
        self.detail = detail


class MeibelRateLimited(MeibelError):
    """429 after every retry; `retry_after` is what the server asked for, in seconds."""

    code = "meibel_rate_limited"

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message, status=429)
        self.retry_after = retry_after


class MeibelServerError(MeibelError):
    """A 5xx answer: 503 after every retry (the turn was not taken), or another 5xx to a
    call that is not a chat turn."""

    code = "meibel_server_error"


class MeibelUnavailable(MeibelError):
    """Meibel could not be reached: no byte of the request was sent (refused, DNS, TLS,
    connect timeout), so the request certainly did not arrive."""

    code = "meibel_unavailable"


class MeibelTimeout(MeibelError):
    """Meibel did not answer within the time allowed."""

    code = "meibel_timeout"


class MeibelProtocolError(MeibelError):
    """Meibel answered something that does not follow the contract."""

    code = "meibel_protocol"


class MeibelTurnUncertain(MeibelError):
    """A chat turn was sent and its outcome is unknown: it may have reached the agent.

    Raised for a timeout or a dropped connection after the request was sent, a 5xx other
    than 503 (or a 408), and a stream cut after Meibel accepted it. Never retried: an agent
    turn can act in the world, so only the session itself can say what happened (see
    bot.meibel.turns). `reason` is "dropped", "timed_out", "server_error" or "stream_cut".
    """

    code = "meibel_turn_uncertain"

    def __init__(self, message: str, *, status: int | None = None, reason: str) -> None:
        super().__init__(message, status=status)
        self.reason = reason


class MeibelStreamingUnsupported(MeibelError):
    """501 on /chat/stream: this Meibel does not stream; use /chat (the turn was not taken)."""

    code = "meibel_stream_unsupported"


def turn_not_taken(exc: MeibelError) -> bool:
    """Whether Meibel said it did not take the turn (429, 503, refused, or no streaming).

    Only then may the same turn be sent again; every other failure of a sent turn is
    MeibelTurnUncertain, or a refusal (4xx) that sending again would not change.
    """
    if isinstance(exc, MeibelRateLimited | MeibelUnavailable | MeibelStreamingUnsupported):
        return True
    return isinstance(exc, MeibelServerError) and exc.status == 503
