"""The /v2 endpoints for agents and sessions; chat lives in bot.devserver.chat."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from bot.devserver.chat import chat, chat_stream
from bot.devserver.keys import API_PREFIX, SERVER, error_response
from bot.devserver.state import AgentInfo, is_missing, synthesize_agent
from bot.devserver.validation import parse_json_body, session_not_found, validation_response
from bot.meibel.models import CreateSessionRequest

if TYPE_CHECKING:
    from bot.devserver.app import DevServer


def add_routes(app: web.Application) -> None:
    p = API_PREFIX
    app.router.add_get(f"{p}/agents", list_agents)
    app.router.add_get(f"{p}/agents/{{agent_id}}", get_agent)
    app.router.add_post(f"{p}/agents/{{agent_id}}/sessions", create_session_by_id)
    app.router.add_get(f"{p}/agents/{{agent_id}}/sessions", list_sessions)
    app.router.add_post(f"{p}/agents/name/{{name}}/sessions", create_session_by_name)
    app.router.add_get(f"{p}/sessions/{{session_id}}", get_session)
    app.router.add_get(f"{p}/sessions/{{session_id}}/messages", get_messages)
    app.router.add_post(f"{p}/sessions/{{session_id}}/chat", chat)
    app.router.add_post(f"{p}/sessions/{{session_id}}/chat/stream", chat_stream)


# -- agents ---------------------------------------------------------------------------
def _int_query(request: web.Request, name: str, default: int) -> int | web.Response:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0:
        return validation_response(
            [
                {
                    "loc": ["query", name],
                    "msg": "Input should be a valid integer",
                    "type": "int_parsing",
                }
            ]
        )
    return value


async def list_agents(request: web.Request) -> web.Response:
    server = request.app[SERVER]
    offset, limit = _int_query(request, "offset", 0), _int_query(request, "limit", 20)
    if isinstance(offset, web.Response):
        return offset
    if isinstance(limit, web.Response):
        return limit
    agents = list(server.agents.values())
    if request.query.get("published_only", "").lower() in ("1", "true"):
        agents = [a for a in agents if a.published]
    page = [a.as_json() for a in agents[offset : offset + limit]]
    return web.json_response({"data": page, "total": len(agents), "offset": offset, "limit": limit})


def _agent_by_id(server: DevServer, agent_id: str) -> AgentInfo | None:
    if is_missing(agent_id):
        return None
    return server.agents.get(agent_id) or synthesize_agent(agent_id)


async def get_agent(request: web.Request) -> web.Response:
    agent = _agent_by_id(request.app[SERVER], request.match_info["agent_id"])
    if agent is None:
        return error_response(404, "not_found", "Agent not found")
    return web.json_response(agent.as_json())


async def _create_session(request: web.Request, agent: AgentInfo) -> web.Response:
    body = parse_json_body(request, CreateSessionRequest, required=False)
    if isinstance(body, web.Response):
        return body
    session = request.app[SERVER]._new_session(agent, body.model_dump(exclude_none=True))
    return web.json_response({"session_id": session.session_id})


async def create_session_by_id(request: web.Request) -> web.Response:
    agent = _agent_by_id(request.app[SERVER], request.match_info["agent_id"])
    if agent is None:
        return error_response(404, "not_found", "Agent not found")
    return await _create_session(request, agent)


async def create_session_by_name(request: web.Request) -> web.Response:
    server, name = request.app[SERVER], request.match_info["name"]
    agent = next((a for a in server.agents.values() if a.name == name), None)
    if agent is None and not is_missing(name):
        agent = synthesize_agent(name)
    if agent is None or not agent.published:
        return error_response(404, "not_found", f"Agent '{name}' has no published version")
    return await _create_session(request, agent)


async def list_sessions(request: web.Request) -> web.Response:
    server, agent_id = request.app[SERVER], request.match_info["agent_id"]
    offset, limit = _int_query(request, "offset", 0), _int_query(request, "limit", 20)
    if isinstance(offset, web.Response):
        return offset
    if isinstance(limit, web.Response):
        return limit
    found = [s.summary() for s in server.sessions.values() if s.agent.id == agent_id]
    page = found[offset : offset + limit]
    return web.json_response({"data": page, "total": len(found), "offset": offset, "limit": limit})


async def get_session(request: web.Request) -> web.Response:
    session = request.app[SERVER].sessions.get(request.match_info["session_id"])
    return session_not_found() if session is None else web.json_response(session.detail())


async def get_messages(request: web.Request) -> web.Response:
    session = request.app[SERVER].sessions.get(request.match_info["session_id"])
    if session is None:
        return session_not_found()
    info = session.summary()
    keep = ("agent_id", "agent_name", "version")
    return web.json_response({**{k: info[k] for k in keep}, "messages": session.messages()})
