"""A fake Discord on one aiohttp server (port 0): the REST API under /api/v10 and the
gateway websocket at /gateway-ws.

Tests drive it like Discord would (dispatching INTERACTION_CREATE and MESSAGE_CREATE to
the connected client) and assert on what the bot sent (`recorder`, `messages`). Like
Discord, it echoes the bot's own public messages back over the gateway, and announces
threads it opens with THREAD_CREATE.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.discord.fakes import payloads as p
from tests.discord.fakes import rest
from tests.discord.fakes.gateway import Gateway, Session
from tests.discord.fakes.payloads import LOADING, Json
from tests.discord.fakes.recorder import Call, Recorder
from tests.discord.fakes.world import World

TOKEN = "fake-discord-bot-token"
CDN_PREFIX = "/cdn"
MESSAGE_CONTENT_FLAG = 1 << 18  # application flag: the intent is enabled in the portal


@dataclass(slots=True)
class InteractionState:
    id: int
    kind: int
    token: str
    channel_id: int
    guild_id: int | None
    responded: bool = False
    original_id: int | None = None
    expired: bool = False
    message_id: int | None = None  # the message whose component was used


class FakeDiscord:
    def __init__(self, *, token: str = TOKEN) -> None:
        self.token = token
        self.world = World()
        self.recorder = Recorder()
        self.application_flags = MESSAGE_CONTENT_FLAG
        self.channels: dict[int, Json] = {int(c["id"]): c for c in self.world.channels()}
        self.messages: dict[int, Json] = {}
        self.threads: list[Json] = []
        self.interactions: dict[str, InteractionState] = {}
        self.cdn: dict[str, bytes] = {}  # path -> content of the files users attached
        # (channel, message) -> the bot's reactions on it, e.g. {"🙋"}
        self.reactions: dict[tuple[int, int], set[str]] = {}
        # The pings a test expects (sorted role ids, sorted user ids): the one message
        # that may ping, a call for help, pings exactly one of these sets.
        self.expected_pings: list[tuple[list[str], list[str]]] = []
        self.gateway = Gateway(token=token, ready_payload=self._ready, guild_payloads=self._guilds)
        self._runner: web.AppRunner | None = None
        self.port = 0

    # -- life cycle ---------------------------------------------------------------------
    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/gateway-ws", self.gateway.handle)
        app.router.add_get(CDN_PREFIX + "/{tail:.*}", self._cdn)
        app.router.add_route("*", rest.API_PREFIX + "/{tail:.*}", self._rest)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self._runner = runner
        self.port = int(runner.addresses[0][1])

    async def stop(self) -> None:
        if self._runner is not None:
            await self.gateway.close_all()
            await self._runner.cleanup()
            self._runner = None

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}{rest.API_PREFIX}"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway-ws"

    async def _rest(self, request: web.Request) -> web.Response:
        return await rest.handle(self, request)

    async def _cdn(self, request: web.Request) -> web.Response:
        """Attachment downloads (no token, like Discord's CDN); recorded like REST calls."""
        call = Call(method="GET", path=request.path, query=dict(request.query))
        await self.recorder.add(call)
        content = self.cdn.get(request.path)
        status = 404 if content is None else 200
        await self.recorder.answered(call, status)
        if content is None:
            return web.Response(status=404, text="Not Found")
        return web.Response(body=content, content_type="application/octet-stream")

    def attachment(
        self,
        filename: str,
        content: bytes,
        *,
        content_type: str = "text/plain",
        downloadable: bool = True,
    ) -> Json:
        """A file a user attaches, served from the fake's CDN (or, not `downloadable`, a
        404 there, as for a file deleted meanwhile)."""
        aid = p.snowflake()
        path = f"{CDN_PREFIX}/attachments/{aid}/{filename}"
        if downloadable:
            self.cdn[path] = content
        url = f"http://127.0.0.1:{self.port}{path}"
        return {
            "id": str(aid),
            "filename": filename,
            "size": len(content),
            "content_type": content_type,
            "url": url,
            "proxy_url": url,
        }

    # -- gateway contents ---------------------------------------------------------------
    def _ready(self, session: Session) -> Json:
        return {
            "v": 10,
            "user": self.world.bot,
            "guilds": [{"id": g["id"], "unavailable": True} for g in self._guilds(session)],
            "session_id": f"fake-session-{p.snowflake()}",
            "resume_gateway_url": self.gateway_url,
            "shard": [session.shard_id, session.shard_count],
            "application": {"id": str(self.world.app_id), "flags": self.application_flags},
            "private_channels": [],
            "relationships": [],
            "presences": [],
        }

    def _guilds(self, session: Session) -> list[Json]:
        if (self.world.guild_id >> 22) % session.shard_count != session.shard_id:
            return []
        return [self.world.guild(threads=self.threads)]

    async def gateway_ready(self) -> None:
        """Until a client is connected and has its guilds (for bots a test did not start
        itself; `start_discord_bot` waits for on_ready)."""
        await self.gateway.wait_identified()

    # -- what tests do as users ---------------------------------------------------------
    async def slash(
        self,
        name: str,
        *,
        user: Json,
        channel_id: int,
        options: dict[str, str] | None = None,
        files: dict[str, Json] | None = None,
        expired: bool = False,
        guild_command: bool = False,
    ) -> Json:
        """A slash command; `files` maps attachment options to `attachment()` payloads."""
        guild_id = self.world.guild_id if guild_command else None
        data = p.slash_data(name, options=options, files=files, guild_id=guild_id)
        return await self.interact(2, data, user=user, channel_id=channel_id, expired=expired)

    async def menu(self, name: str, *, user: Json, channel_id: int, target: Json) -> Json:
        data = p.message_menu_data(name, target=target)
        return await self.interact(2, data, user=user, channel_id=channel_id)

    async def click(self, custom_id: str, *, user: Json, message: Json) -> Json:
        channel_id = int(message["channel_id"])
        return await self.interact(
            3, p.button_data(custom_id), user=user, channel_id=channel_id, message_data=message
        )

    async def interact(
        self,
        kind: int,
        data: Json,
        *,
        user: Json,
        channel_id: int,
        message_data: Json | None = None,
        expired: bool = False,
    ) -> Json:
        """Dispatch an interaction; `expired` makes it arrive already too late to answer."""
        channel = self.channels[channel_id]
        guild_id = int(channel["guild_id"]) if "guild_id" in channel else None
        payload = p.interaction(
            kind=kind,
            app_id=self.world.app_id,
            data=data,
            channel=channel,
            user_data=user,
            roles=self.world.roles_of(int(user["id"])),
            permissions=self.world.permissions_of(int(user["id"])),
            guild_id=guild_id,
            message_data=message_data,
        )
        self.interactions[payload["token"]] = InteractionState(
            id=int(payload["id"]),
            kind=kind,
            token=payload["token"],
            channel_id=channel_id,
            guild_id=guild_id,
            expired=expired,
            message_id=int(message_data["id"]) if message_data else None,
        )
        await self.gateway.dispatch("INTERACTION_CREATE", payload, guild_id=guild_id)
        return payload

    async def select(
        self,
        custom_id: str,
        values: Sequence[str],
        *,
        user: Json,
        message: Json,
        kind: int = 3,
        resolved: Json | None = None,
    ) -> Json:
        """A user picks `values` in a select of `message` (`kind` 7: users and roles)."""
        data = p.select_data(custom_id, values, kind=kind, resolved=resolved or {})
        channel_id = int(message["channel_id"])
        return await self.interact(3, data, user=user, channel_id=channel_id, message_data=message)

    def expect_pings(self, *, roles: Sequence[int] = (), users: Sequence[int] = ()) -> None:
        """Allow one kind of message to ping: exactly these roles and users."""
        self.expected_pings.append((sorted(map(str, roles)), sorted(map(str, users))))

    def pings_as_expected(self, payload: Json) -> bool:
        mentions = payload.get("allowed_mentions")
        if not isinstance(mentions, dict) or mentions.get("parse") != []:
            return False
        if mentions.get("replied_user"):
            return False
        allowed = (
            sorted(str(r) for r in mentions.get("roles") or []),
            sorted(str(u) for u in mentions.get("users") or []),
        )
        return allowed in self.expected_pings

    async def say(
        self,
        content: str,
        *,
        user: Json,
        channel_id: int,
        mention_bot: bool = False,
        attachments: Sequence[Json] = (),
        reply_to: int | None = None,
    ) -> Json:
        """A user posts a message (with `<@bot>` in front when `mention_bot`), with files
        made by `attachment()`, as a reply to message `reply_to` when given."""
        channel = self.channels[channel_id]
        guild_id = int(channel["guild_id"]) if "guild_id" in channel else None
        if mention_bot:
            content = f"<@{self.world.bot_id}> {content}"
        data = p.message(
            mid=p.snowflake(),
            channel_id=channel_id,
            author=user,
            content=content,
            guild_id=guild_id,
            author_member=(
                p.member(user, roles=self.world.roles_of(int(user["id"]))) if guild_id else None
            ),
            mentions=[self.world.bot] if mention_bot else [],
            extra={"attachments": list(attachments)},
        )
        if reply_to is not None:
            data["type"] = 19
            data["message_reference"] = {
                "message_id": str(reply_to),
                "channel_id": str(channel_id),
                **({"guild_id": str(guild_id)} if guild_id else {}),
            }
            data["referenced_message"] = self._public(self.messages[reply_to])
        self.messages[int(data["id"])] = data
        await self.gateway.dispatch("MESSAGE_CREATE", self._as_seen(data), guild_id=guild_id)
        return data

    def _as_seen(self, data: Json) -> Json:
        """What the gateway delivers: without the intent, content only for mentions/DMs."""
        sessions = self.gateway.sessions
        has_intent = all(s.intents & (1 << 15) for s in sessions) if sessions else True
        addressed = any(int(u["id"]) == self.world.bot_id for u in data["mentions"])
        if has_intent or addressed or "guild_id" not in data:
            return data
        return {**data, "content": ""}

    def open_dm_channel(self, user: Json) -> Json:
        return self.dm_with(int(user["id"]))

    # -- what the REST routes do --------------------------------------------------------
    async def bot_posts(
        self,
        channel: Json,
        body: Json,
        *,
        files: list[tuple[str, bytes]] | None = None,
        webhook: bool = False,
        echo: bool = True,
    ) -> Json:
        guild_id = int(channel["guild_id"]) if "guild_id" in channel else None
        extra: Json = {"webhook_id": str(self.world.app_id)} if webhook else {}
        if body.get("message_reference"):
            extra["message_reference"] = body["message_reference"]
            extra["type"] = 19
        data = p.message(
            mid=p.snowflake(),
            channel_id=int(channel["id"]),
            author=self.world.bot,
            content=str(body.get("content") or ""),
            guild_id=guild_id,
            embeds=body.get("embeds") or [],
            components=body.get("components") or [],
            flags=int(body.get("flags") or 0),
            kind=19 if body.get("message_reference") else 0,
            extra={
                "allowed_mentions": body.get("allowed_mentions"),
                "attachments": [self._uploaded(name, content) for name, content in files or []],
                **({k: v for k, v in extra.items() if k != "type"}),
            },
        )
        self.messages[int(data["id"])] = data
        if echo and not data["flags"] & LOADING:
            await self.gateway.dispatch("MESSAGE_CREATE", self._public(data), guild_id=guild_id)
        return self._public(data)

    async def bot_edits(
        self, message_id: int, body: Json, *, files: list[tuple[str, bytes]] | None = None
    ) -> Json:
        data = self.messages[message_id]
        for field_name in ("content", "embeds", "components", "allowed_mentions"):
            if field_name in body:
                data[field_name] = body[field_name]
        if "attachments" in body:  # the ones kept (by id), then the ones uploaded now
            kept = {str(a.get("id")) for a in body["attachments"]}
            data["attachments"] = [a for a in data["attachments"] if a["id"] in kept] + [
                self._uploaded(name, content) for name, content in files or []
            ]
        data["flags"] = int(data["flags"]) & ~LOADING
        return self._public(data)

    async def open_thread(
        self, parent: Json, *, thread_id: int, name: str, owner_id: int | None = None
    ) -> Json:
        """A thread in `parent`, the bot's unless `owner_id` names a person."""
        thread = p.thread_channel(
            thread_id,
            guild_id=int(parent["guild_id"]),
            parent_id=int(parent["id"]),
            owner_id=owner_id or self.world.bot_id,
            name=name,
        )
        self.channels[thread_id] = thread
        self.threads.append(thread)
        event = {**thread, "newly_created": True}
        await self.gateway.dispatch("THREAD_CREATE", event, guild_id=int(parent["guild_id"]))
        return thread

    def dm_with(self, user_id: int) -> Json:
        for channel in self.channels.values():
            if channel["type"] == 1 and int(channel["recipients"][0]["id"]) == user_id:
                return channel
        people = {int(u["id"]): u for u in (self.world.alice, self.world.bob)}
        channel = p.dm_channel(p.snowflake(), recipient=people.get(user_id, self.world.alice))
        self.channels[int(channel["id"])] = channel
        return channel

    @staticmethod
    def _uploaded(name: str, content: bytes) -> Json:
        return {
            "id": str(p.snowflake()),
            "filename": name,
            "size": len(content),
            "url": f"https://cdn.example.invalid/{name}",
            "proxy_url": f"https://media.example.invalid/{name}",
        }

    @staticmethod
    def _public(data: Json) -> Json:
        """A message as Discord returns it (the request-only allowed_mentions removed)."""
        return {k: v for k, v in data.items() if k != "allowed_mentions"}

    # -- what tests check ---------------------------------------------------------------
    def posted(self, channel_id: int | None = None) -> list[Json]:
        """Messages the bot posted (as they are now), oldest first."""
        found = [
            m
            for m in self.messages.values()
            if int(m["author"]["id"]) == self.world.bot_id
            and (channel_id is None or int(m["channel_id"]) == channel_id)
        ]
        return sorted(found, key=lambda m: int(m["id"]))

    def message_calls(self) -> list[Call]:
        return [c for c in self.recorder.calls if c.message_payload is not None]

    def expire(self, payload: Json) -> None:
        """Make an interaction unknown to the fake, as after Discord's 3 s or 15 min."""
        self.interactions[payload["token"]].expired = True

    def forget_threads(self) -> None:
        """Stop announcing the bot's threads at connect, as if they fell out of the cache."""
        self.threads.clear()

    @contextlib.asynccontextmanager
    async def running(self) -> Any:
        await self.start()
        try:
            yield self
        finally:
            await self.stop()
