"""Which Meibel execution policies a new session starts with: access follows the channel.

EXECUTION_POLICIES names policy ids (`+`-joined) per place, in AGENT_ROUTES' syntax plus a
`default` entry:

    default=pol_kb,slack:C0HR=pol_hr+pol_kb,discord:98765=pol_community

A channel's entry wins over its workspace's (or guild's), which wins over the default.
EXTERNAL_EXECUTION_POLICIES, when set, replaces all of them in places shared with other
organisations (a Slack Connect channel): people from outside can read every answer there.
The session is started with the result (`execution_policy_ids`); Meibel enforces it at run
time, and the agent cannot bypass it. Policies depend only on the place, so every turn of a
thread runs under the policies its session started with.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.routing import parse_routes

DEFAULT = "default"


@dataclass(frozen=True, slots=True)
class PolicyRules:
    default: tuple[str, ...] = ()
    routes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    external: tuple[str, ...] | None = None  # None: shared places use the rules above
    refuse_external: bool = False  # REFUSE_EXTERNAL_USERS: no answers to other organisations

    def for_place(
        self, *, platform: str, workspace: str, channel: str, shared: bool
    ) -> tuple[str, ...]:
        """The policy ids of a new session here; empty: none (the agent's own defaults)."""
        if shared and self.external is not None:
            return self.external
        for place in (channel, workspace):
            ids = self.routes.get(f"{platform}:{place}")
            if ids:
                return ids
        return self.default


def parse_policies(
    routes: str, external: str = "", *, refuse_external: bool = False
) -> PolicyRules:
    """EXECUTION_POLICIES and EXTERNAL_EXECUTION_POLICIES; ValueError names a bad entry."""
    default: tuple[str, ...] = ()
    entries = []
    for raw in routes.strip().replace("\n", ",").split(",") if routes.strip() else ():
        name, sep, value = raw.strip().partition("=")
        if name.strip() == DEFAULT and sep:
            default = policy_ids(value, what=raw.strip())
        else:
            entries.append(raw)
    parsed = parse_routes(",".join(entries)) if entries else {}
    return PolicyRules(
        default=default,
        routes={place: policy_ids(ids, what=f"{place}={ids}") for place, ids in parsed.items()},
        external=policy_ids(external, what=external) if external.strip() else None,
        refuse_external=refuse_external,
    )


def policy_ids(text: str, *, what: str) -> tuple[str, ...]:
    ids = tuple(part.strip() for part in text.split("+"))
    if not ids or any(not part or " " in part for part in ids):
        raise ValueError(f"bad entry {what!r}: expected policy ids joined by '+'")
    return ids
