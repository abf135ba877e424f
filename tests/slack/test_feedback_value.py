"""Feedback button values round-trip whatever the signal id holds."""

from __future__ import annotations

import pytest

from adapters.slack.clicks import parse_feedback


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("up:sig_1", ("positive", "sig_1")),
        ("down:sig:with:colons", ("negative", "sig:with:colons")),
        ("positive|sig|pipe", ("positive", "sig|pipe")),
        ("up:", ("positive", None)),
        ("sideways:sig_1", ("unknown", None)),
    ],
)
def test_feedback_values(value: str, expected: tuple[str, str | None]) -> None:
    assert parse_feedback(value) == expected
