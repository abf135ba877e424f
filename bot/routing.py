"""Which Meibel agent answers where: the default agent and the AGENT_ROUTES table."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True, slots=True)
class AgentRef:
    """An agent named by its id or by its stable kebab-case name."""

    kind: Literal["id", "name"]
    value: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}"

    @classmethod
    def parse(cls, text: str) -> AgentRef:
        kind, sep, value = text.partition(":")
        if not sep or not value or kind not in ("id", "name"):
            raise ValueError(f"not an agent reference: {text!r}")
        return cls("id" if kind == "id" else "name", value)


def parse_routes(text: str) -> dict[str, str]:
    """Parse `slack:C0123=support-agent,discord:98765=community-agent`.

    Keys are `<platform>:<channel or workspace id>`, values agent names. Raises ValueError
    with a message naming the bad entry.
    """
    routes: dict[str, str] = {}
    for raw in text.replace("\n", ",").split(","):
        entry = raw.strip()
        if not entry:
            continue
        where, sep, agent = entry.partition("=")
        platform, colon, place = where.strip().partition(":")
        agent = agent.strip()
        if not sep or not colon or not platform or not place.strip() or not agent:
            raise ValueError(
                f"bad entry {entry!r}: expected <platform>:<channel or workspace id>=<agent-name>"
            )
        routes[f"{platform.strip().lower()}:{place.strip()}"] = agent
    return routes


@dataclass(frozen=True, slots=True)
class Router:
    """Picks the agent for a new thread: channel route, then workspace route, then default."""

    default: AgentRef
    routes: dict[str, str]

    def agent_for(self, *, platform: str, workspace: str, channel: str) -> AgentRef:
        for place in (channel, workspace):
            name = self.routes.get(f"{platform}:{place}")
            if name:
                return AgentRef("name", name)
        return self.default
