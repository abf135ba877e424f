"""Markdown -> Slack mrkdwn, construct by construct, and cutting mrkdwn into Slack-sized pieces."""

from __future__ import annotations

import re

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from adapters.slack.mrkdwn import Kind, chunks, link, safe_url, to_plain
from adapters.slack.render import to_mrkdwn
from adapters.slack.split import slack_len, split_mrkdwn, truncate


@pytest.mark.parametrize(
    ("markdown", "mrkdwn"),
    [
        ("**bold** and __bold__", "*bold* and *bold*"),
        ("*italics* and _italics_", "_italics_ and _italics_"),
        ("~~gone~~", "~gone~"),
        ("***both***", "_*both*_"),
        ("**two\nlines**", "*two*\n*lines*"),
        (
            "[the docs](https://example.com/a?b=1&c=2)",
            "<https://example.com/a?b=1&amp;c=2|the docs>",
        ),
        ("<https://example.com>", "<https://example.com>"),
        ("see https://example.com/x?a=1&b=2 now", "see https://example.com/x?a=1&amp;b=2 now"),
        ("[a|b > c](https://example.com)", "<https://example.com|a\u2223b &gt; c>"),
        ("[**bold** label](https://example.com)", "<https://example.com|bold label>"),
        ("[mail me](mailto:a@example.com)", "<mailto:a@example.com|mail me>"),
        ("[relative](/docs/page)", "relative (/docs/page)"),
        ("[bad](javascript:alert(1))", "[bad](javascript:alert(1))"),
        ("![a chart](https://example.com/c.png)", "<https://example.com/c.png|a chart>"),
        ("5 > 3 & 2 < 4", "5 &gt; 3 &amp; 2 &lt; 4"),
        ("<@U123> <!channel> <b>hi</b>", "&lt;@U123&gt; &lt;!channel&gt; &lt;b&gt;hi&lt;/b&gt;"),
        ("AT&amp;T &lt;tag&gt;", "AT&amp;T &lt;tag&gt;"),
        ("use `a < b && *c*`", "use `a &lt; b &amp;&amp; *c*`"),
        ("`` a`b ``", "`a\u02cbb`"),
        ("# Title", "*Title*"),
        ("### Deep **bold** title", "*Deep bold title*"),
        ("Setext\n===", "*Setext*"),
        ("- one\n- two", "• one\n• two"),
        ("* one\n  * nested\n    * deeper\n* two", "• one\n    • nested\n        • deeper\n• two"),
        ("1. one\n2. two\n   - sub", "1. one\n2. two\n    • sub"),
        ("3. three\n4. four", "3. three\n4. four"),
        ("- item\n\n  second paragraph", "• item\n    second paragraph"),
        ("> quoted **text**\n> more", "> quoted *text*\n> more"),
        ("> outer\n>> inner", "> outer\n> > inner"),
        ("```python\nx = 1 < 2  # **no**\n```", "```\nx = 1 &lt; 2  # **no**\n```"),
        ("```\nunclosed <fence>\n\nstill code", "```\nunclosed &lt;fence&gt;\n\nstill code\n```"),
        ("    indented code", "```\nindented code\n```"),
        ("```\n```", ""),
        ("a\n\n---\n\nb", "a\n\n———\n\nb"),
        ("| a | b |\n|---|---|\n| 1 | 22 |", "```\na | b\n--+---\n1 | 22\n```"),
        ("Code with a fence: ``` inside", "Code with a fence: ``\u200b` inside"),
        ("para one\n\npara two", "para one\n\npara two"),
        ("line one\nline two", "line one\nline two"),
        ("", ""),
        ("   \n\n  ", ""),
    ],
)
def test_markdown_becomes_mrkdwn(markdown: str, mrkdwn: str) -> None:
    assert to_mrkdwn(markdown) == mrkdwn


def test_control_characters_and_lone_surrogates_are_dropped() -> None:
    assert to_mrkdwn("a\x00b\x07c\ud800d\r\ne") == "abcd\ne"


def test_headings_keep_their_plain_text_and_level() -> None:
    first, second = chunks("# Hello *there* & <you>\n\n## Next")
    assert (first.kind, first.plain, first.level) == (Kind.HEADING, "Hello there & <you>", 1)
    assert first.text == "*Hello there &amp; &lt;you&gt;*"
    assert (second.kind, second.level) == (Kind.HEADING, 2)


def test_nesting_past_the_parser_limit_keeps_every_word() -> None:
    deep = ">" * 60 + " bottom"
    assert "bottom" in to_mrkdwn(deep)
    listy = "\n".join("  " * depth + f"- level{depth}" for depth in range(30))
    rendered = to_mrkdwn(listy)
    assert all(f"level{depth}" in rendered for depth in range(30))


