"""Logging set-up with a last line of defence: known secrets never reach a log line."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

# Token shapes that must never be logged, whatever code logs them.
_TOKEN_PATTERNS = re.compile(r"xox[abpers]-[A-Za-z0-9-]{8,}|xapp-[A-Za-z0-9-]{8,}")


class RedactSecrets(logging.Filter):
    """Replaces every known secret (and Slack-token-shaped text) in a record's message."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self._secrets = sorted({s for s in secrets if s and len(s) >= 6}, key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = _TOKEN_PATTERNS.sub("[redacted]", message)
        for secret in self._secrets:
            cleaned = cleaned.replace(secret, "[redacted]")
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_info[1] is not None:
            text = logging.Formatter().formatException(record.exc_info)
            for secret in self._secrets:
                text = text.replace(secret, "[redacted]")
            record.exc_text, record.exc_info = _TOKEN_PATTERNS.sub("[redacted]", text), None
        return True


def configure_logging(level: str = "INFO", *, secrets: Iterable[str] = ()) -> None:
    """Log to stderr with thread keys in messages; install the redaction on every handler."""
    root = logging.getLogger()
    root.setLevel(level)
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactSecrets(secrets))
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    # httpx logs every request URL at INFO; the URLs carry no secrets, but the noise hides
    # what matters.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, root.level))
