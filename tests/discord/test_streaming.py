"""Live answers: one message edited at most once a second while the agent writes, then the
full answer; long answers continue in further messages; the stream's failure paths."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from itertools import pairwise
from typing import Any

from bot.devserver import DevServer
from bot.meibel.client import FilePart, MeibelClient
from bot.meibel.models import ChatMessageResponse
from bot.meibel.stream import StreamDone, StreamEvent, StreamText
from bot.routing import AgentRef
from tests.discord.fakes.recorder import Call
from tests.discord.fakes.server import FakeDiscord
from tests.discord.helpers import (
    FOLLOW_UP,
    answer_in,
    custom_ids,
    interaction_replies,
    text_of,
    thread_opened_in,
)
from tests.fixtures.discord import StartBot

QUESTION = "How do I rotate my API key?"
STATUS = "_Searching the knowledge base..._"  # the dev agent's activity before it writes
CUT_OFF = "The answer was cut off"
# Discord's own rate limits are what the once-a-second rule protects; the fake records
# arrival times, so allow a little for the trip.
TOLERANCE = 0.05


def writes_in(fake: FakeDiscord, channel_id: int) -> list[Call]:
    """Every message the bot posted or edited in the channel, in order."""
    return [
        c
        for c in fake.recorder.calls
        if c.matches("POST", rf"/channels/{channel_id}/messages")
        or c.matches("PATCH", rf"/channels/{channel_id}/messages/\d+")
    ]


def message_id(call: Call) -> int:
    return int(call.path.rsplit("/", 1)[1])


def without_status(content: str) -> str:
    return content.removesuffix("\n\n" + STATUS)


async def mention(fake: FakeDiscord, text: str = QUESTION) -> int:
    """Alice mentions the bot in #general; returns the thread the answer goes to."""
    w = fake.world
    await fake.say(text, user=w.alice, channel_id=w.general_id, mention_bot=True)
    thread_id, _ = await thread_opened_in(fake, w.general_id)
    return thread_id


async def test_the_first_words_show_at_once_then_one_edit_a_second_then_the_full_answer(
    fake_discord: FakeDiscord, start_discord_bot: StartBot, meibel_server: DevServer
) -> None:
    meibel_server.stream_chunk_delay_seconds = 0.4  # six pieces over about 2.4 s
    await start_discord_bot(discord_streaming=True)
    thread_id = await mention(fake_discord)
    final = await answer_in(fake_discord, thread_id)

    first, *edits = writes_in(fake_discord, thread_id)
    [stream] = meibel_server.chat_requests()
    # The first words are posted as they arrive, well before the agent's next piece.
    assert first.method == "POST" and first.at - stream.timestamp < 0.3
    assert text_of(first).startswith("## Answer 1: How do I")
    assert text_of(first).endswith("\n\n" + STATUS)
    full = text_of(final)
    assert len(without_status(text_of(first))) < len(full) / 2

    # One message, edited while the agent writes, each edit a second after the one before.
    assert edits and all(c.method == "PATCH" for c in edits)
    [message] = fake_discord.posted(thread_id)
    assert {message_id(c) for c in edits} == {int(message["id"])}
    times = [c.at for c in (first, *edits)]
    gaps = [later - earlier for earlier, later in pairwise(times)]
    assert min(gaps) >= 1.0 - TOLERANCE, gaps
    during, last = edits[:-1], edits[-1]
    assert len(during) >= 1
    texts = [without_status(text_of(c)) for c in (first, *during)]
    for shorter, longer in pairwise(texts):
        assert longer.startswith(shorter) and len(longer) > len(shorter)
    assert all(text_of(c).endswith(STATUS) for c in (first, *during))

    # The last edit is the full native answer: text, sources, buttons, files; no status.
    assert last is final
    assert STATUS not in full and full.endswith(
        "Read more in the [Meibel docs](https://docs.meibel.ai)."
    )
    assert [e["title"] for e in final.json["embeds"]] == ["Sources"]
    assert len(custom_ids(final.json, FOLLOW_UP)) == 3
    assert [name for name, _ in final.files] == ["answer-turn-1.md"]
    assert fake_discord.recorder.find("POST", rf"/channels/{thread_id}/typing")
    assert message["content"] == full and message["components"]


