"""The Slack Web API client every Slack call goes through: fenced, and bounded in time.

Every Web API method of slack_sdk's AsyncWebClient ends in `api_call`, so this one place
does two things for all of them:

- a method that changes what users see (chat.*, reactions.*, files.*, assistant.threads.*,
  views.*) first runs `bot.work.fence.guard()`: a job run that lost its job to another
  worker raises FenceLost there, before Slack hears anything (outside a job it is a no-op);
- every call first waits for its share of Slack's rate limits (ratelimits.py), or is
  skipped where the caller said it may be (`ratelimits.optional`);
- every call, its retries and its Retry-After waits included, ends within `call_seconds`,
  and never after the job run's deadline (TimeoutError, which the callers already treat
  as a lost connection).
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from adapters.deadline import call_bound
from adapters.slack.ratelimits import Budgets, call_args
from bot.work.fence import guard

# Methods whose effect a user can see; files.upload_v2 is files.getUploadURLExternal, an
# upload to the URL it gives, then files.completeUploadExternal (which shows the file).
VISIBLE = ("chat.", "reactions.", "files.", "assistant.threads.", "views.")
# One call, retries included. Slack answers in well under a second; a call this slow is a
# call that will not answer, and the job has better things to do with its deadline.
CALL_SECONDS = 20.0
CONNECT_SECONDS = 10.0


def session_timeout(call_seconds: float = CALL_SECONDS) -> aiohttp.ClientTimeout:
    """The timeout of one HTTP attempt. A client with its own session uses the session's
    timeout, not AsyncWebClient's `timeout` (aiohttp's default is five minutes)."""
    return aiohttp.ClientTimeout(total=call_seconds, sock_connect=CONNECT_SECONDS)


class SlackClient(AsyncWebClient):
    """AsyncWebClient with the pacing, the fence check and the time bound above; without
    `budgets` calls are not paced."""

    def __init__(
        self,
        *,
        call_seconds: float = CALL_SECONDS,
        budgets: Budgets | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("timeout", int(call_seconds))
        super().__init__(**kwargs)
        self.call_seconds = call_seconds
        self.budgets = budgets

    async def api_call(self, api_method: str, **kwargs: Any) -> AsyncSlackResponse:
        visible = api_method.startswith(VISIBLE)
        if visible:
            await guard()  # a run that lost its job spends no budget
        if self.budgets is not None:
            waited = await self.budgets.take(api_method, call_args(kwargs))
            if visible and waited:
                await guard()  # nor speaks after waiting, if it lost its job meanwhile
        async with asyncio.timeout(call_bound(self.call_seconds)):
            return await super().api_call(api_method, **kwargs)
