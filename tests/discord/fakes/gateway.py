"""A fake Discord gateway: HELLO, IDENTIFY, READY, GUILD_CREATE, heartbeats, dispatches.

Frames are sent as plain JSON text, which discord.py reads without decompression.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from tests.discord.fakes.payloads import Json

log = logging.getLogger(__name__)

HELLO, IDENTIFY, HEARTBEAT, HEARTBEAT_ACK, DISPATCH, RESUME, INVALID_SESSION = 10, 2, 1, 11, 0, 6, 9
MESSAGE_CONTENT = 1 << 15
PRIVILEGED = (1 << 1) | (1 << 8) | MESSAGE_CONTENT  # members, presences, message content
CLOSE_DISALLOWED_INTENTS = 4014
CLOSE_AUTHENTICATION_FAILED = 4004


@dataclass(slots=True)
class Session:
    ws: web.WebSocketResponse
    shard_id: int = 0
    shard_count: int = 1
    intents: int = 0
    seq: int = 0
    identified: bool = False
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def send(self, op: int, data: Any, event: str | None = None) -> None:
        async with self.lock:
            frame: Json = {"op": op, "d": data, "s": None, "t": event}
            if op == DISPATCH:
                self.seq += 1
                frame["s"] = self.seq
            if not self.ws.closed:
                await self.ws.send_str(json.dumps(frame))


class Gateway:
    """Sessions of every connected shard; READY carries what `world()` returns."""

    def __init__(
        self,
        *,
        token: str,
        ready_payload: Callable[[Session], Json],
        guild_payloads: Callable[[Session], list[Json]],
    ) -> None:
        self.token = token
        self.ready_payload = ready_payload
        self.guild_payloads = guild_payloads
        self.sessions: list[Session] = []
        self.identifies: list[Json] = []
        self.refuse_privileged = False
        self._changed = asyncio.Condition()

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        session = Session(ws)
        await session.send(HELLO, {"heartbeat_interval": 41250})
        try:
            async for frame in ws:
                if frame.type is not WSMsgType.TEXT:
                    continue
                await self._on_frame(session, json.loads(frame.data))
        finally:
            async with self._changed:
                if session in self.sessions:
                    self.sessions.remove(session)
                self._changed.notify_all()
        return ws

    async def _on_frame(self, session: Session, frame: Json) -> None:
        op = frame.get("op")
        if op == HEARTBEAT:
            await session.send(HEARTBEAT_ACK, None)
        elif op == IDENTIFY:
            await self._identify(session, frame["d"])
        elif op == RESUME:
            await session.send(INVALID_SESSION, False)  # the fake keeps no sessions to resume

    async def _identify(self, session: Session, data: Json) -> None:
        self.identifies.append({k: v for k, v in data.items() if k != "token"})
        if data.get("token") != self.token:
            await session.ws.close(code=CLOSE_AUTHENTICATION_FAILED)
            return
        session.intents = int(data.get("intents", 0))
        if self.refuse_privileged and session.intents & PRIVILEGED:
            await session.ws.close(code=CLOSE_DISALLOWED_INTENTS, message=b"Disallowed intent(s).")
            return
        session.shard_id, session.shard_count = data.get("shard") or (0, 1)
        await session.send(DISPATCH, self.ready_payload(session), "READY")
        for guild_data in self.guild_payloads(session):
            await session.send(DISPATCH, guild_data, "GUILD_CREATE")
        session.identified = True
        async with self._changed:
            self.sessions.append(session)
            self._changed.notify_all()

    async def wait_identified(self, count: int = 1, *, within: float = 10.0) -> None:
        """Until `count` sessions got READY and their guilds."""
        async with asyncio.timeout(within), self._changed:
            await self._changed.wait_for(lambda: len(self.sessions) >= count)

    async def dispatch(self, event: str, data: Json, *, guild_id: int | None = None) -> None:
        """Send an event to the shard that owns the guild (shard 0 for DMs)."""
        for session in list(self.sessions):
            shard = (guild_id >> 22) % session.shard_count if guild_id else 0
            if shard == session.shard_id:
                await session.send(DISPATCH, data, event)

    async def close_all(self) -> None:
        for session in list(self.sessions):
            with contextlib.suppress(Exception):
                await session.ws.close()
