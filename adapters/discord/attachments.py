"""Artifacts -> Discord attachments (text content) and link lines (storage urls)."""

from __future__ import annotations

import io
import mimetypes
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import discord

from adapters.discord import text as fmt
from bot.domain import Artifact

# Discord's upload limit for a server without boosts is 10 MB per message; 8 MB leaves
# room for the rest of the multipart request.
MAX_UPLOAD_BYTES = 8 * 1024 * 1024
FILENAME_LIMIT = 100
_UNSAFE_FILENAME = re.compile(r"[^A-Za-z0-9._\- ]")


@dataclass(slots=True)
class Attachments:
    """What the artifacts become: files to upload and lines to add to the text."""

    files: list[tuple[str, bytes]] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)

    def batches(
        self, *, per_message: int, max_bytes: int = MAX_UPLOAD_BYTES
    ) -> list[list[discord.File]]:
        """Fresh discord.File objects, grouped so no message exceeds either limit."""
        batches: list[list[discord.File]] = []
        size = 0
        for name, data in self.files:
            if not batches or len(batches[-1]) >= per_message or size + len(data) > max_bytes:
                batches.append([])
                size = 0
            batches[-1].append(discord.File(io.BytesIO(data), filename=name))
            size += len(data)
        return batches


def attachments(artifacts: Sequence[Artifact]) -> Attachments:
    result = Attachments()
    for artifact in artifacts:
        shown = fmt.escape_inline(fmt.one_line(fmt.clean(artifact.filename)) or "file")
        data = artifact.content.encode("utf-8", "replace") if artifact.content else b""
        if data and len(data) <= MAX_UPLOAD_BYTES:
            result.files.append((filename(artifact), data))
        elif data:
            result.lines.append(f"📎 {shown} is too large to attach here ({_size(len(data))}).")
        url = fmt.safe_url(artifact.storage_url)
        if url:
            result.lines.append(f"📎 [{shown}]({url})")
        elif not data:
            result.lines.append(f"📎 {shown} (no content was sent)")
    return result


def filename(artifact: Artifact) -> str:
    """A name every client can save: no path, plain characters, an extension."""
    base = re.split(r"[\\/]", artifact.filename.strip())[-1]
    name = _UNSAFE_FILENAME.sub("_", base).strip(" .")
    if not name.strip("_"):
        name = "artifact"
    stem, dot, extension = name.rpartition(".")
    if not dot or not stem:
        stem, extension = name, (mimetypes.guess_extension(artifact.mime_type) or ".txt")[1:]
    extension = extension[:16]
    return f"{stem[: FILENAME_LIMIT - len(extension) - 1]}.{extension}"


def _size(count: int) -> str:
    return f"{count / (1024 * 1024):.1f} MB"
