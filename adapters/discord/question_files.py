"""Files attached to a question: fetched from Discord for the agent, within the limits.

Every file that does not reach the agent (too large, one too many, not downloadable, or
streaming off) gets a reason, for the note under the answer.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import aiohttp
import discord
from discord.http import Route

from adapters.discord import text as fmt
from adapters.discord.jobs import FileRef
from adapters.fetch import BadStatus, TooLarge, Untrusted, fetch_bounded, host_of
from bot.attachments import AttachmentPolicy, Candidate
from bot.meibel.client import FilePart

log = logging.getLogger(__name__)

DOWNLOAD_TIMEOUT_SECONDS = 30.0
DEFAULT_MIME = "application/octet-stream"
NOT_DOWNLOADED = "could not be downloaded from Discord"
NEEDS_STREAMING = "files reach the agent only when streaming is on"
# What a message with files but no words asks (only when the files can reach the agent).
ABOUT_THE_FILES = "What can you tell me about the attached files?"


# Downloads a file's bytes from its url, at most `limit` of them (raising TooLarge past it).
Download = Callable[[str, int], Awaitable[bytes]]
# Where Discord serves attachments; the REST API's own host (Route.BASE) is trusted too.
CDN_HOSTS = frozenset({"cdn.discordapp.com", "media.discordapp.net"})


@dataclass(slots=True)
class Fetched:
    """The files for the agent and one reason per file left out."""

    files: list[FilePart] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def shown_name(file: FileRef) -> str:
    """The file's name as the note shows it: one line, no Markdown of its own."""
    return fmt.escape_inline(fmt.one_line(fmt.clean(file.filename))) or "file"


def question_text(text: str, attachments: Sequence[object], *, streaming: bool) -> str:
    """The text to ask: the user's, or, for files without words, a question about them."""
    if text.strip() or not attachments or not streaming:
        return text
    return ABOUT_THE_FILES


def not_sent(files: Sequence[FileRef], reason: str) -> list[str]:
    return [f"{shown_name(f)} ({reason})" for f in files]


async def fetch_files(
    attachments: Sequence[FileRef], policy: AttachmentPolicy, *, download: Download
) -> Fetched:
    """Download what the policy accepts; name the rest and every failed download."""
    candidates = [
        Candidate(shown_name(a), a.size, a.content_type or DEFAULT_MIME) for a in attachments
    ]
    by_candidate = {id(c): a for c, a in zip(candidates, attachments, strict=True)}
    accepted, skipped = policy.select(candidates)
    result = Fetched(skipped=skipped)
    for candidate in accepted:
        attachment = by_candidate[id(candidate)]
        try:
            data = await _download(attachment, download, limit=policy.max_bytes)
        except TooLarge as exc:  # Discord's size was wrong: the bytes received decide
            result.skipped.extend(policy.select([Candidate(candidate.filename, exc.received)])[1])
            continue
        if data is None:
            result.skipped.append(f"{candidate.filename} ({NOT_DOWNLOADED})")
        else:
            result.files.append(FilePart(attachment.filename, data, candidate.mime_type))
    return result


async def download(url: str, limit: int) -> bytes:
    """An attachment's bytes from Discord's CDN (no token needed), read up to `limit`;
    redirects are followed only to Discord's hosts."""
    timeout = aiohttp.ClientTimeout(total=DOWNLOAD_TIMEOUT_SECONDS)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        return await fetch_bounded(session, url, limit=limit, trusted=_discord_host)


def _discord_host(url: str) -> bool:
    api = urlsplit(Route.BASE)
    return urlsplit(url).scheme in ("https", api.scheme) and (
        host_of(url) in CDN_HOSTS or host_of(url) == (api.hostname or "").lower()
    )


async def _download(attachment: FileRef, download: Download, *, limit: int) -> bytes | None:
    try:
        async with asyncio.timeout(DOWNLOAD_TIMEOUT_SECONDS):
            return await download(attachment.url, limit)
    except (BadStatus, Untrusted) as exc:
        log.warning("could not download attachment %s (%r)", attachment.id, exc)
    except discord.HTTPException as exc:
        log.warning("could not download attachment %s (status %s)", attachment.id, exc.status)
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        log.warning("could not download attachment %s (%s)", attachment.id, type(exc).__name__)
    return None
