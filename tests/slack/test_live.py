"""The end of a streamed answer in the cases the dev server cannot produce: answers longer
than one streamed message, text the agent rewrote, failures after the activity showed.

The updates are written out here; everything else is real: the Responder and LiveAnswer,
the AsyncWebClient against the fake Slack Web API, and Redis for the button payloads."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.downloads import Downloader
from adapters.slack.live import LiveAnswer, Refusals, StreamOptions
from adapters.slack.native import TEXT_BUDGET, cut_point
from adapters.slack.render import FEEDBACK_ACTION, RETRY_ACTION
from adapters.slack.responder import Responder
from bot import replies
from bot.attachments import AttachmentPolicy
from bot.devserver import DevServer
from bot.domain import Answer, Final, PartialText, Progress, Question, Source, Update
from bot.store.base import Store
from tests.fixtures.slack import BOT_TOKEN, TEAM, FakeSlack
from tests.slack.blockkit_checks import squashed
from tests.slack.conftest import CHANNEL, USER, make_pipeline, validate_blocks

THREAD = "1710000008.000100"


@pytest.fixture
async def responder(
    slack_api: FakeSlack, meibel_server: DevServer, redis_store: Store
) -> AsyncIterator[Responder]:
    pipeline = make_pipeline(meibel_server, redis_store)  # not asked: the updates are given
    yield Responder(
        client=AsyncWebClient(token=BOT_TOKEN, base_url=slack_api.base_url),
        pipeline=pipeline,
        store=redis_store,
        button_ttl_seconds=600,
        downloader=Downloader(
            token=BOT_TOKEN, api_url=slack_api.base_url, policy=AttachmentPolicy()
        ),
        stream=StreamOptions(interval=0.05),
    )
    await pipeline.meibel.aclose()  # type: ignore[attr-defined]
    for message in slack_api.messages():
        validate_blocks(message["blocks"])


QUESTION = Question(
    platform="slack",
    workspace=TEAM,
    channel=CHANNEL,
    thread=THREAD,
    user=USER,
    text="Tell me everything",
    reply_to={"channel": CHANNEL, "thread_ts": THREAD, "message_ts": THREAD, "team": TEAM},
)


async def run(
    responder: Responder, *updates: Update, shown_in: FakeSlack | None = None
) -> list[str]:
    """Show `updates` as the pipeline would yield them; returns the private notes sent.

    With `shown_in`, each text waits until that fake Slack got it before the next comes."""
    whispers: list[str] = []

    async def whisper(text: str) -> None:
        whispers.append(text)

    async def stream() -> AsyncIterator[Update]:
        for update in updates:
            yield update
            if shown_in is not None and isinstance(update, PartialText):
                await shown_in.wait_until(
                    lambda: any(m.markdown for m in shown_in.conversations.in_thread(THREAD)),
                    what="the text in Slack",
                )

    live = LiveAnswer(
        responder=responder,
        question=QUESTION,
        whisper=whisper,
        options=StreamOptions(interval=0.05),
        refusals=Refusals(),
        assistant_status=False,
    )
    await live.run(stream())
    return whispers


def shown(messages: list[dict[str, Any]]) -> str:
    parts = []
    for message in messages:
        for block in message["blocks"]:
            if block["type"] == "markdown":
                parts.append(block["text"])
            elif block["type"] in ("section", "header"):
                parts.append(block["text"]["text"])
    return "\n".join(parts)


async def test_an_answer_longer_than_one_stream_continues_in_posted_messages(
    responder: Responder, slack_api: FakeSlack
) -> None:
    paragraphs = [
        f"Paragraph {i}: " + " ".join(f"word{i}x{j}" for j in range(60)) for i in range(60)
    ]
    text = "\n\n".join(paragraphs)
    assert len(text) > 2 * TEXT_BUDGET
    sources = (Source("Handbook", "https://example.com/handbook"),)
    await run(
        responder,
        Progress("Reading the handbook..."),
        PartialText(text[:4000]),
        PartialText(text[:14000]),  # past what one streamed message takes
        Final(Answer(text=text, sources=sources, signal_id="sig_long")),
    )
    messages = slack_api.messages(THREAD)
    streamed = slack_api.message(messages[0]["ts"])
    assert not streamed.streaming
    assert 0 < len(streamed.markdown) <= TEXT_BUDGET
    assert streamed.markdown.endswith(paragraphs[len(streamed.markdown.split("\n\n")) - 1])
    assert len(messages) >= 3  # the rest, posted after the stream
    # nothing lost, nothing twice, in order
    assert squashed(shown(messages)).replace("*", "") == squashed(text)
    last = messages[-1]["blocks"]
    assert any("Handbook" in str(b) for b in last if b["type"] == "context")
    assert any(b["type"] == "context_actions" for b in last)
    assert FEEDBACK_ACTION in str(last)


async def test_text_the_agent_rewrote_replaces_the_streamed_message(
    responder: Responder, slack_api: FakeSlack
) -> None:
    await run(
        responder,
        PartialText("The capital of Australia is Sydney"),
        PartialText("The capital of Australia is Canberra."),  # not a continuation
        Final(Answer(text="The capital of Australia is Canberra.", signal_id="sig_fix")),
        shown_in=slack_api,
    )
    [message] = slack_api.messages(THREAD)
    assert not message["streaming"]
    assert "Sydney" not in str(message["blocks"])
    assert "Canberra" in shown([message])
    assert any(b["type"] == "context_actions" for b in message["blocks"])
    assert slack_api.calls_to("chat.update")


async def test_a_failure_after_the_activity_showed_ends_the_stream_with_try_again(
    responder: Responder, slack_api: FakeSlack
) -> None:
    await run(responder, Progress("Searching the knowledge base..."), Final(replies.INTERNAL))
    [message] = slack_api.messages(THREAD)
    assert not message["streaming"]
    assert "Something went wrong on my side" in shown([message])
    assert RETRY_ACTION in str(message["blocks"])
    tasks = slack_api.message(message["ts"]).tasks.values()
    assert [t["status"] for t in tasks] == ["complete"]


async def test_an_empty_answer_after_the_activity_says_so(
    responder: Responder, slack_api: FakeSlack
) -> None:
    await run(responder, Progress("Thinking..."), Final(Answer(text="", signal_id="sig_empty")))
    [message] = slack_api.messages(THREAD)
    assert "empty answer" in shown([message])


async def test_a_stream_slack_ended_early_is_replaced_by_the_whole_answer(
    responder: Responder, slack_api: FakeSlack
) -> None:
    for method in ("chat.appendStream", "chat.stopStream"):
        slack_api.fail(method, "message_not_in_streaming_state", times=10)

    def refused(method: str) -> bool:
        return any(c.method == method and not c.ok for c in slack_api.calls)

    async def whisper(text: str) -> None:
        raise AssertionError(f"nothing private to say, got {text!r}")

    async def stream() -> AsyncIterator[Update]:
        yield PartialText("First words")
        await slack_api.wait_until(lambda: bool(slack_api.messages(THREAD)), what="the start")
        yield PartialText("First words and more")
        await slack_api.wait_until(lambda: refused("chat.appendStream"), what="an append")
        yield Final(Answer(text="First words and more, all of it.", signal_id="sig_ended"))

    live = LiveAnswer(
        responder=responder,
        question=QUESTION,
        whisper=whisper,
        options=StreamOptions(interval=0.05),
        refusals=Refusals(),
        assistant_status=False,
    )
    await live.run(stream())
    [message] = slack_api.messages(THREAD)
    assert "First words and more, all of it." in shown([message])
    assert any(b["type"] == "context_actions" for b in message["blocks"])
    assert [c.method for c in slack_api.calls if c.method.startswith("chat.")] == [
        "chat.startStream",
        "chat.appendStream",  # refused: Slack had ended the stream
        "chat.stopStream",  # refused likewise
        "chat.update",  # the whole answer in its place
    ]


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("aaa bbb ccc", 9, 7),  # the last word break
        ("one\ntwo three", 12, 3),  # a line break before a later word break
        ("para one\n\npara two", 15, 8),
        ("intro\n```\ncode code\n```\nafter", 20, 5),  # not inside a code block if avoidable
        ("```\ncode code\n```", 15, 13),  # unavoidable: the last break
        ("nospaceshere", 5, 5),  # nothing to cut at: the limit
    ],
)
def test_cut_point(text: str, limit: int, expected: int) -> None:
    assert cut_point(text, start=0, limit=limit) == expected
