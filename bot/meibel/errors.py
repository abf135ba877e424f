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
    """5xx after every retry."""

    code = "meibel_server_error"


class MeibelUnavailable(MeibelError):
    """Meibel could not be reached at all (connection refused, DNS, TLS)."""

    code = "meibel_unavailable"


class MeibelTimeout(MeibelError):
    """Meibel did not answer within the time allowed."""

    code = "meibel_timeout"


class MeibelProtocolError(MeibelError):
    """Meibel answered something that does not follow the contract."""

    code = "meibel_protocol"
