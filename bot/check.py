"""`meibel-bot check`: what is set, what is missing, and whether each service answers."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import Enum


class Status(Enum):
    INFO = "-"
    OK = "ok"
    WARN = "warn"
    FAIL = "FAIL"


@dataclass(slots=True)
class CheckReport:
    """Lines an admin reads top to bottom; any FAIL makes `check` exit non-zero."""

    lines: list[tuple[Status, str]] = field(default_factory=list)

    def info(self, text: str) -> None:
        """A fact to show (a setting's value), neither good nor bad."""
        self.lines.append((Status.INFO, text))

    def ok(self, text: str) -> None:
        self.lines.append((Status.OK, text))

    def warn(self, text: str) -> None:
        self.lines.append((Status.WARN, text))

    def fail(self, text: str) -> None:
        self.lines.append((Status.FAIL, text))

    def section(self, title: str) -> None:
        self.lines.append((Status.OK, f"== {title}"))

    @property
    def failed(self) -> bool:
        return any(status is Status.FAIL for status, _ in self.lines)

    def render(self) -> str:
        out = []
        for status, text in self.lines:
            out.append(text if text.startswith("== ") else f"  [{status.value:>4}] {text}")
        return "\n".join(out)


def mask(secret: str | None) -> str:
    """Show that a secret is set, and which one, without showing it."""
    if not secret:
        return "(not set)"
    if len(secret) <= 8:
        return "****"
    return f"{secret[:4]}… ({len(secret)} chars)"


def as_written(names: Iterable[str], *, env_file: str = ".env") -> dict[str, str]:
    """Each setting's text as the user wrote it (the environment first, then `.env`, as
    the settings read them), keyed by its upper-case name; unset ones are left out."""
    from dotenv import dotenv_values

    wanted = {name.upper() for name in names}
    written: dict[str, str] = {}
    if os.path.exists(env_file):
        for key, value in dotenv_values(env_file).items():
            if key.upper() in wanted and value is not None:
                written[key.upper()] = value
    for key, value in os.environ.items():
        if key.upper() in wanted:
            written[key.upper()] = value
    return written


def need(needed: bool, why: str) -> str:
    """The label beside a setting: `(needed: why)` or `(not needed: why)`."""
    return f"({'needed' if needed else 'not needed'}: {why})"