async def test_a_long_answer_continues_in_a_second_message_while_the_agent_writes(
    fake_discord: FakeDiscord, start_discord_bot: StartBot, meibel_server: DevServer
) -> None:
    # The dev agent quotes the question: a long question gives an answer over 2,000 chars.
    question = " ".join(f"Point {n}: how does key rotation work here?" for n in range(80))
    meibel_server.stream_chunk_delay_seconds = 0.3
    await start_discord_bot(discord_streaming=True)
    thread_id = await mention(fake_discord, question)
    final = await answer_in(fake_discord, thread_id)

    first, second = fake_discord.posted(thread_id)
    writes = writes_in(fake_discord, thread_id)
    posts = [c for c in writes if c.method == "POST"]
    assert len(posts) == 2
    # The second message came while the agent was still at work (it shows the status),
    # and from then on only it was edited: the first part was finished.
    assert text_of(posts[1]).endswith("\n\n" + STATUS)
    continued = writes.index(posts[1])
    assert all(message_id(c) == int(second["id"]) for c in writes[continued + 1 :])
    edits_of_first = [
        c for c in writes if c.method == "PATCH" and message_id(c) == int(first["id"])
    ]
    assert edits_of_first and writes.index(edits_of_first[-1]) < continued
    assert not text_of(edits_of_first[-1]).endswith(STATUS)

    # The end: two messages holding the whole answer, the second with sources and buttons.
    assert len(first["content"]) <= 2000 and len(second["content"]) <= 2000
    assert STATUS not in first["content"] + second["content"]
    assert final.json["embeds"] and second["components"] and not first["components"]
    session = meibel_server.sessions[next(iter(meibel_server.sessions))]
    answer = session.turns[0].answer
    assert first["content"] == answer[: len(first["content"])]
    assert answer.endswith(second["content"])


async def test_a_stream_that_fails_before_any_text_is_answered_as_usual(
    fake_discord: FakeDiscord, start_discord_bot: StartBot, meibel_server: DevServer
) -> None:
    # Meibel did not take the stream: the one case for /chat.
    meibel_server.queue_responses(503, times=1, path_contains="/chat/stream")
    await start_discord_bot(discord_streaming=True)
    thread_id = await mention(fake_discord)
    final = await answer_in(fake_discord, thread_id)

    # Nothing was shown before the fallback to /chat: one message, the whole answer.
    assert [c.method for c in writes_in(fake_discord, thread_id)] == ["POST"]
    assert "Answer 1:" in text_of(final) and final.json["components"]
    assert [r.path.rsplit("/", 1)[1] for r in meibel_server.chat_requests()] == ["stream", "chat"]


async def test_a_stream_that_breaks_midway_keeps_the_text_and_says_it_was_cut_off(
    fake_discord: FakeDiscord, start_discord_bot: StartBot, meibel_server: DevServer
) -> None:
    meibel_server.stream_chunk_delay_seconds = 0.2
    meibel_server.queue_stream_failure(after_partials=2)
    await start_discord_bot(discord_streaming=True)
    thread_id = await mention(fake_discord)
    [last] = await fake_discord.recorder.wait_for(
        lambda c: (
            c.matches("PATCH", rf"/channels/{thread_id}/messages/\d+") and CUT_OFF in text_of(c)
        )
    )
    first = writes_in(fake_discord, thread_id)[0]
    shown = without_status(text_of(first))
    assert text_of(last).startswith(shown) and STATUS not in text_of(last)
    [message] = fake_discord.posted(thread_id)
    assert message["content"] == text_of(last) and not message["components"]
    assert len(meibel_server.chat_requests()) == 1  # no second try: the text was shown


async def test_with_streaming_off_the_answer_is_posted_whole_and_never_edited(
    fake_discord: FakeDiscord, start_discord_bot: StartBot, meibel_server: DevServer
) -> None:
    meibel_server.stream_chunk_delay_seconds = 0.2
    await start_discord_bot(discord_streaming=False)
    thread_id = await mention(fake_discord)
    final = await answer_in(fake_discord, thread_id)
    assert [c.method for c in writes_in(fake_discord, thread_id)] == ["POST"]
    assert "Answer 1:" in text_of(final) and STATUS not in text_of(final)
    assert fake_discord.recorder.find("POST", rf"/channels/{thread_id}/typing")
    assert [r.path.rsplit("/", 1)[1] for r in meibel_server.chat_requests()] == ["chat"]


