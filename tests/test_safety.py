"""The core's output-safety step, on adversarial agent text: no ping survives, no link text
names another host than its target, streamed prefixes never need taking back."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.safety import ZWSP, safe_markdown, safe_prefix
from tests.adversarial import lying_links, pings, texts


@settings(max_examples=400)
@given(texts)
def test_no_ping_survives(text: str) -> None:
    assert pings(safe_markdown(text)) == []


@settings(max_examples=400)
@given(texts)
def test_no_link_shows_a_host_other_than_its_target(text: str) -> None:
    assert lying_links(safe_markdown(text)) == []


@settings(max_examples=400)
@given(texts, st.data())
def test_streamed_prefixes_are_never_taken_back(text: str, data: st.DataObject) -> None:
    cut = data.draw(st.integers(min_value=0, max_value=len(text)))
    assert safe_markdown(text).startswith(safe_prefix(text[:cut]))
    assert pings(safe_prefix(text[:cut])) == []


@settings(max_examples=200)
@given(
    st.text(st.characters(exclude_categories=["Cc"], exclude_characters="<@[\u200b"), max_size=80)
)
def test_text_without_pings_or_links_is_left_as_it_is(text: str) -> None:
    assert safe_markdown(text) == text


def test_the_reported_attacks() -> None:
    assert safe_markdown("Heads up <!channel> and <@U0ADMIN>") == (
        f"Heads up <{ZWSP}!channel> and <{ZWSP}@U0ADMIN>"
    )
    assert safe_markdown("[https://sso.example.com](https://evil.example/phish)") == (
        "[evil.example](https://evil.example/phish)"
    )
    assert safe_markdown("<https://evil.example/phish|sso.example.com>") == (
        "[evil.example](https://evil.example/phish)"
    )
    assert safe_markdown("@everyone look, <!subteam^S1|@admins> <@&42> <#C1>") == (
        f"@{ZWSP}everyone look, <{ZWSP}!subteam^S1|@admins> <{ZWSP}@&42> <{ZWSP}#C1>"
    )


def test_markdown_and_honest_links_stay_as_they_are() -> None:
    text = (
        "## Steps\n\n1. **Open** [the docs](https://docs.example.com/a_(b))\n"
        "2. See [docs.example.com](https://docs.example.com/x) and https://x.com/@everyone\n"
        "```python\nprint('hi')\n```"
    )
    assert safe_markdown(text) == text


def test_a_long_stream_costs_linear_time() -> None:
    text = "word [link](https://example.com/a) @someone <b> " * 4000  # about 200k characters
    cuts = range(0, len(text), 4096)
    for cut in cuts:
        assert safe_markdown(text).startswith(safe_prefix(text[:cut]))
