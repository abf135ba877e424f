"""EXECUTION_POLICIES as an admin writes it: precedence, and one clear line when wrong."""

from __future__ import annotations

import pytest

from bot.policies import parse_policies
from bot.settings import Settings


def test_channel_beats_workspace_beats_default_and_shared_places_get_the_external_ones() -> None:
    rules = parse_policies("default=pol_a,slack:T1=pol_b,slack:C1=pol_c+pol_d", "pol_x")
    where = {"platform": "slack", "workspace": "T1"}
    assert rules.for_place(**where, channel="C1", shared=False) == ("pol_c", "pol_d")
    assert rules.for_place(**where, channel="C2", shared=False) == ("pol_b",)
    assert rules.for_place(platform="discord", workspace="9", channel="8", shared=False) == (
        "pol_a",
    )
    assert rules.for_place(**where, channel="C1", shared=True) == ("pol_x",)
    assert parse_policies("").for_place(**where, channel="C1", shared=True) == ()


@pytest.mark.parametrize(
    ("routes", "external", "words"),
    [
        ("teams:C1=pol_a", "", "unknown platform"),
        ("slack:C1=pol_a,", "", "empty"),
        ("slack:C1=pol_a++pol_b", "", "policy ids joined by '+'"),
        ("", "pol a", "policy ids joined by '+'"),
    ],
)
def test_a_bad_entry_is_refused_in_one_line(routes: str, external: str, words: str) -> None:
    with pytest.raises(ValueError) as caught:
        Settings(
            _env_file=None,  # type: ignore[call-arg]
            execution_policies=routes,
            external_execution_policies=external,
        )
    assert words in str(caught.value)
