"""`meibel-bot check`: what is set, what is missing, and whether each service answers."""

from __future__ import annotations

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
