"""The Discord renderer against every Discord limit, for any answer.

Property tests throw huge texts, hundreds of sources, long follow-ups, many actions, odd
Unicode, code fences and would-be pings at render_answer and check what Discord would
check (and what a reader would notice missing); example tests pin the visible behaviour.
"""

from __future__ import annotations

import io
import re
from typing import Any, cast

import discord
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.discord.attachments import MAX_UPLOAD_BYTES
from adapters.discord.render import (
    EMPTY_ANSWER,
    ButtonKeys,
    DiscordMessage,
    render_answer,
    render_notice,
    split_text,
)
from adapters.discord.text import clean
from bot.domain import Answer, Artifact, CallToAction, Source
from bot.replies import SESSION_RESTARTED

ZWSP = "\u200b"
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Text that has broken chat renderers before: RTL, combining marks, ZWJ emoji, CJK
# without spaces, astral characters, lookalike quotes, Markdown punctuation, pings.
ODD = [
    "مرحبا",
    "e\u0301\u0301",
    "👩\u200d👩\u200d👧\u200d👦",
    "🏳️\u200d🌈",
    "漢字かな交じり文。次の文！",  # noqa: RUF001 (the point of the list)
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢",  # noqa: RUF001
    "“quoted.”",
    "**bold**",
    "_it_",
    "[link](https://example.com/a_(b))",
    "@everyone",
    "@here",
    "<@123>",
    "<@!123456789012345678>",
    "<@&456>",
    "@Everyone!",
    "`tick`",
]
words = st.one_of(
    st.sampled_from(ODD),
    st.from_regex(r"[A-Za-z0-9]{1,12}[.,!?]?", fullmatch=True),
    st.text(
        st.characters(exclude_categories=("Cs", "Cc", "Zs", "Zl", "Zp")), min_size=1, max_size=8
    ).filter(lambda w: "`" not in w and not w.isspace()),
    st.integers(300, 2600).map(lambda n: "x" * n),  # longer than a part: cut mid-word
)
separators = st.sampled_from([" ", " ", " ", "\n", "\n\n", ". ", "\n- ", "\n\n## "])


@st.composite
def prose(draw: st.DrawFn) -> str:
    items = draw(st.lists(st.tuples(words, separators), min_size=1, max_size=60))
    return "".join(word + sep for word, sep in items).strip()


@st.composite
def code_block(draw: st.DrawFn) -> str:
    lang = draw(st.sampled_from(["", "python", "c++", "objective-c", "sh"]))
    line = st.from_regex(r"[ ]{0,8}[A-Za-z0-9_=(){}:;'\"+*/ .,<>@-]{0,120}", fullmatch=True)
    lines = draw(st.lists(line, min_size=1, max_size=80))
    return f"```{lang}\n" + "\n".join(lines) + "\n```"


@st.composite
def markdown(draw: st.DrawFn) -> str:
    blocks = draw(st.lists(st.one_of(prose(), code_block()), min_size=0, max_size=6))
    repeat = draw(st.sampled_from([1, 1, 1, 3, 12]))  # up to ~100k characters
    return "\n\n".join(blocks * repeat)


