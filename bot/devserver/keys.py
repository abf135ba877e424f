"""What the dev server's app and its handlers share: the API prefix, the keys under which
the server and each request's record are kept, and the error body. A module of its own so
the handlers need not import the server that imports them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from bot.devserver.recording import RecordedRequest

if TYPE_CHECKING:
    from bot.devserver.app import DevServer

API_PREFIX = "/v2"
RECORD = web.RequestKey("meibel_record", RecordedRequest)
SERVER: web.AppKey[DevServer] = web.AppKey("meibel_devserver")


def error_response(status: int, code: str, message: str, **headers: str) -> web.Response:
    return web.json_response({"code": code, "message": message}, status=status, headers=headers)
