"""Every agent turn at most once: faults between the bot and Meibel never ask the agent twice.

Real dev server over HTTP, the real client, both stores. The dev server counts how many
times the agent received each message (`received`), whatever became of the connection.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

import pytest

from bot.context import OPEN, Said
from bot.devserver import DevServer
from bot.domain import Answer, AnswerKind, Final, PartialText, Question, Update
from bot.meibel.client import FilePart, MeibelClient
from bot.meibel.models import SessionDetail, SessionMessages
from bot.meibel.retry import RetryPolicy
from bot.meibel.turns import TurnAnswered, TurnNotArrived, TurnUnanswered, TurnUnknown, find_turn
from bot.pipeline import Pipeline, PipelineConfig
from bot.routing import AgentRef, Router
from bot.store import Store
from bot.turnlog import TURN, SentTurn
from tests.fixtures.meibel import DEV_KEY

FAST = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.05, max_total_wait=2.0)
NOTICE = "may still be working on this"


@pytest.fixture(params=["sqlite", "redis"])
def store(request: pytest.FixtureRequest) -> Store:
    return request.getfixturevalue(f"{request.param}_store")  # type: ignore[no-any-return]


@pytest.fixture
async def meibel(meibel_server: DevServer) -> AsyncIterator[MeibelClient]:
    client = MeibelClient(
        base_url=meibel_server.base_url, api_key=DEV_KEY, timeout_seconds=5, retry=FAST
    )
    yield client
    await client.aclose()


class KeptNotes:
    """A job's notes as the adapters' journals keep them: they outlive a crashed run."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}
        self.writes = 0

    def get(self, name: str) -> str | None:
        return self.values.get(name)

    async def note(self, **values: str) -> None:
        self.values.update(values)
        self.writes += 1


def make_pipeline(meibel: MeibelClient, store: Store) -> Pipeline:
    router = Router(default=AgentRef("name", "default-agent"), routes={})
    return Pipeline(meibel=meibel, store=store, config=PipelineConfig(router=router))


def q(text: str) -> Question:
    return Question(
        platform="slack", workspace="T1", channel="C1", thread="t1", user="U1", text=text
    )


async def collect(pipeline: Pipeline, text: str, **kwargs: object) -> list[Update]:
    return [u async for u in pipeline.ask_stream(q(text), **kwargs)]  # type: ignore[arg-type]


def final(updates: list[Update]) -> Answer:
    assert isinstance(updates[-1], Final)
    assert sum(isinstance(u, Final) for u in updates) == 1
    return updates[-1].answer


def endpoints(server: DevServer) -> list[str]:
    return [r.path.rsplit("/", 1)[-1] for r in server.chat_requests()]


