"""Answers -> Slack messages: every block valid for slack_sdk, every Slack limit kept, nothing lost.

Property tests run a wide range of answers (huge text, hundreds of sources, long and many
follow-ups, odd Unicode, Slack's special characters, unbalanced fences, empty fields)
through the renderer; the examples after them pin what a user sees in specific cases.
"""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.slack.mrkdwn import clean, collapse, safe_url
from adapters.slack.render import (
    CALL_TO_ACTION,
    FEEDBACK_ACTION,
    FOLLOW_UP_ACTION,
    LINK_ACTION,
    RETRY_ACTION,
    ButtonValues,
    SlackMessage,
    render_answer,
    render_notice,
)
from bot.domain import Answer, AnswerKind, Artifact, CallToAction, Source
from bot.replies import SESSION_RESTARTED
from tests.slack.blockkit_checks import (
    BUTTON_URL,
    buttons_of,
    check_messages,
    shown_text,
    squashed,
)


def tokens(prefix: str, count: int) -> list[str]:
    return [f"{prefix}{i}" for i in range(count)]


# --- strategies --------------------------------------------------------------------------

WORD = st.text(st.characters(categories=["L", "N"]), min_size=1, max_size=10)
ODD = st.sampled_from(
    [
        "👍🏽",
        "👨\u200d👩\u200d👧",
        "🇩🇪",
        "e\u0301",
        "שלום",
        "مرحبا",
        "\u202eevil",
        "a\u200bb",
        "日本語",
    ]
)
SPECIAL = st.sampled_from(
    ["<", ">", "&", "|", "*", "_", "~", "`", "```", "#", "\\", "&amp;", "<b>", "<@U1>", "<!here>"]
)
URL = st.sampled_from(
    [
        "https://example.com/page",
        "https://example.com/?a=1&b=2|c",
        "https://example.com/a b<c>",
        "http://例え.jp/パス",
        "mailto:someone@example.com",
        "/relative/path",
        "ftp://example.com/file",
        "https://example.com/" + "x" * 2500,
        "https://example.com/" + "y" * 3500,
    ]
)


@st.composite
def markdown_text(draw: st.DrawFn) -> tuple[str, list[str]]:
    """Markdown built from constructs, with the words a reader must find in the output."""
    out: list[str] = []
    words: list[str] = []
    for _ in range(draw(st.integers(0, 40))):
        word = draw(st.one_of(WORD, ODD))
        words.append(word)
        form = draw(
            st.sampled_from(
                [
                    "{w} ",
                    "{w} ",
                    "{w}. ",
                    "{s}{w}{s} ",
                    "**{w}** ",
                    "__{w}__ ",
                    "*{w}* ",
                    "_{w}_ ",
                    "~~{w}~~ ",
                    "`{w}` ",
                    "[{w}]({u}) ",
                    "\n# {w}\n",
                    "\n## {w}\n",
                    "\n- {w}\n",
                    "\n  - {w}\n",
                    "\n1. {w}\n",
                    "\n> {w}\n",
                    "\n```\n{w}\n",
                    "\n```py\n{w}\n```\n",
                    "\n\n{w}\n\n---\n\n",
                    "{w}\n",
                    "{w}\n\n",
                    "| {w} | x |\n|---|---|\n| y | {w} |\n",
                ]
            )
        )
        out.append(form.format(w=word, s=draw(SPECIAL), u=draw(URL)))
    text = "".join(out) * draw(st.sampled_from([1, 1, 1, 5, 40, 300]))
    return text, words


