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


# The platform names the adapters put in thread keys, exactly as written there.
PLATFORMS: tuple[str, ...] = ("slack", "discord", "terminal")
ROUTE_SHAPE = "<platform>:<channel or workspace id>=<agent-name>"


def parse_routes(text: str) -> dict[str, str]:
    """Parse `slack:C0123=support-agent,discord:98765=community-agent`.

    Keys are `<platform>:<channel or workspace id>`, values agent names. Raises ValueError
    with one line naming the bad entry: an unknown platform (or one in another case), an
    empty entry (two commas, a trailing comma) or a malformed one.
    """
    routes: dict[str, str] = {}
    if not text.strip():
        return routes
    for number, raw in enumerate(text.strip().replace("\n", ",").split(","), start=1):
        entry = raw.strip()
        if not entry:
            raise ValueError(
                f"entry {number} is empty (two commas in a row, or a comma at the end)"
            )
        where, sep, agent = entry.partition("=")
        platform, colon, place = where.strip().partition(":")
        agent = agent.strip()
        if not sep or not colon or not platform or not place.strip() or not agent:
            raise ValueError(f"bad entry {entry!r}: expected {ROUTE_SHAPE}")
        if platform.strip() not in PLATFORMS:
            raise ValueError(
                f"bad entry {entry!r}: unknown platform {platform.strip()!r} "
                f"(known, in lower case: {', '.join(PLATFORMS)})"
            )
        routes[f"{platform.strip()}:{place.strip()}"] = agent
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
