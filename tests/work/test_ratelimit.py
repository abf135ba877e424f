"""The per-user rate limit: parsed from settings, shared by processes, failing open."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from bot.domain import Tenant
from bot.ratelimit import RateLimit, UserRateLimiter
from bot.store import RedisStore, SqliteStore, Store
from tests.fixtures.redis import free_port

SLACK = Tenant("slack", "T1")
OTHER_WORKSPACE = Tenant("slack", "T2")


@pytest.mark.parametrize(
    ("text", "count", "window"),
    [
        ("20/minute", 20, 60),
        ("1/second", 1, 1),
        ("100/hour", 100, 3600),
        ("500/day", 500, 86400),
        (" 5 / Minutes ", 5, 60),
    ],
)
def test_parse(text: str, count: int, window: int) -> None:
    assert RateLimit.parse(text) == RateLimit(count=count, window_seconds=window)


@pytest.mark.parametrize("text", ["", "20", "20/", "/minute", "x/minute", "20/week", "2.5/hour"])
def test_parse_errors_name_the_format(text: str) -> None:
    with pytest.raises(ValueError, match=r"expected <count>/<unit> such as 20/minute"):
        RateLimit.parse(text)


def test_a_zero_limit_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        RateLimit.parse("0/minute")


@pytest.fixture(params=["redis", "sqlite"])
def first_process(request: pytest.FixtureRequest) -> tuple[Store, str | None]:
    """One process's store, and the Redis URL when it is on Redis.

    Sync: getfixturevalue cannot set up an async fixture from inside the running loop.
    """
    store: Store = request.getfixturevalue(f"{request.param}_store")
    url = request.getfixturevalue("redis_url") if request.param == "redis" else None
    return store, url


@contextlib.asynccontextmanager
async def second_process(first: Store, url: str | None) -> AsyncIterator[Store]:
    """Another handle on the same data, as a second process of the deployment holds it."""
    if isinstance(first, RedisStore):
        assert url is not None
        second: Store = RedisStore.from_url(url, prefix=first.prefix)
    else:
        assert isinstance(first, SqliteStore)
        second = await SqliteStore.open(first.path)
    try:
        yield second
    finally:
        await second.aclose()


async def test_twenty_a_minute_across_processes_per_user_and_workspace(
    first_process: tuple[Store, str | None],
) -> None:
    limit = RateLimit.parse("20/minute")
    store, url = first_process
    async with second_process(store, url) as other:
        await _twenty_a_minute(UserRateLimiter(store, limit), UserRateLimiter(other, limit))


async def _twenty_a_minute(one: UserRateLimiter, two: UserRateLimiter) -> None:
    verdicts = [await (one if i % 2 else two).allow(SLACK, "U1") for i in range(20)]
    assert verdicts == [True] * 20
    assert await one.allow(SLACK, "U1") is False
    assert await two.allow(SLACK, "U1") is False
    assert await one.allow(SLACK, "U2") is True  # another user
    assert await two.allow(OTHER_WORKSPACE, "U1") is True  # the same id elsewhere


async def test_the_window_ends(sqlite_store: SqliteStore) -> None:
    limiter = UserRateLimiter(sqlite_store, RateLimit.parse("1/second"))
    assert await limiter.allow(SLACK, "U1") is True
    assert await limiter.allow(SLACK, "U1") is False
    async with asyncio.timeout(5):  # bounded: the window is one second
        while True:
            if await limiter.allow(SLACK, "U1"):
                break
            await asyncio.sleep(0.1)


async def test_no_limit_allows_everything(sqlite_store: SqliteStore) -> None:
    limiter = UserRateLimiter(sqlite_store, None)
    assert all([await limiter.allow(SLACK, "U1") for _ in range(100)])


async def test_a_store_that_is_down_lets_questions_through_quickly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = RedisStore.from_url(f"redis://127.0.0.1:{free_port()}/0", prefix="nobody")
    limiter = UserRateLimiter(store, RateLimit.parse("1/minute"), timeout_seconds=1.0)
    try:
        async with asyncio.timeout(3):
            verdicts = [await limiter.allow(SLACK, "U1") for _ in range(3)]
    finally:
        await store.aclose()
    assert verdicts == [True, True, True]
    warnings = [r for r in caplog.records if "rate limit not enforced" in r.getMessage()]
    assert len(warnings) == 1  # once per outage, not once per question