async def until(server: DevServer, condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(10):
        await server.wait_for(condition)


def session_reads(server: DevServer) -> int:
    return sum(r.method == "GET" and "/sessions/" in r.path for r in server.requests)


# -- /chat -----------------------------------------------------------------------------
async def test_a_drop_after_the_request_is_answered_from_the_session(
    meibel: MeibelClient, store: Store, meibel_server: DevServer
) -> None:
    pipeline = make_pipeline(meibel, store)
    await pipeline.ask(q("warm up"))
    meibel_server.queue_drop(at="request")
    meibel_server.hold_chats()  # the agent is still at work when the bot asks the session
    asking = asyncio.create_task(pipeline.ask(q("refund order 42")))
    await until(meibel_server, lambda: session_reads(meibel_server) >= 2)
    assert not asking.done()  # the session says RUNNING: the bot waits
    meibel_server.release_chats()
    answer = await asyncio.wait_for(asking, 10)
    assert answer.ok and 'You asked: "refund order 42"' in answer.text
    assert answer.signal_id
    assert meibel_server.received["refund order 42"] == 1
    assert endpoints(meibel_server) == ["chat", "chat"]  # warm up, then the one turn


async def test_a_session_that_cannot_tell_in_time_gets_the_honest_notice(
    meibel_server: DevServer, store: Store
) -> None:
    client = MeibelClient(
        base_url=meibel_server.base_url,
        api_key=DEV_KEY,
        timeout_seconds=1,
        read_timeout_margin=0.5,
        retry=FAST,
    )
    pipeline = make_pipeline(client, store)
    meibel_server.queue_drop(at="request")
    meibel_server.hold_chats()  # the agent never finishes within the timeout
    try:
        answer = await asyncio.wait_for(pipeline.ask(q("open a ticket")), 10)
    finally:
        meibel_server.release_chats()
        await client.aclose()
    assert answer.kind is AnswerKind.ERROR and answer.error_code == "turn_uncertain"
    assert NOTICE in answer.text and "ask again" in answer.text
    assert meibel_server.received["open a ticket"] == 1
    assert len(meibel_server.chat_requests()) == 1


@pytest.mark.parametrize("status", [502, 504])
async def test_a_gateway_error_after_the_agent_ran_is_not_resent(
    meibel: MeibelClient, store: Store, meibel_server: DevServer, status: int
) -> None:
    pipeline = make_pipeline(meibel, store)
    meibel_server.create_session()
    meibel_server.queue_gateway_error(status, times=3)
    answer = await pipeline.ask(q("cancel my plan"))
    assert answer.ok and 'You asked: "cancel my plan"' in answer.text
    assert meibel_server.received["cancel my plan"] == 1
    assert endpoints(meibel_server) == ["chat"]


@pytest.mark.parametrize("status", [502, 504])
async def test_a_gateway_error_before_the_agent_saw_it_is_sent_once_more(
    meibel: MeibelClient, store: Store, meibel_server: DevServer, status: int
) -> None:
    # The session shows the message never arrived: the one case for sending it again.
    pipeline = make_pipeline(meibel, store)
    meibel_server.queue_responses(status, times=1, path_contains="/chat")
    answer = await pipeline.ask(q("hello there"))
    assert answer.ok and 'You asked: "hello there"' in answer.text
    assert meibel_server.received["hello there"] == 1
    assert endpoints(meibel_server) == ["chat", "chat"]


async def test_a_second_ambiguous_failure_is_never_followed_by_a_third_send(
    meibel: MeibelClient, store: Store, meibel_server: DevServer
) -> None:
    pipeline = make_pipeline(meibel, store)
    meibel_server.queue_responses(502, times=5, path_contains="/chat")
    answer = await pipeline.ask(q("hello there"))
    assert answer.error_code == "turn_uncertain"
    assert meibel_server.received["hello there"] == 0
    assert endpoints(meibel_server) == ["chat", "chat"]


# -- streams ---------------------------------------------------------------------------
async def test_a_stream_cut_after_connected_is_not_sent_again(
    meibel: MeibelClient, store: Store, meibel_server: DevServer
) -> None:
    pipeline = make_pipeline(meibel, store)
    meibel_server.queue_drop(at="connected")
    answer = final(await collect(pipeline, "book a room"))
    assert answer.ok and 'You asked: "book a room"' in answer.text
    assert meibel_server.received["book a room"] == 1
    assert endpoints(meibel_server) == ["stream"]


async def test_a_stream_dropped_after_the_request_is_not_sent_again(
    meibel: MeibelClient, store: Store, meibel_server: DevServer
) -> None:
    pipeline = make_pipeline(meibel, store)
    meibel_server.queue_drop(at="request", path_contains="/chat/stream")
    answer = final(await collect(pipeline, "book a room"))
    assert answer.ok and 'You asked: "book a room"' in answer.text
    assert meibel_server.received["book a room"] == 1
    assert endpoints(meibel_server) == ["stream"]


async def test_files_of_a_cut_stream_reached_the_agent_and_are_not_called_lost(
    meibel: MeibelClient, store: Store, meibel_server: DevServer
) -> None:
    pipeline = make_pipeline(meibel, store)
    meibel_server.queue_drop(at="connected")
    files = [FilePart("a.txt", b"abc", "text/plain")]
    answer = final(await collect(pipeline, "see file", files=files))
    assert answer.ok and "could not be sent" not in answer.text
    [session] = meibel_server.sessions.values()
    assert [f.filename for f in session.turns[0].files] == ["a.txt"]
    assert meibel_server.received["see file"] == 1


async def test_a_501_goes_to_chat_and_later_questions_skip_the_stream(
    meibel: MeibelClient, store: Store, meibel_server: DevServer
) -> None:
    pipeline = make_pipeline(meibel, store)
    meibel_server.queue_responses(501, times=5, path_contains="/chat/stream")
    first = final(await collect(pipeline, "one"))
    second = final(await collect(pipeline, "two"))
    assert first.ok and second.ok and 'You asked: "two"' in second.text
    assert endpoints(meibel_server) == ["stream", "chat", "chat"]
    assert meibel_server.received == {"one": 1, "two": 1}


async def test_a_lost_session_on_the_fallback_starts_a_new_one(
    meibel: MeibelClient, store: Store, meibel_server: DevServer
) -> None:
    pipeline = make_pipeline(meibel, store)
    final(await collect(pipeline, "first"))
    meibel_server.forget_sessions()
    meibel_server.queue_responses(503, times=1, path_contains="/chat/stream")
    answer = final(await collect(pipeline, "second"))
    assert answer.ok and answer.session_restarted and 'You asked: "second"' in answer.text
    [session] = meibel_server.sessions.values()
    assert session.user_messages == ["second"]
    assert endpoints(meibel_server) == ["stream", "stream", "chat", "chat"]


async def test_a_rate_limited_stream_falls_back_to_chat_once(
    meibel: MeibelClient, store: Store, meibel_server: DevServer
) -> None:
    pipeline = make_pipeline(meibel, store)
    meibel_server.queue_responses(
        429, times=1, path_contains="/chat/stream", headers={"Retry-After": "0"}
    )
    answer = final(await collect(pipeline, "quick one"))
    assert answer.ok
    assert endpoints(meibel_server) == ["stream", "chat"]
    assert meibel_server.received["quick one"] == 1


# -- a takeover after a crash ----------------------------------------------------------
async def test_a_rerun_with_a_turn_note_recovers_the_answer_without_sending(
    meibel: MeibelClient, store: Store, meibel_server: DevServer
) -> None:
    notes = KeptNotes()
    first_run = make_pipeline(meibel, store)
    meibel_server.hold_chats()
    crashed = asyncio.create_task(first_run.ask(q("ship the parcel"), notes=notes))
    await until(meibel_server, lambda: meibel_server.received["ship the parcel"] == 1)
    crashed.cancel()  # the worker dies while the agent is at work
    with pytest.raises(asyncio.CancelledError):
        await crashed
    assert SentTurn.decode(notes.get(TURN)) is not None
    meibel_server.release_chats()

    second_run = make_pipeline(meibel, store)
    answer = await asyncio.wait_for(second_run.ask(q("ship the parcel"), notes=notes), 10)
    assert answer.ok and 'You asked: "ship the parcel"' in answer.text
    assert meibel_server.received["ship the parcel"] == 1
    assert len(meibel_server.chat_requests()) == 1
    assert notes.writes == 1  # one note per turn


async def test_a_rerun_of_a_stream_recovers_the_answer_without_sending(
    meibel: MeibelClient, store: Store, meibel_server: DevServer
) -> None:
    notes = KeptNotes()
    meibel_server.hold_chats()
    stream = make_pipeline(meibel, store).ask_stream(q("ship it"), notes=notes)
    crashed = asyncio.create_task(anext(stream))
    await until(meibel_server, lambda: meibel_server.received["ship it"] == 1)
    crashed.cancel()
    with pytest.raises(asyncio.CancelledError):
        await crashed
    meibel_server.release_chats()
    updates = [u async for u in make_pipeline(meibel, store).ask_stream(q("ship it"), notes=notes)]
    answer = final(updates)
    assert answer.ok and 'You asked: "ship it"' in answer.text
    assert meibel_server.received["ship it"] == 1
    assert endpoints(meibel_server) == ["stream"]


async def test_a_rerun_whose_turn_never_left_sends_it_once(
    meibel: MeibelClient, store: Store, meibel_server: DevServer
) -> None:
    # The run noted the turn and died before sending it: the session shows it never arrived.
    pipeline = make_pipeline(meibel, store)
    await pipeline.ask(q("earlier question"))
    [session_id] = meibel_server.sessions
    notes = KeptNotes()
    notes.values[TURN] = SentTurn(session_id=session_id, sent_at=time.time()).encode()
    answer = await pipeline.ask(q("never sent"), notes=notes)
    assert answer.ok and 'You asked: "never sent"' in answer.text
    assert meibel_server.received["never sent"] == 1
    assert meibel_server.sessions[session_id].user_messages == ["earlier question", "never sent"]


async def test_an_identical_older_question_is_not_taken_for_this_one(
    meibel: MeibelClient, store: Store, meibel_server: DevServer
) -> None:
    # "yes" was asked (and answered) a minute ago; this run's "yes" never left.
    pipeline = make_pipeline(meibel, store)
    await pipeline.ask(q("yes"))
    [session_id] = meibel_server.sessions
    meibel_server.sessions[session_id].turns[0].timestamp = "2000-01-01T00:00:00Z"
    notes = KeptNotes()
    notes.values[TURN] = SentTurn(session_id=session_id, sent_at=time.time()).encode()
    answer = await pipeline.ask(q("yes"), notes=notes)
    assert answer.ok and "This is turn **2**" in answer.text
    assert meibel_server.received["yes"] == 2


# -- stream bounds ---------------------------------------------------------------------
async def test_repeated_deltas_stay_correct(
    meibel: MeibelClient, store: Store, meibel_server: DevServer
) -> None:
    # Deltas that repeat the text so far ("ha" after "ha") are appended, never dropped.
    meibel_server.stream_mode = "delta"
    meibel_server.stream_piece_chars = 2
    meibel_server.answer_chars = 400
    meibel_server.stream_chunk_delay_seconds = 0.001
    updates = await collect(make_pipeline(meibel, store), "ha")
    answer = final(updates)
    shown = [u.text for u in updates if isinstance(u, PartialText)]
    assert shown and all(answer.text.startswith(text) for text in shown)
    assert len(answer.text) == 400


async def test_an_answer_is_capped_with_a_note(
    meibel: MeibelClient, store: Store, meibel_server: DevServer
) -> None:
    meibel_server.answer_chars = 250_000
    answer = final(await collect(make_pipeline(meibel, store), "write a novel"))
    assert answer.ok
    body, _, note = answer.text.rpartition("\n\n")
    assert 199_990 <= len(body) <= 200_000  # cut at the cap (trailing space trimmed)
    assert "longer than 200,000 characters" in note
    plain = await make_pipeline(meibel, store).ask(q("and another"))
    assert len(plain.text) < 200_100 and "longer than 200,000" in plain.text


# -- reading a session back: role names are undocumented ---------------------------------
class History:
    """A session as Meibel might spell it: SDK role names, upper case, extra fields."""

    def __init__(self, status: str, messages: list[dict[str, object]]) -> None:
        self.status, self.messages = status, messages

    async def get_session(self, session_id: str) -> SessionDetail:
        return SessionDetail.model_validate({"status": self.status, "tool_activity": []})

    async def get_messages(self, session_id: str) -> SessionMessages:
        return SessionMessages.model_validate({"messages": self.messages, "cursor": None})


@pytest.mark.parametrize(("user", "agent"), [("USER", "Assistant"), ("human", "ai")])
async def test_roles_are_matched_defensively(user: str, agent: str) -> None:
    now = time.time()
    history = History(
        "completed",
        [
            {"role": user, "message": "refund please", "timestamp": "2026-01-01T00:00:00"},
            {"role": agent, "message": {"content": "Done."}, "signal_id": "sig_1", "x": 1},
        ],
    )
    found = await find_turn(
        history, session_id="s", text=" refund  please ", sent_at=now, deadline=0
    )
    assert found == TurnNotArrived()  # the same words, but long before this turn was sent
    history.messages[0]["timestamp"] = None
    found = await find_turn(history, session_id="s", text="refund please", sent_at=now, deadline=0)
    assert found == TurnAnswered(text="Done.", signal_id="sig_1")
    history.messages.pop()
    assert (
        await find_turn(history, session_id="s", text="refund please", sent_at=now, deadline=0)
        == TurnUnanswered()
    )
    history.status = "RUNNING"
    unknown = await find_turn(
        history, session_id="s", text="refund please", sent_at=now, deadline=0
    )
    assert isinstance(unknown, TurnUnknown) and "RUNNING" in unknown.why


async def test_a_turn_sent_with_thread_context_is_found_in_the_session_after_a_drop(
    meibel: MeibelClient, store: Store, meibel_server: DevServer
) -> None:
    """The session's copy of the turn starts with the context preamble; reconciliation still
    knows it as ours (bot.context), so the agent gets it once and the user the answer."""
    pipeline = make_pipeline(meibel, store)
    await pipeline.ask(q("warm up"))
    meibel_server.queue_drop(at="request")
    said = (Said(speaker="Ann", text="the deploy failed"), Said(speaker="Bob", text="same"))
    question = q("what now?").model_copy(update={"context": said})
    answer = await asyncio.wait_for(pipeline.ask(question), 10)
    assert answer.ok and 'You asked: "what now?"' in answer.text
    [sent] = [text for text in meibel_server.received if text.endswith("what now?")]
    assert sent.startswith(OPEN) and "[Ann]: the deploy failed\n[Bob]: same" in sent
    assert meibel_server.received[sent] == 1
    assert endpoints(meibel_server) == ["chat", "chat"]  # warm up, then the one turn
