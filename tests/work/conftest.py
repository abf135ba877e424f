"""Fixtures of the work-queue tests: a queue on the real Redis, under a prefix of its own."""

from __future__ import annotations

import pytest

from bot.store import RedisStore
from bot.work import RedisWorkQueue
from tests.work.helpers import FAST


@pytest.fixture
def queue(redis_store: RedisStore) -> RedisWorkQueue:
    return RedisWorkQueue(redis_store, config=FAST)