sources = st.lists(
    st.builds(Source, title=st.one_of(WORD, st.text(max_size=120)), url=st.none() | URL),
    max_size=8,
) | st.integers(100, 220).map(
    lambda n: [Source(f"Source {i} <&|>", f"https://s.io/{i}") for i in range(n)]
)
follow_ups = st.lists(
    st.one_of(WORD, st.text(max_size=120), st.just(""), st.just("  \n ")), max_size=6
) | st.integers(20, 70).map(lambda n: [f"Question number {i}? " + "x" * (i % 90) for i in range(n)])
actions = st.lists(
    st.builds(
        CallToAction,
        label=st.one_of(WORD, st.just(""), st.text(max_size=100)),
        action=st.sampled_from(["open_ticket", "", "x" * 300]),
        action_data=st.none() | URL.map(lambda u: {"url": u}),
    ),
    max_size=30,
)
artifacts = st.lists(
    st.builds(
        Artifact,
        artifact_id=st.just("a"),
        filename=st.one_of(WORD, st.text(max_size=300)),
        mime_type=st.just("text/plain"),
        content=st.none() | st.just("data"),
        storage_url=st.none() | URL,
    ),
    max_size=4,
)


@st.composite
def answers(draw: st.DrawFn) -> tuple[Answer, list[str]]:
    text, words = draw(markdown_text())
    answer = Answer(
        text=text,
        sources=tuple(draw(sources)),
        follow_ups=tuple(draw(follow_ups)),
        actions=tuple(draw(actions)),
        artifacts=tuple(draw(artifacts)),
        signal_id=draw(st.none() | st.just("sig-1") | st.text(min_size=1, max_size=40)),
        session_restarted=draw(st.booleans()),
    )
    return answer, words


# --- properties --------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(answers(), st.booleans())
def test_every_answer_renders_within_slack_limits_and_loses_nothing(
    case: tuple[Answer, list[str]], full_values: bool
) -> None:
    answer, words = case
    count = len(answer.follow_ups) if full_values else len(answer.follow_ups) // 2
    values = ButtonValues(follow_ups=tokens("f", count), actions=tokens("a", len(answer.actions)))
    messages = render_answer(answer, buttons=values)
    check_messages(messages)

    seen = shown_text(messages)
    flat = squashed(seen)
    for word in words:
        # ASCII numbers may be list markers, which Markdown renumbers: 1., 1., 1. -> 1., 2., 3.
        assert word in flat or re.fullmatch("[0-9]+", word), word

    _check_sources(answer.sources, seen)
    _check_follow_ups(answer.follow_ups, values, messages, seen)
    _check_actions(answer.actions, messages)
    feedback = [b for m in messages for b in m.blocks if b["type"] == "context_actions"]
    if answer.signal_id:
        assert feedback == [b for b in messages[-1].blocks if b["type"] == "context_actions"]
        element = feedback[0]["elements"][0]
        assert element["action_id"] == FEEDBACK_ACTION
        assert element["positive_button"]["value"] == f"up:{answer.signal_id}"
        assert element["negative_button"]["value"] == f"down:{answer.signal_id}"
    else:
        assert not feedback
    if answer.session_restarted:
        assert messages[0].blocks[0]["elements"][0]["text"] == SESSION_RESTARTED
    for artifact in answer.artifacts:
        name = collapse(clean(artifact.filename))[:150]
        assert name.replace("|", "\u2223") in seen.replace("|", "\u2223")


def _check_sources(shown_sources: tuple[Source, ...], seen: str) -> None:
    if not shown_sources:
        assert "Sources" not in seen or "Sources" in seen.split("*Sources*")[0]
        return
    normalized = seen.replace("\u2223", "|")
    for number, source in enumerate(shown_sources[:50], start=1):
        title = collapse(clean(source.title))[:250]
        assert f"{number}. " in seen
        assert title.replace("\u2223", "|") in normalized, title
        target = safe_url(source.url) if source.url else None
        if target and title:
            assert f"<{target.replace('&amp;', '&')}|" in seen
    if len(shown_sources) > 50:
        assert f"…and {len(shown_sources) - 50} more sources" in seen


