"""The fake Discord REST API: the routes discord.py calls for this bot, backed by `Discord`.

Each handler gets the parsed body and the path's ids and returns (status, json). Routes
the bot should never call answer 404, and are recorded like the rest.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from aiohttp import web

from tests.discord.fakes import payloads as p
from tests.discord.fakes.payloads import EPHEMERAL, LOADING
from tests.discord.fakes.recorder import Call

if TYPE_CHECKING:
    from tests.discord.fakes.server import FakeDiscord

API_PREFIX = "/api/v10"
Result = tuple[int, Any]
Handler = Callable[["FakeDiscord", Call, re.Match[str]], Awaitable[Result]]
ROUTES: list[tuple[str, re.Pattern[str], Handler]] = []


def route(method: str, pattern: str) -> Callable[[Handler], Handler]:
    def add(handler: Handler) -> Handler:
        ROUTES.append((method, re.compile(pattern), handler))
        return handler

    return add


def error(status: int, code: int, message: str) -> Result:
    return status, {"code": code, "message": message}


async def handle(fake: FakeDiscord, request: web.Request) -> web.Response:
    path = request.path.removeprefix(API_PREFIX)
    call = Call(method=request.method, path=path, query=dict(request.query))
    await read_body(request, call)
    await fake.recorder.add(call)
    await fake.recorder.wait_if_held(call)
    status, body = await answer(fake, request, call)
    await fake.recorder.answered(call, status)
    if status == 204:
        return web.Response(status=204)
    # Exactly "application/json", as Discord sends it: discord.py parses nothing else.
    return web.Response(
        body=json.dumps(body).encode(), status=status, headers={"Content-Type": "application/json"}
    )


async def answer(fake: FakeDiscord, request: web.Request, call: Call) -> Result:
    webhook = call.path.startswith(("/webhooks/", "/interactions/"))
    if not webhook and request.headers.get("Authorization") != f"Bot {fake.token}":
        return error(401, 0, "401: Unauthorized")
    fault = fake.recorder.take_fault(call.method, call.path)
    if fault is not None:
        return error(fault.status, fault.code, fault.message)
    for method, pattern, handler in ROUTES:
        match = pattern.fullmatch(call.path)
        if method == call.method and match:
            return await handler(fake, call, match)
    return error(404, 0, f"404: the fake has no route {call.method} {call.path}")


async def read_body(request: web.Request, call: Call) -> None:
    if not request.body_exists:
        return
    if request.content_type.startswith("multipart/"):
        reader = await request.multipart()
        async for part in reader:
            if part.name == "payload_json":  # type: ignore[union-attr]
                call.json = json.loads(await part.text())  # type: ignore[union-attr]
            else:
                data = await part.read()  # type: ignore[union-attr]
                call.files.append((part.filename or "", bytes(data)))  # type: ignore[union-attr]
        return
    raw = await request.read()
    call.json = json.loads(raw) if raw else None


# -- login and gateway ------------------------------------------------------------------
@route("GET", r"/users/@me")
async def me(fake: FakeDiscord, call: Call, m: re.Match[str]) -> Result:
    return 200, fake.world.bot


@route("GET", r"/oauth2/applications/@me")
async def application(fake: FakeDiscord, call: Call, m: re.Match[str]) -> Result:
    return 200, {
        "id": str(fake.world.app_id),
        "name": "Meibel Test",
        "icon": None,
        "description": "",
        "rpc_origins": [],
        "bot_public": True,
        "bot_require_code_grant": False,
        "owner": fake.world.alice,
        "summary": "",
        "verify_key": "0" * 64,
        "team": None,
        "flags": fake.application_flags,
        "interactions_endpoint_url": None,
    }


@route("GET", r"/gateway(/bot)?")
async def gateway(fake: FakeDiscord, call: Call, m: re.Match[str]) -> Result:
    limit = {"total": 1000, "remaining": 1000, "reset_after": 0, "max_concurrency": 1}
    return 200, {"url": fake.gateway_url, "shards": 1, "session_start_limit": limit}


@route("PUT", r"/applications/(\d+)(?:/guilds/(\d+))?/commands")
async def sync_commands(fake: FakeDiscord, call: Call, m: re.Match[str]) -> Result:
    synced = []
    for command in call.json or []:
        item = {"id": str(p.snowflake()), "application_id": m[1], "version": "1", **command}
        item.setdefault("description", "")
        if m[2]:
            item["guild_id"] = m[2]
        synced.append(item)
    return 200, synced


# -- channels and messages --------------------------------------------------------------
@route("GET", r"/channels/(\d+)")
async def get_channel(fake: FakeDiscord, call: Call, m: re.Match[str]) -> Result:
    channel = fake.channels.get(int(m[1]))
    return (200, channel) if channel else error(404, 10003, "Unknown Channel")


@route("POST", r"/channels/(\d+)/typing")
async def typing(fake: FakeDiscord, call: Call, m: re.Match[str]) -> Result:
    return (204, None) if int(m[1]) in fake.channels else error(404, 10003, "Unknown Channel")


@route("POST", r"/channels/(\d+)/messages")
async def create_message(fake: FakeDiscord, call: Call, m: re.Match[str]) -> Result:
    channel = fake.channels.get(int(m[1]))
    if channel is None:
        return error(404, 10003, "Unknown Channel")
    return 200, await fake.bot_posts(channel, call.json or {}, files=call.files)


@route("GET", r"/channels/(\d+)/messages")
async def channel_history(fake: FakeDiscord, call: Call, m: re.Match[str]) -> Result:
    """Messages before `before`, newest first, at most `limit` (as Discord pages them);
    without the Message Content intent, as blank as the gateway shows them (Discord
    applies the intent to REST reads too)."""
    if int(m[1]) not in fake.channels:
        return error(404, 10003, "Unknown Channel")
    before = int(call.query.get("before") or 1 << 63)
    limit = int(call.query.get("limit") or 50)
    found = [
        fake._public(fake._as_seen(data))
        for mid, data in sorted(fake.messages.items(), reverse=True)
        if int(data["channel_id"]) == int(m[1]) and mid < before
    ]
    return 200, found[:limit]


@route("GET", r"/channels/(\d+)/messages/(\d+)")
async def get_message(fake: FakeDiscord, call: Call, m: re.Match[str]) -> Result:
    data = fake.messages.get(int(m[2]))
    if data is None or int(data["channel_id"]) != int(m[1]):
        return error(404, 10008, "Unknown Message")
    return 200, fake._public(fake._as_seen(data))


@route("PATCH", r"/channels/(\d+)/messages/(\d+)")
async def edit_message(fake: FakeDiscord, call: Call, m: re.Match[str]) -> Result:
    message = fake.messages.get(int(m[2]))
    if message is None or int(message["channel_id"]) != int(m[1]):
        return error(404, 10008, "Unknown Message")
    if int(message["author"]["id"]) != fake.world.bot_id:
        return error(403, 50005, "Cannot edit a message authored by another user")
    return 200, await fake.bot_edits(int(m[2]), call.json or {}, files=call.files)


@route("DELETE", r"/channels/(\d+)/messages/(\d+)")
async def delete_message(fake: FakeDiscord, call: Call, m: re.Match[str]) -> Result:
    message = fake.messages.get(int(m[2]))
    if message is None or int(message["channel_id"]) != int(m[1]):
        return error(404, 10008, "Unknown Message")
    del fake.messages[int(m[2])]
    return 204, None


@route("POST", r"/channels/(\d+)/messages/(\d+)/threads")
async def thread_from_message(fake: FakeDiscord, call: Call, m: re.Match[str]) -> Result:
    parent = fake.channels.get(int(m[1]))
    if parent is None or int(m[2]) not in fake.messages:
        return error(404, 10008, "Unknown Message")
    if int(m[2]) in fake.channels:
        return error(400, 160004, "A thread has already been created for this message")
    name = str((call.json or {}).get("name", ""))
    if not 1 <= len(name) <= 100:
        return error(400, 50035, "Invalid Form Body: name must be 1-100 characters")
    # As on Discord, a thread started from a message has that message's id.
    return 201, await fake.open_thread(parent, thread_id=int(m[2]), name=name)


@route("PUT", r"/channels/(\d+)/messages/(\d+)/reactions/([^/]+)/@me")
async def add_reaction(fake: FakeDiscord, call: Call, m: re.Match[str]) -> Result:
    data = fake.messages.get(int(m[2]))
    if data is None or int(data["channel_id"]) != int(m[1]):
        return error(404, 10008, "Unknown Message")
    fake.reactions.setdefault((int(m[1]), int(m[2])), set()).add(unquote(m[3]))
    return 204, None


@route("DELETE", r"/channels/(\d+)/messages/(\d+)/reactions/([^/]+)/@me")
async def remove_reaction(fake: FakeDiscord, call: Call, m: re.Match[str]) -> Result:
    fake.reactions.get((int(m[1]), int(m[2])), set()).discard(unquote(m[3]))
    return 204, None


@route("POST", r"/users/@me/channels")
async def open_dm(fake: FakeDiscord, call: Call, m: re.Match[str]) -> Result:
    recipient = int((call.json or {}).get("recipient_id", 0))
    return 200, fake.dm_with(recipient)


# -- interactions -----------------------------------------------------------------------
@route("POST", r"/interactions/(\d+)/([^/]+)/callback")
async def callback(fake: FakeDiscord, call: Call, m: re.Match[str]) -> Result:
    state = fake.interactions.get(m[2])
    if state is None or state.expired:
        return error(404, 10062, "Unknown interaction")
    if state.responded:
        return error(400, 40060, "Interaction has already been acknowledged.")
    state.responded = True
    body = call.json or {}
    kind, data = body.get("type"), body.get("data") or {}
    ephemeral = bool(int(data.get("flags", 0)) & EPHEMERAL)
    channel = fake.channels[state.channel_id]
    if kind == 7:  # the component's message is updated in place
        if state.message_id is None or state.message_id not in fake.messages:
            return error(404, 10008, "Unknown Message")
        message = await fake.bot_edits(state.message_id, data)
        interaction = {"id": str(state.id), "type": state.kind}
        return 200, {"interaction": interaction, "resource": {"type": kind, "message": message}}
    if kind == 5:  # deferred: Discord shows "thinking" in a message of its own
        data = {"content": "", "flags": LOADING | (EPHEMERAL if ephemeral else 0)}
    message = await fake.bot_posts(channel, data, webhook=True, echo=not ephemeral)
    if kind in (4, 5):
        state.original_id = int(message["id"])
    interaction = {
        "id": str(state.id),
        "type": state.kind,
        "response_message_id": message["id"],
        "response_message_loading": kind == 5,
        "response_message_ephemeral": ephemeral,
    }
    return 200, {"interaction": interaction, "resource": {"type": kind, "message": message}}


@route("PATCH", r"/webhooks/(\d+)/([^/]+)/messages/@original")
async def edit_original(fake: FakeDiscord, call: Call, m: re.Match[str]) -> Result:
    state = fake.interactions.get(m[2])
    if state is None or state.expired or state.original_id is None:
        return error(404, 10015, "Unknown Webhook")
    return 200, await fake.bot_edits(state.original_id, call.json or {})


@route("PATCH", r"/webhooks/(\d+)/([^/]+)/messages/(\d+)")
async def edit_followup(fake: FakeDiscord, call: Call, m: re.Match[str]) -> Result:
    state = fake.interactions.get(m[2])
    if state is None or state.expired:
        return error(404, 10015, "Unknown Webhook")
    if int(m[3]) not in fake.messages:
        return error(404, 10008, "Unknown Message")
    return 200, await fake.bot_edits(int(m[3]), call.json or {}, files=call.files)


@route("DELETE", r"/webhooks/(\d+)/([^/]+)/messages/(\d+)")
async def delete_followup(fake: FakeDiscord, call: Call, m: re.Match[str]) -> Result:
    state = fake.interactions.get(m[2])
    if state is None or state.expired:
        return error(404, 10015, "Unknown Webhook")
    if fake.messages.pop(int(m[3]), None) is None:
        return error(404, 10008, "Unknown Message")
    return 204, None


@route("POST", r"/webhooks/(\d+)/([^/]+)")
async def followup(fake: FakeDiscord, call: Call, m: re.Match[str]) -> Result:
    state = fake.interactions.get(m[2])
    if state is None or state.expired:
        return error(404, 10015, "Unknown Webhook")
    body = call.json or {}
    original = fake.messages.get(state.original_id or 0)
    if original is not None and original["flags"] & LOADING:
        # The first follow-up after a deferral replaces the "thinking" message.
        return 200, await fake.bot_edits(state.original_id or 0, body)
    ephemeral = bool(int(body.get("flags", 0)) & EPHEMERAL)
    channel = fake.channels[state.channel_id]
    return 200, await fake.bot_posts(
        channel, body, files=call.files, webhook=True, echo=not ephemeral
    )
