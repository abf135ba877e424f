"""Keeping Discord's secrets out of the logs: the bot token, and interaction tokens.

An interaction token sits in the path of every follow-up and callback URL, and discord.py
logs such URLs (at DEBUG, and in its rate-limit WARNING). Whoever holds one can post as
the bot for 15 minutes, so the path segment is replaced before any handler writes it.
"""

from __future__ import annotations

import logging
import re

from bot.logs import RedactSecrets

_TOKEN_IN_PATH = re.compile(r"(/(?:webhooks|interactions)/\d+/)[A-Za-z0-9_.\-]{20,}")


class RedactInteractionTokens(logging.Filter):
    """Replaces the token in webhook and interaction URLs of a record's message."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = _TOKEN_IN_PATH.sub(r"\1[redacted]", message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def redact_discord_secrets(token: str) -> None:
    """Install both filters on every handler of the root logger, whoever configured it."""
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactSecrets([token]))
        handler.addFilter(RedactInteractionTokens())
