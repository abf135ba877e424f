"""Answer -> Slack messages (Block Kit + plain-text fallback), inside every Slack limit.

Pure functions: no I/O, no Slack client. The app decides what each button carries and
passes it in, so the renderer never touches the store.

What goes where: the answer's text in `section` blocks (a leading H1 as a `header`), then
artifacts, sources (`context`), call-to-action and follow-up buttons (`actions`) and the
feedback buttons (`context_actions`), so the last message always carries the extras. The
blocks are spread over as many messages as the limits require; nothing is dropped without
a visible marker saying how much.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from adapters.slack.mrkdwn import (
    Chunk,
    Kind,
    chunks,
    clean,
    collapse,
    escape,
    link,
    safe_url,
    to_mrkdwn,
    to_plain,
)
from adapters.slack.split import slack_len, split_mrkdwn, truncate
from bot.domain import Answer, AnswerKind, Artifact, CallToAction, Source
from bot.replies import SESSION_RESTARTED

__all__ = [
    "CALL_TO_ACTION",
    "FEEDBACK_ACTION",
    "FOLLOW_UP_ACTION",
    "HANDOFF_ACTION",
    "LINK_ACTION",
    "RETRY_ACTION",
    "ButtonValues",
    "SlackMessage",
    "render_answer",
    "render_notice",
    "to_mrkdwn",
]

# action_id prefixes; the app's listeners match them with regexes such as ^meibel_followup
FOLLOW_UP_ACTION = "meibel_followup"  # value: a button value from ButtonValues.follow_ups
CALL_TO_ACTION = "meibel_action"  # value: a button value from ButtonValues.actions
LINK_ACTION = "meibel_link"  # url buttons; clicks need only an ack
FEEDBACK_ACTION = "meibel_feedback"  # the feedback_buttons element; value carries signal_id
RETRY_ACTION = "meibel_retry"  # "Try again" on a failure notice; value from the app
HANDOFF_ACTION = "meibel_handoff"  # "I need a person"; value: ButtonValues.handoff

# Slack's limits (see platform-limits.md); checked by the tests through slack_sdk.
MAX_BLOCKS = 50
SECTION_LIMIT = 3000
HEADER_LIMIT = 150
BUTTON_TEXT_LIMIT = 75
BUTTON_VALUE_LIMIT = 2000
BUTTON_URL_LIMIT = 3000
ACTIONS_LIMIT = 25
# chat.postMessage answers msg_blocks_too_long somewhere past 12,000 characters of block
# text (undocumented; bolt-js issues 2509 and 2867), so each message keeps well below it,
# counting every string in its blocks.
MESSAGE_TEXT_BUDGET = 10_000
FALLBACK_LIMIT = 300
# Beyond these, a line says how many more there are: a thread is no place for hundreds.
MAX_SOURCES = 50
MAX_FOLLOW_UPS = 50
MAX_ACTIONS = 50
SOURCE_TITLE_LIMIT = 300
# Text artifacts up to this size are shown in the answer (see shown_inline).
INLINE_ARTIFACT_CHARS = 2500
TEXT_TYPES = frozenset({"application/json", "application/xml", "application/x-yaml"})
FILENAME_LIMIT = 200

Block = dict[str, Any]


@dataclass(frozen=True, slots=True)
class ButtonValues:
    """What each button sends back, in the order of answer.follow_ups and answer.actions.

    Each value is at most 2,000 characters (Slack's limit); the app puts long payloads in
    the store and passes a short reference here. A follow-up or action without a usable
    value is listed as text instead of a button.
    """

    follow_ups: Sequence[str] = ()
    actions: Sequence[str] = ()
    # "I need a person" (adapters.slack.handoff) where the channel names who helps: the ts
    # of the question's message, which gets the hand-off's reaction.
    handoff: str | None = None


@dataclass(frozen=True, slots=True)
class SlackMessage:
    """One chat.postMessage worth: short fallback `text` and the blocks."""

    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)


def render_answer(answer: Answer, *, buttons: ButtonValues) -> list[SlackMessage]:
    """The answer as one or more messages (more only when one cannot hold it all).

    HINT and ERROR answers come back as one notice (see render_notice; the app calls that
    itself when it wants a "Try again" button).
    """
    if answer.kind is not AnswerKind.ANSWER:
        return [render_notice(answer.text)]
    body = _body(chunks(answer.text))
    extras = [
        *_artifacts(answer.artifacts),
        *_sources(answer.sources),
        *_actions(answer.actions, buttons.actions),
        *_follow_ups(answer.follow_ups, buttons.follow_ups),
    ]
    if all(b["type"] == "divider" for b in body) and not extras:
        # Nothing came back to show (or only rules): say so rather than post a blank.
        body = [_section("_The agent sent an empty answer._")]
    blocks = [_context(to_mrkdwn(SESSION_RESTARTED))] if answer.session_restarted else []
    blocks.extend(body)
    blocks.extend(extras)
    if buttons.handoff:
        blocks.append(_handoff(buttons.handoff))
    if answer.signal_id:
        blocks.extend(_feedback(answer.signal_id))
    pages = _paginate(blocks)
    first = _fallback(answer.text, default="Answer from the agent")
    return [
        SlackMessage(
            text=first if i == 0 else f"Answer, continued ({i + 1}/{len(pages)})", blocks=page
        )
        for i, page in enumerate(pages)
    ]


def render_notice(markdown: str, *, retry_value: str | None = None) -> SlackMessage:
    """A short notice (error, hint, refusal) as one message; with a "Try again" button
    (action RETRY_ACTION, this value) when `retry_value` is given."""
    pieces = split_mrkdwn(to_mrkdwn(markdown), SECTION_LIMIT) or ["_(no details)_"]
    blocks: list[Block] = []
    used = 0
    for index, piece in enumerate(pieces):
        if used + slack_len(piece) > MESSAGE_TEXT_BUDGET - 200:
            # A notice is one message; say that the rest was cut rather than cut silently.
            blocks.append(_context(f"_…{len(pieces) - index} more part(s) of this notice cut._"))
            break
        blocks.append(_section(piece))
        used += slack_len(piece)
    if retry_value and slack_len(retry_value) <= BUTTON_VALUE_LIMIT:
        retry = _button("Try again", action_id=RETRY_ACTION, value=retry_value)
        blocks.append({"type": "actions", "elements": [{**retry, "style": "primary"}]})
    return SlackMessage(text=_fallback(markdown, default="Notice from the bot"), blocks=blocks)


def _body(parts: list[Chunk]) -> list[Block]:
    blocks: list[Block] = []
    if parts and parts[0].kind is Kind.HEADING and parts[0].level == 1:
        title = parts[0].plain
        if title and slack_len(title) <= HEADER_LIMIT:
            blocks.append({"type": "header", "text": _plain_text(title)})
            parts = parts[1:]
    group: list[str] = []
    for part in [*parts, Chunk(Kind.RULE, "")]:
        if part.kind is not Kind.RULE:
            group.append(part.text)
            continue
        blocks.extend(_section(p) for p in split_mrkdwn("\n\n".join(group), SECTION_LIMIT))
        group = []
        if part.text:
            blocks.append({"type": "divider"})
    return blocks


def shown_inline(artifact: Artifact) -> bool:
    """A short text file is shown in the answer itself (one code block) instead of being
    uploaded: it reads better in a thread, and costs no upload (three API calls)."""
    content = artifact.content
    return (
        content is not None
        and len(content) <= INLINE_ARTIFACT_CHARS
        and (artifact.mime_type.startswith("text/") or artifact.mime_type in TEXT_TYPES)
    )


def _artifacts(artifacts: Sequence[Artifact]) -> list[Block]:
    lines = []
    inline: list[Block] = []
    for artifact in artifacts:
        name = truncate(collapse(clean(artifact.filename)) or "file", FILENAME_LIMIT)
        if artifact.storage_url:
            lines.append(f"📎 {_linked(artifact.storage_url, name)}")
        elif artifact.content is not None and shown_inline(artifact):
            inline += [_section(f"📎 {escape(name)}"), _preformatted(artifact.content)]
        elif artifact.content is not None:
            lines.append(f"📎 {escape(name)} (sent as a file below)")
        else:
            lines.append(f"📎 {escape(name)} (no content to show)")
    listed = [_section(p) for p in split_mrkdwn("\n".join(lines), SECTION_LIMIT)] if lines else []
    return inline + listed


def _preformatted(text: str) -> Block:
    """Agent text shown exactly as written: a preformatted rich text element is never read
    as markup, so nothing in it can mention anyone or make a link."""
    shown = clean(text).strip("\n") or " "
    return {
        "type": "rich_text",
        "elements": [
            {"type": "rich_text_preformatted", "elements": [{"type": "text", "text": shown}]}
        ],
    }


def _sources(sources: Sequence[Source]) -> list[Block]:
    if not sources:
        return []
    lines = ["*Sources*"]
    for number, source in enumerate(sources[:MAX_SOURCES], start=1):
        title = truncate(collapse(clean(source.title)), SOURCE_TITLE_LIMIT)
        shown = _linked(source.url, title) if source.url else escape(title)
        lines.append(f"{number}. {shown or '(untitled)'}")
    if len(sources) > MAX_SOURCES:
        lines.append(f"_…and {len(sources) - MAX_SOURCES} more sources_")
    return [_context(p) for p in split_mrkdwn("\n".join(lines), SECTION_LIMIT)]


def _actions(actions: Sequence[CallToAction], values: Sequence[str]) -> list[Block]:
    elements: list[Block] = []
    unbuttoned: list[str] = []
    for index, action in enumerate(actions[:MAX_ACTIONS]):
        label = _button_text(action.label) or _button_text(action.action.replace("_", " "))
        label = label or "Open"
        url = _button_url(action.url)
        value = values[index] if index < len(values) else ""
        if url:
            elements.append(_button(label, action_id=f"{LINK_ACTION}:{index}", url=url))
        elif 0 < slack_len(value) <= BUTTON_VALUE_LIMIT:
            elements.append(_button(label, action_id=f"{CALL_TO_ACTION}:{index}", value=value))
        else:
            unbuttoned.append(collapse(clean(action.label)) or label)
    more = len(actions) - MAX_ACTIONS
    return _button_rows(elements, unbuttoned, more=more, what="actions")


def _follow_ups(follow_ups: Sequence[str], values: Sequence[str]) -> list[Block]:
    elements: list[Block] = []
    unbuttoned: list[str] = []
    for index, question in enumerate(follow_ups[:MAX_FOLLOW_UPS]):
        text = _button_text(question)
        if not text:
            continue  # nothing to ask
        value = values[index] if index < len(values) else ""
        if 0 < slack_len(value) <= BUTTON_VALUE_LIMIT:
            elements.append(_button(text, action_id=f"{FOLLOW_UP_ACTION}:{index}", value=value))
        else:
            unbuttoned.append(collapse(clean(question)))
    more = len(follow_ups) - MAX_FOLLOW_UPS
    return _button_rows(elements, unbuttoned, more=more, what="suggested questions")


def _linked(url: str, title: str) -> str:
    """`title` linked to `url`; a URL too long or odd to link is named, not shown in full."""
    # A web URL that is fine at its start but refused whole is refused for its length.
    if title and safe_url(url) is None and safe_url(url[:100]) is not None:
        return f"{escape(title)} _(link too long to show)_"
    return link(url, title)


def _button_rows(
    elements: list[Block], unbuttoned: list[str], *, more: int, what: str
) -> list[Block]:
    # A row holds up to 25 buttons and, with long link urls, no more text than one message
    # may carry (_paginate moves whole blocks; it cannot shrink one).
    blocks: list[Block] = []
    row: list[Block] = []
    for element in elements:
        if row and (
            len(row) >= ACTIONS_LIMIT or _text_size(row) + _text_size(element) > MESSAGE_TEXT_BUDGET
        ):
            blocks.append({"type": "actions", "elements": row})
            row = []
        row.append(element)
    if row:
        blocks.append({"type": "actions", "elements": row})
    lines = [f"• {escape(text)}" for text in unbuttoned]
    if more > 0:
        lines.append(f"_…and {more} more {what}_")
    blocks.extend(_context(p) for p in split_mrkdwn("\n".join(lines), SECTION_LIMIT))
    return blocks


def _handoff(question_ts: str) -> Block:
    button = _button(
        "I need a person", action_id=HANDOFF_ACTION, value=question_ts[:BUTTON_VALUE_LIMIT]
    )
    return {"type": "actions", "elements": [button]}


def _feedback(signal_id: str) -> list[Block]:
    positive, negative = f"up:{signal_id}", f"down:{signal_id}"
    if slack_len(negative) > BUTTON_VALUE_LIMIT:
        return []  # no id Meibel could take back; better no buttons than broken ones
    element = {
        "type": "feedback_buttons",
        "action_id": FEEDBACK_ACTION,
        "positive_button": {
            "text": _plain_text("👍"),
            "value": positive,
            "accessibility_label": "Mark this answer as helpful",
        },
        "negative_button": {
            "text": _plain_text("👎"),
            "value": negative,
            "accessibility_label": "Mark this answer as not helpful",
        },
    }
    return [{"type": "context_actions", "elements": [element]}]


def _paginate(blocks: list[Block]) -> list[list[Block]]:
    """Blocks spread over messages, each within the block count and the text budget."""
    pages: list[list[Block]] = [[]]
    used = 0
    for block in blocks:
        size = _text_size(block)
        page = pages[-1]
        if page and (len(page) >= MAX_BLOCKS or used + size > MESSAGE_TEXT_BUDGET):
            pages.append([])
            used = 0
        pages[-1].append(block)
        used += size
    # A divider at either end of a message separates nothing.
    trimmed = [_strip_dividers(page) for page in pages]
    return [page for page in trimmed if page]


def _strip_dividers(page: list[Block]) -> list[Block]:
    while page and page[0]["type"] == "divider":
        page = page[1:]
    while page and page[-1]["type"] == "divider":
        page = page[:-1]
    return page


def _text_size(value: Any, key: str = "") -> int:
    """Every string in a block but its type names and action ids, as Slack may count it."""
    if isinstance(value, str):
        return 0 if key in ("type", "action_id") else slack_len(value)
    if isinstance(value, dict):
        return sum(_text_size(v, k) for k, v in value.items())
    if isinstance(value, list):
        return sum(_text_size(v, key) for v in value)
    return 0


def _fallback(markdown: str, *, default: str) -> str:
    """Plain words for notifications: no markup, short, never empty."""
    plain = to_plain(markdown)
    return truncate(escape(plain), FALLBACK_LIMIT) if plain else default


def _button_text(text: str) -> str:
    return truncate(collapse(clean(text)), BUTTON_TEXT_LIMIT)


def _button_url(url: str | None) -> str | None:
    if not url:
        return None
    url = "%20".join(clean(url).split())
    return url if slack_len(url) <= BUTTON_URL_LIMIT else None


def _button(
    text: str, *, action_id: str, value: str | None = None, url: str | None = None
) -> Block:
    button: Block = {"type": "button", "text": _plain_text(text), "action_id": action_id}
    if value is not None:
        button["value"] = value
    if url is not None:
        button["url"] = url
    return button


def _plain_text(text: str) -> Block:
    return {"type": "plain_text", "text": text, "emoji": True}


def _section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _context(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}
