"""A file fetched over HTTP with a size limit on the bytes received and redirects kept on
trusted hosts: what Slack and Discord downloads share.

The announced size (an event's `size`, Content-Length) may be wrong or a lie: reading
stops one chunk past the limit, so memory stays bounded whatever the server sends.
Redirects are followed by hand, each hop checked, so a header (Slack's bot token) only
ever goes to a trusted host.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from urllib.parse import urljoin, urlsplit

import aiohttp

CHUNK = 64 * 1024
MAX_REDIRECTS = 3
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


class TooLarge(Exception):
    """More than the limit arrived; `received` is what was read before stopping."""

    def __init__(self, received: int) -> None:
        super().__init__(received)
        self.received = received


class Untrusted(Exception):
    """The url, or a redirect, points at a host outside the allow-list."""


class BadStatus(Exception):
    """The file server answered something other than 200."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


def host_of(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


async def fetch_bounded(
    session: aiohttp.ClientSession,
    url: str,
    *,
    limit: int,
    trusted: Callable[[str], bool],
    headers: Mapping[str, str] | None = None,
    check: Callable[[aiohttp.ClientResponse], None] | None = None,
) -> bytes:
    """The body at `url` (at most `limit` bytes), following up to 3 redirects to trusted
    hosts; `check` may refuse a response before its body is read."""
    for _ in range(MAX_REDIRECTS + 1):
        if not trusted(url):
            raise Untrusted(host_of(url))
        async with session.get(url, headers=headers, allow_redirects=False) as response:
            if response.status in _REDIRECTS:
                url = urljoin(url, response.headers.get("Location", ""))
                continue
            if response.status != 200:
                raise BadStatus(response.status)
            if check is not None:
                check(response)
            return await read_bounded(response, limit=limit)
    raise Untrusted("too many redirects")


async def read_bounded(response: aiohttp.ClientResponse, *, limit: int) -> bytes:
    body = bytearray()
    async for chunk in response.content.iter_chunked(CHUNK):
        body += chunk
        if len(body) > limit:
            raise TooLarge(len(body))
    return bytes(body)
