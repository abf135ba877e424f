"""Which attached files go to the agent, and the note that names the ones that do not.

Adapters fetch files from their platform; this module keeps the limits and the wording the
same everywhere, so no file is ever dropped without the user being told.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Candidate:
    """A file attached to a question, before it is fetched."""

    filename: str
    size_bytes: int | None
    mime_type: str = "application/octet-stream"


@dataclass(frozen=True, slots=True)
class AttachmentPolicy:
    max_bytes: int = 10 * 1024 * 1024
    max_count: int = 5

    @classmethod
    def from_megabytes(cls, megabytes: float, max_count: int) -> AttachmentPolicy:
        return cls(max_bytes=int(megabytes * 1024 * 1024), max_count=max_count)

    def select(self, files: Sequence[Candidate]) -> tuple[list[Candidate], list[str]]:
        """The files to fetch, and one reason per file left out (filename first)."""
        accepted: list[Candidate] = []
        skipped: list[str] = []
        for candidate in files:
            if candidate.size_bytes is not None and candidate.size_bytes > self.max_bytes:
                skipped.append(
                    f"{candidate.filename} ({_mb(candidate.size_bytes)} is over the "
                    f"{_mb(self.max_bytes)} limit)"
                )
            elif len(accepted) >= self.max_count:
                skipped.append(f"{candidate.filename} (only {self.max_count} files per message)")
            else:
                accepted.append(candidate)
        return accepted, skipped


def skipped_note(reasons: Sequence[str]) -> str | None:
    """One short Markdown line naming every file that did not reach the agent."""
    if not reasons:
        return None
    return "_Not sent to the agent: " + "; ".join(reasons) + "._"


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"