def _check_follow_ups(
    questions: tuple[str, ...], values: ButtonValues, messages: list[SlackMessage], seen: str
) -> None:
    buttons = buttons_of(messages)
    for index, question in enumerate(questions[:50]):
        text = collapse(clean(question))
        button = buttons.get(f"{FOLLOW_UP_ACTION}:{index}")
        if not text:
            assert button is None
        elif index < len(values.follow_ups):
            assert button is not None and button["value"] == values.follow_ups[index]
            label = button["text"]["text"]
            assert label == text or (label.endswith("…") and text.startswith(label[:-1].rstrip()))
        else:
            assert button is None and text in seen  # no value to send: listed as text
    if len(questions) > 50:
        assert f"…and {len(questions) - 50} more suggested questions" in seen


def _check_actions(calls: tuple[CallToAction, ...], messages: list[SlackMessage]) -> None:
    buttons = buttons_of(messages)
    for index, action in enumerate(calls):
        link = buttons.get(f"{LINK_ACTION}:{index}")
        value = buttons.get(f"{CALL_TO_ACTION}:{index}")
        if action.url and len(action.url) <= BUTTON_URL and " " not in action.url:
            assert link is not None and link["url"] == action.url and value is None
        else:
            assert link is None or " " in (action.url or "")
            assert value is not None or link is not None
            if value is not None:
                assert value["value"] == f"a{index}"


@settings(max_examples=15, deadline=None)
@given(st.text(max_size=300), st.none() | st.text(max_size=40))
def test_every_notice_is_one_valid_message(markdown: str, retry: str | None) -> None:
    message = render_notice(markdown * 60, retry_value=retry)
    check_messages([message])
    retry_buttons = [e for b in message.blocks if b["type"] == "actions" for e in b["elements"]]
    if retry:
        assert [(e["action_id"], e["value"]) for e in retry_buttons] == [(RETRY_ACTION, retry)]
    else:
        assert not retry_buttons


# --- what a user sees --------------------------------------------------------------------


def test_a_plain_answer_is_one_section_with_its_words_as_fallback() -> None:
    [message] = render_answer(Answer(text="Hello **world** & <all>"), buttons=ButtonValues())
    assert message.text == "Hello world &amp; &lt;all&gt;"
    assert message.blocks == [
        {"type": "section", "text": {"type": "mrkdwn", "text": "Hello *world* &amp; &lt;all&gt;"}}
    ]


def test_a_leading_h1_becomes_a_header_and_a_long_one_a_bold_line() -> None:
    [message] = render_answer(Answer(text="# Quarterly plan\n\nBody."), buttons=ButtonValues())
    assert message.blocks[0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "Quarterly plan", "emoji": True},
    }
    long_title = "T" * 200
    [message] = render_answer(Answer(text=f"# {long_title}\n\nBody."), buttons=ButtonValues())
    assert message.blocks[0]["type"] == "section"
    assert message.blocks[0]["text"]["text"].startswith(f"*{long_title}*")


def test_a_rule_becomes_a_divider() -> None:
    [message] = render_answer(Answer(text="above\n\n---\n\nbelow"), buttons=ButtonValues())
    assert [b["type"] for b in message.blocks] == ["section", "divider", "section"]


def test_a_huge_answer_spreads_over_messages_with_every_word() -> None:
    paragraphs = [f"Paragraph {i} says word{i} & more. " * 8 for i in range(600)]
    text = "\n\n".join(paragraphs)
    assert len(text) > 100_000
    answer = Answer(text=text, follow_ups=("Next?",), signal_id="s1")
    messages = render_answer(answer, buttons=ButtonValues(follow_ups=["f0"]))
    check_messages(messages)
    assert len(messages) > 1
    assert messages[1].text == f"Answer, continued (2/{len(messages)})"
    seen = shown_text(messages)
    assert all(f"word{i} &" in seen for i in range(600))
    last_types = [b["type"] for b in messages[-1].blocks]
    assert last_types[-2:] == ["actions", "context_actions"]
    assert all("actions" not in b["type"] for m in messages[:-1] for b in m.blocks)


