"""The pipeline end to end: real dev server over HTTP, real Redis and a real SQLite file."""

from __future__ import annotations

import asyncio

import pytest

from bot.devserver import DevServer
from bot.domain import AnswerKind, Question
from bot.meibel.client import MeibelClient
from bot.pipeline import Pipeline, PipelineConfig
from bot.routing import AgentRef, Router
from bot.store import RedisStore, Store


def make_pipeline(
    meibel: MeibelClient, store: Store, *, routes: dict[str, str] | None = None
) -> Pipeline:
    router = Router(default=AgentRef("name", "default-agent"), routes=routes or {})
    return Pipeline(meibel=meibel, store=store, config=PipelineConfig(router=router))


def q(text: str, *, thread: str = "t1", workspace: str = "T1", channel: str = "C1") -> Question:
    return Question(
        platform="slack", workspace=workspace, channel=channel, thread=thread, user="U1", text=text
    )


async def test_a_thread_keeps_one_session(
    meibel: MeibelClient, store: Store, meibel_server: DevServer
) -> None:
    pipeline = make_pipeline(meibel, store)
    first = await pipeline.ask(q("What is Meibel?"))
    second = await pipeline.ask(q("And how much is it?"))
    assert first.ok and second.ok
    assert 'You asked: "What is Meibel?"' in first.text
    assert first.sources and first.follow_ups and first.actions and first.artifacts
    assert first.signal_id and first.signal_id != second.signal_id
    [session] = meibel_server.sessions.values()
    assert session.user_messages == ["What is Meibel?", "And how much is it?"]
    assert session.agent.name == "default-agent"


async def test_threads_and_workspaces_never_share_sessions(
    meibel: MeibelClient, store: Store, meibel_server: DevServer
) -> None:
    pipeline = make_pipeline(meibel, store)
    await pipeline.ask(q("one", thread="t1", workspace="T1"))
    await pipeline.ask(q("two", thread="t2", workspace="T1"))
    await pipeline.ask(q("three", thread="t1", workspace="T2"))  # same channel and thread ids
    await pipeline.ask(q("four", thread="t1", workspace="T2"))
    by_messages = sorted(s.user_messages for s in meibel_server.sessions.values())
    assert by_messages == [["one"], ["three", "four"], ["two"]]


async def test_two_first_messages_at_once_create_one_session(
    meibel: MeibelClient, store: Store, meibel_server: DevServer
) -> None:
    pipeline = make_pipeline(meibel, store)
    answers = await asyncio.gather(pipeline.ask(q("first")), pipeline.ask(q("second")))
    assert all(a.ok for a in answers)
    assert len(meibel_server.sessions) == 1


async def test_a_burst_is_answered_one_at_a_time_in_order(
    meibel: MeibelClient, store: Store, meibel_server: DevServer
) -> None:
    pipeline = make_pipeline(meibel, store)
    texts = [f"message {i}" for i in range(5)]
    answers = await asyncio.gather(*(pipeline.ask(q(t)) for t in texts))
    assert [f'You asked: "{t}"' in a.text for a, t in zip(answers, texts, strict=True)] == [
        True
    ] * 5
    [session] = meibel_server.sessions.values()
    assert session.user_messages == texts
    assert meibel_server.max_in_flight_by_session[session.session_id] == 1


async def test_two_processes_on_one_redis_serialize_a_thread(
    meibel: MeibelClient, redis_store: RedisStore, meibel_server: DevServer
) -> None:
    # Two pipelines with their own in-process queues share only the Redis lock.
    a, b = make_pipeline(meibel, redis_store), make_pipeline(meibel, redis_store)
    await a.ask(q("start"))
    answers = await asyncio.gather(*(p.ask(q(f"m{i}")) for i, p in enumerate([a, b] * 4)))
    assert all(x.ok for x in answers)
    [session] = meibel_server.sessions.values()
    assert len(session.user_messages) == 9
    assert meibel_server.max_in_flight_by_session[session.session_id] == 1


async def test_a_lost_session_is_replaced_and_the_answer_says_so(
    meibel: MeibelClient, store: Store, meibel_server: DevServer
) -> None:
    pipeline = make_pipeline(meibel, store)
    await pipeline.ask(q("hello"))
    meibel_server.forget_sessions()
    answer = await pipeline.ask(q("are you there?"))
    assert answer.ok and answer.session_restarted
    [session] = meibel_server.sessions.values()
    assert session.user_messages == ["are you there?"]
    again = await pipeline.ask(q("and now?"))
    assert not again.session_restarted
    assert session.user_messages == ["are you there?", "and now?"]


