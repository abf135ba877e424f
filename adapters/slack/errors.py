"""Telling Slack's refusals apart, without ever touching the request (which holds a token)."""

from __future__ import annotations

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError

NOT_A_MEMBER = frozenset({"not_in_channel", "channel_not_found", "is_archived"})
# Failures of a call that never got a Slack answer (connection lost, timed out).
TRANSPORT_ERRORS = (SlackClientError, aiohttp.ClientError, TimeoutError)


def slack_error(exc: SlackApiError) -> str:
    """The error code of a refused call (never the request, which may hold a token)."""
    data = getattr(exc.response, "data", None)
    return str(data.get("error") or "unknown") if isinstance(data, dict) else "unknown"
