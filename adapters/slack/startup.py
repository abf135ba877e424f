"""Before `meibel-bot slack` serves: Slack must accept the tokens (else exit 2 at once),
and must answer at all (a few tries, else exit 1)."""

from __future__ import annotations

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.errors import TRANSPORT_ERRORS, slack_error
from adapters.slack.settings import SlackSettings
from bot.startup import PlatformRefused, StartRetries, reach

# What Slack answers when a token is wrong, revoked or of the wrong kind: retrying cannot help.
REFUSALS = frozenset(
    {
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "token_expired",
        "not_allowed_token_type",
    }
)
WHERE = {
    "SLACK_BOT_TOKEN": "copy the Bot User OAuth Token (xoxb-...) from OAuth & Permissions",
    "SLACK_APP_TOKEN": "make an app-level token (xapp-...) with connections:write under "
    "Basic Information -> App-Level Tokens",
}


async def verify_slack(settings: SlackSettings, *, retries: StartRetries) -> None:
    """auth.test with the bot token and, in Socket Mode, apps.connections.open with the app
    token: PlatformRefused names the variable Slack refused, PlatformUnreachable says Slack
    could not be reached."""
    await _call(settings, "SLACK_BOT_TOKEN", settings.bot_token, "auth.test", retries)
    if settings.socket_mode:
        await _call(
            settings, "SLACK_APP_TOKEN", settings.app_token, "apps.connections.open", retries
        )


async def _call(
    settings: SlackSettings, variable: str, token: str, method: str, retries: StartRetries
) -> None:
    # No retry handlers of its own: `reach` tries again, one log line per try.
    client = AsyncWebClient(
        token=token, base_url=settings.slack_api_url, timeout=10, retry_handlers=[]
    )

    async def attempt() -> None:
        try:
            await client.api_call(method)
        except SlackApiError as exc:
            error = slack_error(exc)
            if error in REFUSALS:
                raise PlatformRefused(
                    f"Slack refused {variable} ({method}: {error}): {WHERE[variable]}."
                ) from None
            raise

    await reach(
        attempt,
        what=f"Slack at {settings.slack_api_url}",
        retries=retries,
        unreachable=TRANSPORT_ERRORS,
    )
