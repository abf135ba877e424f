"""Request validation and error answers in the shapes the Meibel API uses."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from bot.devserver.keys import RECORD, error_response


def validation_response(errors: list[dict[str, Any]]) -> web.Response:
    """422 in FastAPI's shape, which the spec's HTTPValidationError describes."""
    return web.json_response({"detail": errors}, status=422)


def pydantic_errors(exc: PydanticValidationError) -> list[dict[str, Any]]:
    return [
        {"loc": ["body", *err["loc"]], "msg": err["msg"], "type": err["type"]}
        for err in exc.errors(include_url=False)
    ]


def session_not_found() -> web.Response:
    return error_response(404, "not_found", "Session not found")


def parse_json_body(request: web.Request, model: type[BaseModel], *, required: bool) -> Any:
    """The validated body, or a 422 response. Strict: the stand-in must catch a client that
    sends "30" for an integer even if a lenient server would let it pass."""
    record = request[RECORD]
    raw = record.raw_body
    if not raw.strip():
        if not required:
            return model()
        return validation_response([{"loc": ["body"], "msg": "Field required", "type": "missing"}])
    try:
        data = json.loads(raw)
    except ValueError as exc:
        pos = getattr(exc, "pos", 0)
        return validation_response(
            [
                {
                    "loc": ["body", pos],
                    "msg": "JSON decode error",
                    "type": "json_invalid",
                    "ctx": {"error": str(getattr(exc, "msg", exc))},
                }
            ]
        )
    try:
        return model.model_validate(data, strict=True)
    except PydanticValidationError as exc:
        return validation_response(pydantic_errors(exc))