titles = st.one_of(st.sampled_from([*ODD, "", "   ", "a]b(c)[d", "T" * 400]), st.text(max_size=40))
urls = st.one_of(
    st.none(),
    st.sampled_from(
        [
            "https://example.com/docs",
            "https://example.com/a b/(x)",
            "http://example.com/?q=1&r=[2]",
            "https://example.com/" + "p" * 3000,
            "javascript:alert(1)",
            "ftp://example.com/file",
        ]
    ),
)
sources = st.lists(st.builds(Source, title=titles, url=urls), max_size=3) | st.integers(
    150, 260
).map(lambda n: [Source(f"Source {i} [v2](draft)", f"https://example.com/s/{i}") for i in range(n)])
questions = st.one_of(
    st.sampled_from(["", "  ", "What next?", "@everyone look", "Why?\nBecause."]),
    st.text(min_size=1, max_size=200),
    st.integers(81, 300).map(lambda n: "How " + "very " * (n // 5) + "long?"),
)
action_urls = st.one_of(
    st.none(),
    st.sampled_from(
        ["https://example.com/go", "https://example.com/" + "q" * 600, "https://x.y/a b"]
    ),
)
actions = st.builds(
    CallToAction,
    label=st.one_of(st.text(max_size=120), st.just("")),
    action=st.sampled_from(["open_url", "create_ticket", ""]),
    action_data=action_urls.map(lambda u: {"url": u} if u else None),
)
artifacts = st.builds(
    Artifact,
    artifact_id=st.just("a1"),
    filename=st.sampled_from(["report.txt", "../../etc/passwd", "", "数据.csv", "a" * 300]),
    mime_type=st.sampled_from(["text/plain", "text/csv", "application/json"]),
    content=st.one_of(st.none(), st.just(""), st.text(max_size=50)),
    storage_url=st.one_of(st.none(), st.just("https://files.example.com/x.pdf")),
)
keys = st.from_regex(r"[0-9a-f]{16}", fullmatch=True)


@st.composite
def answers(draw: st.DrawFn) -> tuple[Answer, ButtonKeys]:
    # Mostly a few, sometimes more than the 5x5 button grid holds.
    follow_ups = draw(
        st.lists(questions, max_size=5) | st.lists(questions, min_size=20, max_size=30)
    )
    acts = draw(st.lists(actions, max_size=4) | st.lists(actions, min_size=10, max_size=30))
    answer = Answer(
        text=draw(markdown()),
        sources=tuple(draw(sources)),
        follow_ups=tuple(follow_ups),
        actions=tuple(acts),
        artifacts=tuple(
            draw(st.lists(artifacts, max_size=3) | st.lists(artifacts, min_size=9, max_size=14))
        ),
        session_restarted=draw(st.booleans()),
    )
    fu_keys = draw(st.lists(keys, min_size=len(follow_ups), max_size=len(follow_ups)))
    act_keys = draw(st.lists(st.none() | keys, min_size=len(acts), max_size=len(acts)))
    return answer, ButtonKeys(follow_ups=fu_keys, actions=act_keys)


# --- what Discord checks --------------------------------------------------------------


def assert_pings_no_one(message: DiscordMessage) -> None:
    mentions = message.allowed_mentions.to_dict()
    assert mentions["parse"] == []
    assert not mentions.get("users") and not mentions.get("roles")
    assert not mentions.get("replied_user")
    outside_urls = re.sub(r"https?://[^\s<>()]+", "", message.content)
    assert not re.search(r"@(everyone|here)", outside_urls, re.IGNORECASE)


def assert_embed_limits(embeds: list[discord.Embed]) -> None:
    assert len(embeds) <= 10
    assert sum(len(embed) for embed in embeds) <= 6000
    for embed in embeds:
        data = embed.to_dict()
        assert len(data.get("title", "")) <= 256
        assert len(data.get("description", "")) <= 4096
        assert len(data.get("fields", [])) <= 25
        for item in data.get("fields", []):
            assert len(item["name"]) <= 256 and len(item["value"]) <= 1024
        assert len(data.get("footer", {}).get("text", "")) <= 2048


def components(message: DiscordMessage) -> list[dict[str, Any]]:
    return message.view.to_components() if message.view else []


def assert_component_limits(message: DiscordMessage) -> None:
    rows = components(message)
    assert len(rows) <= 5
    custom_ids = []
    for row in rows:
        assert row["type"] == 1 and 1 <= len(row["components"]) <= 5
        for button in row["components"]:
            assert 1 <= len(button["label"]) <= 80
            if button["style"] == 5:
                assert button["url"].startswith(("http://", "https://"))
                assert len(button["url"]) <= 512 and " " not in button["url"]
            else:
                assert 1 <= len(button["custom_id"]) <= 100
                custom_ids.append(button["custom_id"])
    assert len(custom_ids) == len(set(custom_ids))
    if message.view is not None:
        assert message.view.timeout is None and message.view.is_persistent()


def assert_message_limits(message: DiscordMessage) -> None:
    assert len(message.content) <= 2000
    assert message.content or message.embeds or message.files or message.view
    assert message.content.count("```") % 2 == 0
    assert_pings_no_one(message)
    assert_embed_limits(message.embeds)
    assert_component_limits(message)
    assert len(message.files) <= 10
    assert sum(len(cast(io.BytesIO, f.fp).getvalue()) for f in message.files) <= MAX_UPLOAD_BYTES


def comparable(text: str) -> str:
    """Text as a reader sees it, minus what splitting may add or move: fences and their
    language tags, whitespace, zero-width spaces."""
    text = re.sub(r"```(?:[A-Za-z0-9_+\-.#]{1,32}\n)?", "", text.replace(ZWSP, ""))
    return re.sub(r"\s+", "", text)


def normalized_answer_text(answer: Answer) -> str:
    return comparable(clean(answer.text))


# --- properties ------------------------------------------------------------------------


@PROPERTY
@given(answers())
def test_every_message_fits_discord_and_nothing_is_lost(case: tuple[Answer, ButtonKeys]) -> None:
    answer, button_keys = case
    messages = render_answer(answer, keys=button_keys)

    for message in messages:
        assert_message_limits(message)
    for message in messages[:-1]:
        assert not message.embeds and message.view is None

    contents = "\n".join(message.content for message in messages)
    assert normalized_answer_text(answer) in comparable(contents)
    if answer.session_restarted:
        assert messages[0].content.startswith(SESSION_RESTARTED)
    if answer.sources:
        [embed] = messages[-1].embeds
        lines = (embed.description or "").split("\n")
        more = re.fullmatch(r"…and (\d+) more sources?", lines[-1])
        listed = len(lines) - (1 if more else 0)
        assert listed + (int(more.group(1)) if more else 0) == len(answer.sources)
        assert [line.split(".", 1)[0] for line in lines[:listed]] == [
            str(n) for n in range(1, listed + 1)
        ]
    assert_follow_ups_are_offered(answer, button_keys, messages, contents)


def assert_follow_ups_are_offered(
    answer: Answer, button_keys: ButtonKeys, messages: list[DiscordMessage], contents: str
) -> None:
    """Each follow-up is a button carrying its key, or (when it has no room) a text line."""
    custom_ids = {
        button.get("custom_id") for row in components(messages[-1]) for button in row["components"]
    }
    for question, key in zip(answer.follow_ups, button_keys.follow_ups, strict=True):
        words = " ".join(clean(question).split())
        if not words:
            continue
        as_text = comparable(words.replace("\\", "")) in comparable(contents.replace("\\", ""))
        assert f"meibel:fu:{key}" in custom_ids or as_text, question


@PROPERTY
@given(markdown(), st.integers(64, 2000))
def test_split_keeps_every_part_within_the_limit_with_balanced_fences(
    text: str, limit: int
) -> None:
    parts = split_text(text, limit)

    for part in parts:
        assert 0 < len(part) <= limit
        assert part.strip() == part or part.startswith("```")
        assert part.count("```") % 2 == 0
    assert comparable("\n".join(parts)) == comparable(text)


@PROPERTY
@given(
    st.tuples(st.text(max_size=400), st.integers(1, 40)).map(lambda t: t[0] * t[1]),
    st.integers(64, 2000),
)
def test_split_survives_any_text(text: str, limit: int) -> None:
    parts = split_text(text, limit)

    assert all(0 < len(part) <= limit for part in parts)
    assert all(part.count("```") % 2 == 0 for part in parts)
    if "`" not in text:
        assert "".join("".join(parts).split()) == "".join(text.split())


@PROPERTY
@given(st.text(max_size=5000))
def test_notices_are_one_short_message_that_pings_no_one(text: str) -> None:
    message = render_notice(text)

    assert 0 < len(message.content) <= 2000
    assert message.content.count("```") % 2 == 0
    assert_pings_no_one(message)
    assert message.view is None and not message.embeds and not message.files


# --- examples: what a reader sees ------------------------------------------------------


def test_split_prefers_paragraphs_then_lines_then_sentences() -> None:
    first, second = "A" * 1200, "B" * 1200
    assert split_text(f"{first}\n\n{second}") == [first, second]

    lines = "\n".join(f"line {n:04d} " + "w" * 50 for n in range(60))
    parts = split_text(lines)
    assert len(parts) == 2 and all(part.endswith("w" * 50) for part in parts)

    sentences = " ".join(f"Sentence number {n} ends here." for n in range(150))
    parts = split_text(sentences)
    assert all(part.endswith("ends here.") for part in parts)


def test_split_cuts_inside_a_word_only_when_it_is_longer_than_a_message() -> None:
    parts = split_text("short " + "x" * 4500 + " tail")
    assert parts[0] == "short"
    assert all(len(part) <= 2000 for part in parts)
    assert "".join(parts[1:]).replace(" ", "") == "x" * 4500 + "tail"


def test_code_block_is_closed_and_reopened_with_its_language() -> None:
    code = "\n".join(f"    total += values[{n}]" for n in range(250))
    parts = split_text(f"Here is the loop:\n\n```python\n{code}\n```\n\nThat is all.")

    assert len(parts) == 4
    assert parts[0].startswith("Here is the loop:\n\n```python\n    total")
    for part in parts[1:]:
        assert part.startswith("```python\n    total += values[")
    for part in parts[:-1]:
        assert part.endswith("]\n```")
    assert parts[-1].endswith("]\n```\n\nThat is all.")
    assert all(len(part) <= 2000 for part in parts)


def test_mass_pings_are_defused_and_every_message_pings_no_one() -> None:
    answer = Answer(
        text="Hey @everyone, ask <@123> or <@&456>. Mail me@here.com, see https://x.io/@here"
    )
    [message] = render_answer(answer, keys=ButtonKeys())

    assert message.content == (
        f"Hey @{ZWSP}everyone, ask <@123> or <@&456>. "
        f"Mail me@{ZWSP}here.com, see https://x.io/@here"
    )
    assert message.allowed_mentions.to_dict()["parse"] == []
    assert render_notice("@everyone").content == f"@{ZWSP}everyone"


def test_session_restarted_note_comes_first() -> None:
    answer = Answer(text="The answer.", session_restarted=True)
    [message] = render_answer(answer, keys=ButtonKeys())
    assert message.content == f"{SESSION_RESTARTED}\n\nThe answer."


def test_sources_are_numbered_links_with_escaped_titles() -> None:
    answer = Answer(
        text="See the sources.",
        sources=(
            Source("Guide [v2] (draft)", "https://example.com/guide (old)"),
            Source("Internal note"),
            Source("", "https://docs.example.com/x"),
        ),
    )
    [message] = render_answer(answer, keys=ButtonKeys())
    [embed] = message.embeds

    assert embed.title == "Sources"
    assert embed.description == (
        "1. [Guide \\[v2\\] \\(draft\\)](https://example.com/guide%20%28old%29)\n"
        "2. Internal note\n"
        "3. [docs.example.com](https://docs.example.com/x)"
    )


def test_hundreds_of_sources_are_trimmed_with_a_visible_count() -> None:
    answer = Answer(
        text="Lots.",
        sources=tuple(Source(f"Page {n}", f"https://example.com/{n}") for n in range(300)),
    )
    [message] = render_answer(answer, keys=ButtonKeys())
    lines = (message.embeds[0].description or "").split("\n")

    shown = len(lines) - 1
    assert 50 < shown < 300
    assert lines[-1] == f"…and {300 - shown} more sources"
    assert lines[shown - 1] == f"{shown}. [Page {shown - 1}](https://example.com/{shown - 1})"


def test_follow_ups_and_actions_become_buttons_on_the_last_message() -> None:
    long_question = "Could you explain " + "in great detail " * 6 + "how this works?"
    answer = Answer(
        text="word " * 700,
        follow_ups=("What next?", long_question),
        actions=(
            CallToAction("Open the docs", "open_url", {"url": "https://example.com/docs"}),
            CallToAction("Create a ticket", "create_ticket"),
        ),
    )
    messages = render_answer(answer, keys=ButtonKeys(follow_ups=["k1", "k2"], actions=[None, "k3"]))

    assert len(messages) == 2 and messages[0].view is None
    rows = components(messages[-1])
    # Follow-ups stacked one per row, the calls to action together after them.
    assert [[b["label"] for b in row["components"]] for row in rows] == [
        ["What next?"],
        [long_question[:79].rstrip() + "…"],
        ["Open the docs", "Create a ticket"],
    ]
    buttons = [b for row in rows for b in row["components"]]
    assert [b.get("custom_id") for b in buttons] == [
        "meibel:fu:k1",
        "meibel:fu:k2",
        None,
        "meibel:act:k3",
    ]
    assert buttons[2]["url"] == "https://example.com/docs" and buttons[2]["style"] == 5


def test_buttons_beyond_the_grid_become_text() -> None:
    answer = Answer(text="Many.", follow_ups=tuple(f"Question {n}?" for n in range(30)))
    [message] = render_answer(answer, keys=ButtonKeys(follow_ups=[f"k{n}" for n in range(30)]))

    assert sum(len(row["components"]) for row in components(message)) == 25
    assert "**More questions you could ask:**" in message.content
    assert all(f"- Question {n}?" in message.content for n in range(25, 30))


def test_text_artifacts_are_attached_and_stored_ones_linked() -> None:
    answer = Answer(
        text="Files below.",
        artifacts=(
            Artifact("a1", "report.md", "text/markdown", content="# Report\nAll good."),
            Artifact("a2", "data", "text/csv", storage_url="https://files.example.com/d.csv"),
            Artifact("a3", "huge.txt", "text/plain", content="x" * (MAX_UPLOAD_BYTES + 1)),
        ),
    )
    [message] = render_answer(answer, keys=ButtonKeys())

    [attached] = message.files
    assert attached.filename == "report.md"
    assert attached.fp.read() == b"# Report\nAll good."
    assert "📎 [data](https://files.example.com/d.csv)" in message.content
    assert "📎 huge.txt is too large to attach here (8.0 MB)." in message.content


def test_more_than_ten_files_go_in_further_messages() -> None:
    answer = Answer(
        text="Twelve files.",
        follow_ups=("And then?",),
        artifacts=tuple(
            Artifact(f"a{n}", f"f{n}.txt", "text/plain", content=str(n)) for n in range(12)
        ),
    )
    messages = render_answer(answer, keys=ButtonKeys(follow_ups=["k1"]))

    assert [len(m.files) for m in messages] == [10, 2]
    assert messages[0].content == "Twelve files." and messages[1].content == ""
    assert messages[1].view is not None and messages[0].view is None


def test_an_empty_answer_still_says_something() -> None:
    [message] = render_answer(Answer(text="  "), keys=ButtonKeys())
    assert message.content == EMPTY_ANSWER


def test_a_long_notice_is_cut_visibly() -> None:
    message = render_notice("Please note. " * 300)
    assert len(message.content) <= 2000 and message.content.endswith("\n…")