def test_a_long_code_block_is_closed_and_reopened_across_sections() -> None:
    code = "\n".join(f"print({i})  # <{i}>" for i in range(400))
    [*messages] = render_answer(Answer(text=f"```python\n{code}\n```"), buttons=ButtonValues())
    check_messages(messages)
    sections = [b["text"]["text"] for m in messages for b in m.blocks]
    assert len(sections) > 1
    assert all(s.startswith("```\n") and s.endswith("\n```") for s in sections)
    assert all(f"print({i})  # &lt;{i}&gt;" in "\n".join(sections) for i in range(400))


def test_sources_are_numbered_links_or_plain_titles() -> None:
    answer = Answer(
        text="See below.",
        sources=(Source("Guide | part <1>", "https://ex.com/g?a=1&b=2"), Source("Internal memo")),
    )
    [message] = render_answer(answer, buttons=ButtonValues())
    assert message.blocks[-1] == {
        "type": "context",
        "elements": [
            {
                "type": "mrkdwn",
                "text": "*Sources*\n1. <https://ex.com/g?a=1&amp;b=2|Guide \u2223 part &lt;1&gt;>\n"
                "2. Internal memo",
            }
        ],
    }


def test_two_hundred_sources_are_trimmed_with_a_count() -> None:
    answer = Answer(
        text="x", sources=tuple(Source(f"S{i}", f"https://s.io/{i}") for i in range(200))
    )
    messages = render_answer(answer, buttons=ButtonValues())
    check_messages(messages)
    seen = shown_text(messages)
    assert "50. <https://s.io/49|S49>" in seen
    assert "51. " not in seen
    assert "…and 150 more sources" in seen


def test_follow_ups_are_buttons_cut_to_75_characters() -> None:
    long_question = "Could you explain in more detail how the quarterly numbers were computed here?"
    assert len(long_question) > 75
    answer = Answer(text="x", follow_ups=("Short one?", long_question))
    [message] = render_answer(answer, buttons=ButtonValues(follow_ups=["t0", "t1"]))
    first, second = message.blocks[-1]["elements"]
    assert (first["action_id"], first["value"], first["text"]["text"]) == (
        f"{FOLLOW_UP_ACTION}:0",
        "t0",
        "Short one?",
    )
    assert second["action_id"] == f"{FOLLOW_UP_ACTION}:1" and second["value"] == "t1"
    assert len(second["text"]["text"]) == 75 and second["text"]["text"].endswith("…")


def test_many_buttons_go_in_rows_of_25() -> None:
    answer = Answer(text="x", follow_ups=tuple(f"Q{i}?" for i in range(40)))
    messages = render_answer(answer, buttons=ButtonValues(follow_ups=tokens("t", 40)))
    check_messages(messages)
    rows = [b for m in messages for b in m.blocks if b["type"] == "actions"]
    assert [len(row["elements"]) for row in rows] == [25, 15]


def test_calls_to_action_open_links_or_ask_the_agent() -> None:
    answer = Answer(
        text="x",
        actions=(
            CallToAction("Open the dashboard", "open", {"url": "https://dash.io/?a=1&b=2"}),
            CallToAction("", "create_ticket"),
            CallToAction("Too long a link", "open", {"url": "https://x.io/" + "z" * 3000}),
        ),
    )
    [message] = render_answer(answer, buttons=ButtonValues(actions=["", "a1", "a2"]))
    link_button, ask, fallback = message.blocks[-1]["elements"]
    assert link_button == {
        "type": "button",
        "text": {"type": "plain_text", "text": "Open the dashboard", "emoji": True},
        "action_id": f"{LINK_ACTION}:0",
        "url": "https://dash.io/?a=1&b=2",
    }
    assert (ask["action_id"], ask["value"], ask["text"]["text"]) == (
        f"{CALL_TO_ACTION}:1",
        "a1",
        "create ticket",
    )
    assert (fallback["action_id"], fallback["value"]) == (f"{CALL_TO_ACTION}:2", "a2")