@pytest.mark.parametrize("text", ["", "   \n\t "])
async def test_empty_question_gets_a_hint_and_no_call(
    meibel: MeibelClient, store: Store, meibel_server: DevServer, text: str
) -> None:
    answer = await make_pipeline(meibel, store).ask(q(text))
    assert answer.kind is AnswerKind.HINT and "question" in answer.text
    assert meibel_server.requests == []


async def test_too_long_question_is_refused_naming_the_limit(
    meibel: MeibelClient, store: Store, meibel_server: DevServer
) -> None:
    answer = await make_pipeline(meibel, store).ask(q("x" * 8001))
    assert answer.kind is AnswerKind.HINT
    assert "8,000" in answer.text and "8,001" in answer.text
    assert meibel_server.requests == []


async def test_meibel_down_becomes_a_helpful_message(
    meibel: MeibelClient, store: Store, meibel_server: DevServer
) -> None:
    meibel_server.queue_responses(503, times=10, path_contains="")
    answer = await make_pipeline(meibel, store).ask(q("hello"))
    assert answer.kind is AnswerKind.ERROR
    assert "try again" in answer.text.lower()
    assert "Traceback" not in answer.text and "503" not in answer.text


async def test_bad_key_is_explained_without_the_key(meibel_server: DevServer, store: Store) -> None:
    key = "sk-wrong-key-1234567890"
    client = MeibelClient(base_url=meibel_server.base_url, api_key=key, timeout_seconds=5)
    try:
        answer = await make_pipeline(client, store).ask(q("hello"))
    finally:
        await client.aclose()
    assert answer.kind is AnswerKind.ERROR and answer.error_code == "meibel_auth"
    assert "API key" in answer.text and "admin" in answer.text
    assert key not in answer.text


async def test_routes_pick_the_agent_and_a_thread_keeps_it(
    meibel: MeibelClient, store: Store, meibel_server: DevServer
) -> None:
    routed = make_pipeline(meibel, store, routes={"slack:C9": "support-agent"})
    await routed.ask(q("hi", channel="C9"))
    await routed.ask(q("hi", channel="C1", thread="other"))
    agents = sorted(s.agent.name for s in meibel_server.sessions.values())
    assert agents == ["default-agent", "support-agent"]
    # The route changes; the existing thread keeps its agent, even when its session is lost.
    rerouted = make_pipeline(meibel, store, routes={"slack:C9": "new-agent"})
    meibel_server.forget_sessions()
    answer = await rerouted.ask(q("still you?", channel="C9"))
    assert answer.session_restarted
    [session] = meibel_server.sessions.values()
    assert session.agent.name == "support-agent"


async def test_a_missing_agent_is_explained(
    meibel: MeibelClient, store: Store, meibel_server: DevServer
) -> None:
    pipeline = make_pipeline(meibel, store, routes={"slack:C1": "missing-agent"})
    answer = await pipeline.ask(q("hello"))
    assert answer.error_code == "meibel_agent_not_found"
    assert "admin" in answer.text


async def test_reset_starts_a_fresh_session(
    meibel: MeibelClient, store: Store, meibel_server: DevServer
) -> None:
    pipeline = make_pipeline(meibel, store)
    await pipeline.ask(q("one"))
    await pipeline.reset(q("x").thread_key)
    answer = await pipeline.ask(q("two"))
    assert answer.ok and not answer.session_restarted
    assert sorted(s.user_messages for s in meibel_server.sessions.values()) == [["one"], ["two"]]


async def test_a_store_outage_is_a_visible_message(
    meibel: MeibelClient, meibel_server: DevServer
) -> None:
    dead = RedisStore.from_url("redis://:pw-secret@127.0.0.1:1/0", prefix="dead")
    try:
        answer = await make_pipeline(meibel, dead).ask(q("hello"))
    finally:
        await dead.aclose()
    assert answer.error_code == "store_unavailable"
    assert "try again" in answer.text.lower() and "pw-secret" not in answer.text
    assert meibel_server.chat_requests() == []
