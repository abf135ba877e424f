"""Downloads bounded while reading, on Slack and Discord: a file server that lies about
the size or sends 200 MB is cut off one chunk past the limit and the file is named as too
large; a redirect to a foreign host is not followed, and Slack's token never reaches it.

The file servers are real HTTP servers on port 0. "127.0.0.1" is the platform's host as
configured (SLACK_API_URL, discord.py's Route.BASE); "localhost" reaches the same machine
by another name: a foreign host.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import pytest
from aiohttp import web
from discord.http import Route

from adapters.discord.jobs import FileRef
from adapters.discord.question_files import download, fetch_files
from adapters.fetch import CHUNK, TooLarge, fetch_bounded
from adapters.slack.downloads import Downloader
from adapters.slack.inbound import SharedFile
from bot.attachments import AttachmentPolicy
from tests.fixtures.slack import BOT_TOKEN

LIMIT = 1024 * 1024  # the policy's 1 MB
HUGE = 200 * 1024 * 1024
# Loopback send and receive buffers hold a few MB the client never reads.
SOCKET_BUFFERS = 16 * 1024 * 1024


@dataclass
class FileServer:
    """Serves /small, /huge (200 MB announced as 10 bytes, sent as long as it is read),
    /away (a redirect to `elsewhere`); records each request's headers and bytes sent."""

    elsewhere: str = ""
    sent: int = 0
    headers: list[dict[str, str]] = field(default_factory=list)
    port: int = 0

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.headers.append(dict(request.headers))
        if request.path == "/small":
            return web.Response(body=b"fits", content_type="text/plain")
        if request.path == "/away":
            raise web.HTTPFound(self.elsewhere)
        response = web.StreamResponse(headers={"Content-Length": str(HUGE)})
        response.content_type = "text/plain"
        await response.prepare(request)
        block = b"x" * CHUNK
        try:
            while self.sent < HUGE:
                await response.write(block)
                self.sent += len(block)
        except (ConnectionResetError, ConnectionError):
            pass  # the client stopped reading: what we want
        return response


@pytest.fixture
async def server() -> AsyncIterator[FileServer]:
    fake = FileServer()
    app = web.Application()
    app.router.add_get("/{tail:.*}", fake.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    fake.port = int(runner.addresses[0][1])
    try:
        yield fake
    finally:
        await runner.cleanup()


def slack(server: FileServer) -> Downloader:
    return Downloader(
        token=BOT_TOKEN,
        api_url=server.url("/api/"),
        policy=AttachmentPolicy.from_megabytes(1, max_count=5),
    )


def shared(name: str, url: str) -> SharedFile:
    return SharedFile(name=name, mime_type="text/plain", size=10, url=url)


async def test_slack_stops_reading_a_lying_200_mb_file_at_the_limit(server: FileServer) -> None:
    fetched = await slack(server).fetch([shared("liar.txt", server.url("/huge"))])
    assert fetched.parts == []
    assert fetched.skipped == ["`liar.txt` (over the 1.0 MB limit)"]
    # what the server managed to write: the limit, a chunk, and what the sockets buffer
    assert server.sent < LIMIT + SOCKET_BUFFERS < HUGE // 10


async def test_reading_stops_one_chunk_past_the_limit(server: FileServer) -> None:
    async with aiohttp.ClientSession() as session:
        with pytest.raises(TooLarge) as raised:
            await fetch_bounded(session, server.url("/huge"), limit=LIMIT, trusted=lambda _: True)
    assert LIMIT < raised.value.received <= LIMIT + CHUNK


async def test_slack_never_follows_a_redirect_to_a_foreign_host(server: FileServer) -> None:
    server.elsewhere = server.url("/small", host="localhost")
    fetched = await slack(server).fetch([shared("moved.txt", server.url("/away"))])
    assert fetched.parts == []
    assert fetched.skipped == ["`moved.txt` (could not be downloaded)"]
    assert len(server.headers) == 1  # the foreign host was never asked
    assert server.headers[0]["Authorization"] == f"Bearer {BOT_TOKEN}"


async def test_slack_follows_a_redirect_on_its_own_hosts(server: FileServer) -> None:
    server.elsewhere = server.url("/small")
    fetched = await slack(server).fetch([shared("moved.txt", server.url("/away"))])
    assert [part.content for part in fetched.parts] == [b"fits"]


@pytest.fixture
def discord_api(server: FileServer) -> AsyncIterator[None]:
    base = Route.BASE
    Route.BASE = server.url("/api/v10")  # as tests/fixtures/discord.py points discord.py
    yield None
    Route.BASE = base


def attached(name: str, url: str) -> FileRef:
    return FileRef(id=1, filename=name, url=url, size=10, content_type="text/plain")


@pytest.mark.usefixtures("discord_api")
async def test_discord_stops_reading_a_lying_200_mb_file_at_the_limit(server: FileServer) -> None:
    policy = AttachmentPolicy.from_megabytes(1, max_count=5)
    files = [attached("liar.txt", server.url("/huge")), attached("ok.txt", server.url("/small"))]
    fetched = await fetch_files(files, policy, download=download)
    assert [(f.filename, f.content) for f in fetched.files] == [("ok.txt", b"fits")]
    [reason] = fetched.skipped
    assert reason.startswith("liar.txt (") and "over the 1.0 MB limit" in reason
    assert server.sent < LIMIT + SOCKET_BUFFERS < HUGE // 10


@pytest.mark.usefixtures("discord_api")
async def test_discord_never_follows_a_redirect_off_its_hosts(server: FileServer) -> None:
    policy = AttachmentPolicy.from_megabytes(1, max_count=5)
    server.elsewhere = server.url("/small", host="localhost")
    fetched = await fetch_files([attached("m.txt", server.url("/away"))], policy, download=download)
    assert fetched.files == []
    assert fetched.skipped == ["m.txt (could not be downloaded from Discord)"]
    assert len(server.headers) == 1
    # and a file on a foreign host is not fetched at all
    away = attached("x.txt", server.url("/small", host="localhost"))
    fetched = await fetch_files([away], policy, download=download)
    assert fetched.skipped == ["x.txt (could not be downloaded from Discord)"]
    assert len(server.headers) == 1