def test_artifacts_are_listed_by_name_and_short_text_shown_as_written() -> None:
    big = "x,y\n" * 1000
    answer = Answer(
        text="Files:",
        artifacts=(
            Artifact("1", "notes.md", "text/markdown", content="<!channel> *not bold*"),
            Artifact("2", "report.csv", "text/csv", content=big),
            Artifact("3", "chart <1>.png", "image/png", storage_url="https://files.io/c.png"),
        ),
    )
    [message] = render_answer(answer, buttons=ButtonValues())
    check_messages([message])
    assert message.blocks[-3]["text"]["text"] == "📎 notes.md"
    [pre] = message.blocks[-2]["elements"]  # literal text: no markup, no mention
    assert pre == {
        "type": "rich_text_preformatted",
        "elements": [{"type": "text", "text": "<!channel> *not bold*"}],
    }
    assert message.blocks[-1]["text"]["text"] == (
        "📎 report.csv (sent as a file below)\n📎 <https://files.io/c.png|chart &lt;1&gt;.png>"
    )


def test_feedback_buttons_carry_the_signal_id() -> None:
    [message] = render_answer(Answer(text="x", signal_id="sig-42"), buttons=ButtonValues())
    block = message.blocks[-1]
    assert block["type"] == "context_actions"
    [element] = block["elements"]
    assert element["type"] == "feedback_buttons"
    assert element["action_id"] == FEEDBACK_ACTION
    assert element["positive_button"]["value"] == "up:sig-42"
    assert element["negative_button"]["value"] == "down:sig-42"
    [message] = render_answer(Answer(text="x"), buttons=ButtonValues())
    assert all(b["type"] != "context_actions" for b in message.blocks)


def test_a_restarted_session_is_noted_first() -> None:
    [message] = render_answer(Answer(text="x", session_restarted=True), buttons=ButtonValues())
    assert message.blocks[0] == {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": SESSION_RESTARTED}],
    }


def test_an_empty_answer_still_says_something() -> None:
    [message] = render_answer(Answer(text="  "), buttons=ButtonValues())
    check_messages([message])
    assert message.text == "Answer from the agent"
    assert message.blocks[0]["text"]["text"] == "_The agent sent an empty answer._"
    [message] = render_answer(Answer(text="---", session_restarted=True), buttons=ButtonValues())
    check_messages([message])
    assert [b["type"] for b in message.blocks] == ["context", "section"]
    [message] = render_answer(Answer(text="", sources=(Source("Only"),)), buttons=ButtonValues())
    assert shown_text([message]) == "*Sources*\n1. Only"


def test_hints_and_errors_render_as_notices_without_extras() -> None:
    error = Answer(
        text="The agent is **down**.", kind=AnswerKind.ERROR, signal_id="s", follow_ups=("q",)
    )
    [message] = render_answer(error, buttons=ButtonValues(follow_ups=["t"]))
    assert message == render_notice("The agent is **down**.")
    assert message.blocks == [
        {"type": "section", "text": {"type": "mrkdwn", "text": "The agent is *down*."}}
    ]


def test_an_error_notice_offers_try_again() -> None:
    message = render_notice("Meibel timed out.", retry_value="retry-token")
    assert message.text == "Meibel timed out."
    assert message.blocks[-1] == {
        "type": "actions",
        "elements": [
            {
                "type": "button",
                "text": {"type": "plain_text", "text": "Try again", "emoji": True},
                "action_id": RETRY_ACTION,
                "value": "retry-token",
                "style": "primary",
            }
        ],
    }


def test_a_huge_notice_is_cut_with_a_marker() -> None:
    message = render_notice("word " * 20_000)
    check_messages([message])
    assert "more part(s) of this notice cut" in shown_text([message])
