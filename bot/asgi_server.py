"""uvicorn serving an ASGI app on a socket of its own, without uvicorn's signal handling.

The process owner decides how to stop (SIGTERM cancels the bot so answers in flight are
drained); uvicorn's own handlers would re-raise the signal after its shutdown and end the
process before those answers are posted. Used by Slack's HTTP mode and for OPS_PORT.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator

import uvicorn
from starlette.types import ASGIApp


def listen(host: str, port: int) -> socket.socket:
    """A listening socket; port 0 picks a free one (tests read it back)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.setblocking(False)
    return sock


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling.

    The owner of the process decides how to stop (`meibel-bot slack` cancels the bot on
    SIGTERM/SIGINT so answers in flight are drained; tests just stop the server). uvicorn's
    handlers would instead re-raise the signal after shutdown and kill the process before
    the answers in flight are posted.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class AsgiServer:
    """uvicorn serving an ASGI app on an already-listening socket."""

    def __init__(self, app: ASGIApp, *, host: str = "0.0.0.0", port: int = 3000) -> None:
        self.sock = listen(host, port)
        self.server = _Server(
            uvicorn.Config(
                app,
                log_config=None,  # keep our logging set-up (and its secret redaction)
                lifespan="off",
                access_log=False,
                timeout_graceful_shutdown=5,
            )
        )
        self._task: asyncio.Task[None] | None = None

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    @property
    def url(self) -> str:
        host = self.sock.getsockname()[0]
        host = "127.0.0.1" if host in ("0.0.0.0", "") else host
        return f"http://{host}:{self.port}"

    def start(self) -> None:
        """Serve in the background; the socket already listens, so requests queue until ready."""
        self._task = asyncio.create_task(self.server.serve(sockets=[self.sock]))

    async def stop(self) -> None:
        """Stop accepting, let requests in progress finish (they only queue jobs), close."""
        self.server.should_exit = True
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.sock.close()

    async def run(self) -> None:
        """Serve until cancelled, then shut down gracefully."""
        self.start()
        assert self._task is not None
        try:
            await asyncio.shield(self._task)
        finally:
            await self.stop()