async def test_ask_in_a_thread_streams_through_the_interactions_own_messages(
    fake_discord: FakeDiscord, start_discord_bot: StartBot, meibel_server: DevServer
) -> None:
    await start_discord_bot(discord_streaming=True)
    w = fake_discord.world
    thread_id = await mention(fake_discord)
    await answer_in(fake_discord, thread_id)

    meibel_server.stream_chunk_delay_seconds = 0.3
    payload = await fake_discord.slash(
        "ask", user=w.alice, channel_id=thread_id, options={"question": "And who can do it?"}
    )
    token = payload["token"]
    [final] = await fake_discord.recorder.wait_for(
        lambda c: (
            c.matches("PATCH", rf"/webhooks/\d+/{token}/messages/\d+")
            and bool((c.json or {}).get("components"))
        )
    )
    # "Thinking...", replaced by the first words, then edits of that same message.
    [deferral] = fake_discord.recorder.find("POST", rf"/interactions/\d+/{token}/callback")
    assert deferral.json == {"type": 5}
    [shown, *_] = await interaction_replies(fake_discord, payload)
    assert shown.matches("POST", rf"/webhooks/\d+/{token}") and text_of(shown).endswith(STATUS)
    edits = [
        c
        for c in fake_discord.recorder.calls
        if c.matches("PATCH", rf"/webhooks/\d+/{token}/messages/\d+")
    ]
    assert edits[-1] is final and len({c.path for c in edits}) == 1
    times = [shown.at] + [c.at for c in edits]
    assert all(b - a >= 1.0 - TOLERANCE for a, b in pairwise(times))
    assert "Answer 2:" in text_of(final) and STATUS not in text_of(final)
    assert [name for name, _ in final.files] == ["answer-turn-2.md"]


class SlowToWrite:
    """The real Meibel client, but the agent "thinks" before its first words until
    `writing` is set, and finishes only when `done` is: its activity comes at once."""

    def __init__(self, inner: MeibelClient) -> None:
        self.inner = inner
        self.timeout_seconds = inner.timeout_seconds
        self.writing = asyncio.Event()
        self.done = asyncio.Event()

    async def start_session(
        self,
        agent: AgentRef,
        *,
        initial_context: dict[str, Any] | None = None,
        execution_policy_ids: Sequence[str] = (),
    ) -> str:
        return await self.inner.start_session(
            agent, initial_context=initial_context, execution_policy_ids=execution_policy_ids
        )

    async def chat(self, session_id: str, user_message: str) -> ChatMessageResponse:
        return await self.inner.chat(session_id, user_message)

    async def chat_stream(
        self, session_id: str, user_message: str, *, files: Sequence[FilePart] = ()
    ) -> AsyncIterator[StreamEvent]:
        async for event in self.inner.chat_stream(session_id, user_message, files=files):
            if isinstance(event, StreamText):
                await self.writing.wait()
            elif isinstance(event, StreamDone):
                await self.done.wait()
            yield event


async def test_while_the_agent_works_before_writing_its_activity_shows_alone(
    fake_discord: FakeDiscord, start_discord_bot: StartBot
) -> None:
    bot = await start_discord_bot(discord_streaming=True, edit_interval=0.3)
    agent = SlowToWrite(bot.meibel)
    bot.runner.services.pipeline.meibel = agent
    thread_id = await mention(fake_discord)

    # After a quiet moment, a message with only the activity line...
    [status] = await fake_discord.recorder.wait_for(
        lambda c: c.matches("POST", rf"/channels/{thread_id}/messages")
    )
    assert text_of(status) == STATUS
    # ...whose first words, once written, replace it at once (no waiting for a turn).
    agent.writing.set()
    [text_shown] = await fake_discord.recorder.wait_for(
        lambda c: c.matches("PATCH", rf"/channels/{thread_id}/messages/\d+")
    )
    assert text_shown.at - status.at < 0.2
    assert "Answer 1:" in text_of(text_shown) and text_of(text_shown).endswith(STATUS)
    agent.done.set()
    final = await answer_in(fake_discord, thread_id)
    assert STATUS not in text_of(final) and final.json["components"]
    [message] = fake_discord.posted(thread_id)
    assert message["content"] == text_of(final)