def test_plain_text_has_no_markup() -> None:
    plain = to_plain("# Title\n\n**bold** [link](https://x.io) `code`\n\n- item")
    assert plain == "Title bold link code item"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://example.com/a b", "https://example.com/a%20b"),
        ("https://example.com/?q=<x>|y", "https://example.com/?q=%3Cx%3E%7Cy"),
        ("https://example.com/?a=1&b=2", "https://example.com/?a=1&amp;b=2"),
        ("ftp://example.com", None),
        ("javascript:alert(1)", None),
        ("https://", None),
        ("https://example.com/" + "x" * 3000, None),
    ],
)
def test_urls_are_made_safe_inside_links(url: str, expected: str | None) -> None:
    assert safe_url(url) == expected


def test_a_link_too_long_to_link_keeps_label_and_url_as_text() -> None:
    url = "https://example.com/" + "x" * 2500
    assert link(url, "label") == f"label ({url})"
    assert link("https://example.com", "y" * 600) == f"{'y' * 600} (<https://example.com>)"


# --- cutting -----------------------------------------------------------------------------


def test_short_text_is_one_piece() -> None:
    assert split_mrkdwn("\nhello\n", 100) == ["hello"]
    assert split_mrkdwn("  \n ", 100) == []


def test_cuts_prefer_paragraphs_then_lines_then_sentences_then_words() -> None:
    para = "First sentence here. Second sentence here."
    assert split_mrkdwn(f"{para}\n\n{para}", 60) == [para, para]
    assert split_mrkdwn(f"{para}\n{para}", 60) == [para, para]
    assert split_mrkdwn(para, 40) == ["First sentence here.", "Second sentence here."]
    assert split_mrkdwn("alpha beta gamma delta epsilon zeta", 30) == [
        "alpha beta gamma delta",
        "epsilon zeta",
    ]


def test_a_line_after_a_word_cut_stays_on_its_own_line() -> None:
    pieces = split_mrkdwn("aaa " + "y" * 3500 + "\n> quoted", 3000)
    assert pieces[0] == "aaa"
    assert pieces[-1].endswith("y\n> quoted")


def test_a_cut_code_block_is_closed_and_reopened() -> None:
    code = "```\n" + "\n".join(f"line {i}" for i in range(40)) + "\n```"
    pieces = split_mrkdwn(f"Intro.\n\n{code}\n\nOutro.", 120)
    assert len(pieces) > 2
    for piece in pieces:
        assert piece.count("```") % 2 == 0, piece
        assert slack_len(piece) <= 120
    joined = "\n".join(pieces)
    assert all(f"line {i}" in joined for i in range(40))


def test_links_entities_and_glyphs_are_never_cut_through() -> None:
    text = " ".join(["<https://example.com/page|a long label with words>"] * 20)
    for piece in split_mrkdwn(text, 120):
        assert re.fullmatch(r"(<https://example\.com/page\|a long label with words> ?)+", piece)
    for piece in split_mrkdwn("&amp;" * 100, 50):
        assert re.fullmatch(r"(&amp;)+", piece)
    family = "👨\u200d👩\u200d👧"
    for piece in split_mrkdwn(family * 40, 50):
        assert re.fullmatch(f"({family})+", piece)
    accented = "e\u0301" * 100
    for piece in split_mrkdwn(accented, 50):
        assert not piece.startswith("\u0301")


def test_slack_len_counts_utf16_units() -> None:
    assert slack_len("ab") == 2
    assert slack_len("😀") == 2
    assert slack_len("é") == 1


def test_truncate_marks_the_cut() -> None:
    assert truncate("short", 10) == "short"
    assert truncate("a" * 100, 10) == "a" * 9 + "…"
    assert slack_len(truncate("😀" * 100, 11)) <= 11


words = st.text(st.characters(categories=["L", "N", "So"]), min_size=1, max_size=12)
separators = st.sampled_from(
    [" ", " ", " ", "\n", "\n\n", ". ", "", "```\n", "\n```\n", " & ", "<", "|"]
)


@settings(max_examples=150, deadline=None)
@example(parts=[("abc", "")] * 2000, repeat=3, limit=100)  # one 18,000-char word
@example(parts=[("x", "```\n")] * 500, repeat=2, limit=61)  # fence after fence
@example(parts=[("é́́", " ")] * 300, repeat=1, limit=70)
@given(
    st.lists(st.tuples(words, separators), max_size=200), st.integers(1, 40), st.integers(60, 3000)
)
def test_every_piece_fits_and_nothing_is_lost(
    parts: list[tuple[str, str]], repeat: int, limit: int
) -> None:
    text = to_mrkdwn("".join(w + s for w, s in parts) * repeat)
    pieces = split_mrkdwn(text, limit)
    for piece in pieces:
        assert 0 < slack_len(piece) <= limit
        assert piece.strip()
        assert piece.count("```") % 2 == 0
        # A slice of the text as it was, but for the fences that close and reopen a cut block.
        assert any(
            cut in text
            for cut in (
                piece,
                piece.removeprefix("```\n"),
                piece.removesuffix("\n```"),
                piece.removeprefix("```\n").removesuffix("\n```"),
            )
        ), piece
    # In order, all of it, once.
    assert squashed("".join(pieces)) == squashed(text)
    for word, _ in parts:
        assert word in squashed(text)


def squashed(text: str) -> str:
    return re.sub(r"\s|`", "", text)
