"""Files shared with a question, downloaded from Slack with the bot token for the agent.

Slack serves a shared file at its `url_private_download` to requests that carry the bot
token (and the `files:read` scope). The token only ever goes to Slack's own hosts; without
the scope Slack answers with its HTML sign-in page rather than an error, which is caught
here too. What cannot be sent is named, never dropped silently.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import aiohttp

from adapters.fetch import BadStatus, TooLarge, Untrusted, fetch_bounded
from adapters.slack import texts
from adapters.slack.inbound import SharedFile
from bot.attachments import AttachmentPolicy, Candidate
from bot.meibel.client import FilePart

log = logging.getLogger(__name__)

DOWNLOAD_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class Fetched:
    """The files that go to the agent, and one reason per file that does not."""

    parts: list[FilePart] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


class _Refused(Exception):
    """A file that could not be fetched; the message is the user-facing reason."""


@dataclass(frozen=True, slots=True)
class Downloader:
    token: str
    api_url: str  # SLACK_API_URL: files are trusted on its host and that host's subdomains
    policy: AttachmentPolicy
    timeout_seconds: float = DOWNLOAD_TIMEOUT_SECONDS

    async def fetch(self, files: Sequence[SharedFile]) -> Fetched:
        """Download what the policy lets through, all at once; name everything else."""
        if not files:
            return Fetched()
        # The policy's reasons start with the file name; as inline code it reads as a name
        # whatever characters it holds.
        pairs = [(Candidate(texts.code(f.name), f.size, f.mime_type), f) for f in files]
        accepted, skipped = self.policy.select([c for c, _ in pairs])
        chosen = [f for c, f in pairs if any(c is a for a in accepted)]
        timeout = aiohttp.ClientTimeout(total=self.timeout_seconds)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            results = await asyncio.gather(*(self._one(session, f) for f in chosen))
        parts = [r for r in results if isinstance(r, FilePart)]
        skipped += [r for r in results if isinstance(r, str)]
        return Fetched(parts=parts, skipped=skipped)

    async def _one(self, session: aiohttp.ClientSession, file: SharedFile) -> FilePart | str:
        name = texts.code(file.name)
        try:
            content = await self._download(session, file)
        except _Refused as exc:
            return f"{name} ({exc})"
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            log.warning("could not download a shared file: %s", type(exc).__name__)
            return f"{name} (could not be downloaded)"
        return FilePart(filename=file.name, content=content, mime_type=file.mime_type)

    async def _download(self, session: aiohttp.ClientSession, file: SharedFile) -> bytes:
        if file.url is None:
            raise _Refused("Slack offers no download for it")
        limit = self.policy.max_bytes

        def check(response: aiohttp.ClientResponse) -> None:
            if response.content_type == "text/html" and file.mime_type != "text/html":
                # Slack's sign-in page: the token lacks files:read (reinstall the app).
                log.warning("Slack sent a web page for a shared file: is files:read granted?")
                raise _Refused("could not be downloaded")

        try:
            # Every hop, redirects included, must be a Slack host: only they get the token.
            return await fetch_bounded(
                session,
                file.url,
                limit=limit,
                trusted=self.trusted,
                headers={"Authorization": f"Bearer {self.token}"},
                check=check,
            )
        except Untrusted as exc:
            log.warning("not sending the bot token to %s", exc)
            raise _Refused("could not be downloaded") from None
        except BadStatus as exc:
            log.warning("shared file download answered HTTP %d", exc.status)
            raise _Refused("could not be downloaded") from None
        except TooLarge:
            # The event's size was missing or wrong; the policy's limit still holds.
            raise _Refused(f"over the {limit / (1024 * 1024):.1f} MB limit") from None

    def trusted(self, url: str) -> bool:
        """Only Slack's hosts get the token: SLACK_API_URL's host and its subdomains."""
        api = urlsplit(self.api_url)
        target = urlsplit(url)
        host, base = (target.hostname or "").lower(), (api.hostname or "").lower()
        if not host or not base:
            return False
        same_site = host == base or host.endswith("." + base)
        return same_site and target.scheme in ("https", api.scheme)
