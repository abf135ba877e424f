"""Adversarial agent text through the pipeline's safety step and then every Slack path:
posted answers (Block Kit), edits of the placeholder (chat.update), and native stream
chunks (chat.startStream/appendStream/stopStream). No ping survives in Slack's syntax, no
link shows a host other than its target's, and every Block Kit limit holds."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.edited import progress_message
from adapters.slack.native import TEXT_BUDGET, NativeStream, cut_point
from adapters.slack.render import ButtonValues, SlackMessage, render_answer
from bot.domain import Answer, CallToAction
from bot.safety import safe_answer, safe_markdown, safe_prefix
from tests.adversarial import HUGE_ANSWER, answers, huge_texts, lies, lying_links, pings
from tests.fixtures.slack import BOT_TOKEN, FakeSlack
from tests.fixtures.slack_messages import streamed_text
from tests.slack.blockkit_checks import check_messages
from tests.slack.conftest import Harness, mention

SLACK_PING = re.compile(r"<[!@#]")
PROPERTY = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MARKDOWN_BLOCK = 12_000  # one streamed message is one markdown block


def values(answer: Answer) -> ButtonValues:
    return ButtonValues(
        follow_ups=[f"fu{i}" for i in range(len(answer.follow_ups))],
        actions=[f"act{i}" for i in range(len(answer.actions))],
    )


def texts_of(value: Any) -> list[str]:
    """Every string a message shows (block texts, button labels, fallback), not ids."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        skip = ("type", "action_id", "value", "url", "block_id")
        return [t for k, v in value.items() if k not in skip for t in texts_of(v)]
    if isinstance(value, list):
        return [t for v in value for t in texts_of(v)]
    return []


def slack_pings(text: str) -> list[str]:
    """Slack's mention syntax, unescaped. Bare "@channel" words notify only in messages
    sent with link_names, which the bot never sets; the core defuses them anyway, but a
    long web address cut across two blocks may show "@everyone" from its path."""
    return SLACK_PING.findall(text)


def assert_safe(messages: list[SlackMessage]) -> None:
    check_messages(messages)
    for message in messages:
        for text in [message.text, *texts_of(message.blocks)]:
            assert slack_pings(text) == [], text
            assert lying_links(text) == [], text
        for block in message.blocks:
            for button in block.get("elements", []) if block["type"] == "actions" else []:
                if "url" in button:
                    assert not lies(button["text"]["text"], button["url"]), button


@PROPERTY
@given(answers())
@example(HUGE_ANSWER)
@example(  # a label that starts with a web address, cut by the renderer down to it
    Answer(
        text="x",
        actions=(
            CallToAction(
                label="https://x.example/@everyone<@1234><[mail sso](mailto:a@evil.example)",
                action="open",
                action_data={"url": "https://evil.example/phish"},
            ),
        ),
    )
)
@example(Answer(text="<`````"))  # five backticks: no stray ``` left behind
def test_a_posted_answer_pings_no_one_links_honestly_and_fits_slack(answer: Answer) -> None:
    safe = safe_answer(answer)
    assert_safe(render_answer(safe, buttons=values(safe)))


@PROPERTY
@given(huge_texts, st.data())
def test_every_edit_of_the_placeholder_pings_no_one_and_fits_slack(
    text: str, data: st.DataObject
) -> None:
    cut = data.draw(st.integers(0, len(text)))
    activity = data.draw(st.none() | huge_texts)
    safe_activity = safe_markdown(activity) if activity is not None else None  # the pipeline's
    message = progress_message(safe_prefix(text[:cut]), safe_activity)
    if message is not None:
        assert_safe([message])


async def stream(text: str, cuts: list[int]) -> list[dict[str, Any]]:
    """What Slack receives when the answer `text` streams natively, shown at `cuts`."""
    slack = FakeSlack()
    await slack.start()
    try:
        client = AsyncWebClient(token=BOT_TOKEN, base_url=slack.base_url)
        native = NativeStream(
            client=client, channel="C1", thread_ts="1.0", recipient_user="U1", recipient_team="T1"
        )
        for cut in sorted(cuts):
            await native.show(safe_prefix(text[:cut]), None)
        final = safe_answer(Answer(text=text)).text  # the pipeline's Final
        if native.ts is not None and final.startswith(native.shown):
            # As LiveAnswer ends it: the rest, or up to the budget (the rest is posted).
            end = len(final)
            if end > TEXT_BUDGET:
                end = cut_point(final, start=len(native.shown), limit=TEXT_BUDGET)
            await native.finish(final[len(native.shown) : end])
        methods = ("chat.startStream", "chat.appendStream", "chat.stopStream")
        return [c.args for c in slack.calls if c.method in methods]
    finally:
        await slack.stop()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(huge_texts, st.lists(st.integers(0, 30_000), max_size=6))
def test_native_stream_chunks_ping_no_one_and_fit_one_markdown_block(
    text: str, cuts: list[int]
) -> None:
    calls = asyncio.run(stream(text, [min(c, len(text)) for c in cuts]))
    chunks = [streamed_text(args) for args in calls]
    whole = "".join(chunks)
    assert len(whole) <= MARKDOWN_BLOCK
    assert all(len(chunk) <= MARKDOWN_BLOCK for chunk in chunks)
    assert pings(whole) == [], whole
    assert lying_links(whole) == [], whole
    if calls and len(text) < TEXT_BUDGET // 2:  # started, and short enough for one message
        assert whole.rstrip() == safe_answer(Answer(text=text)).text.rstrip()


def test_the_reported_attack_streams_defused() -> None:
    text = "Heads up <!channel> and <@U0ADMIN>: [https://sso.example.com](https://evil.example/p)"
    whole = "".join(streamed_text(a) for a in asyncio.run(stream(text, [9, 20, len(text)])))
    assert pings(whole) == [] and "\u200b!channel" in whole
    assert "[evil.example](https://evil.example/p)" in whole


async def test_a_loud_answer_streams_and_posts_with_no_ping(harness: Harness) -> None:
    """End to end on the default path (native streaming): the dev agent quotes the loud
    question in its answer; what Slack receives in every stream chunk and message is safe."""
    harness.meibel.stream_chunk_delay_seconds = 0.05
    ts = "1710000099.000100"
    loud = "Heads up <!channel> <!subteam^S0TEAM|@admins> and "
    loud += "[https://sso.example.com](https://evil.example/p)"
    await harness.event(mention(loud, ts=ts))
    await harness.answers(1, thread_ts=ts)
    streamed = "".join(
        streamed_text(c.args)
        for c in harness.slack.calls
        if c.method in ("chat.startStream", "chat.appendStream", "chat.stopStream")
    )
    # Inbound shows <!channel> as "@channel"; the agent quoted it; the core defused it.
    assert "Heads up @\u200bchannel" in streamed
    assert "[evil.example](https://evil.example/p)" in streamed
    assert slack_pings(streamed) == [] and lying_links(streamed) == []
    for call in harness.slack.calls:
        if call.method in ("chat.postMessage", "chat.update"):
            for text in [str(call.args.get("text") or ""), *texts_of(call.args.get("blocks"))]:
                assert slack_pings(text) == [] and lying_links(text) == [], text
