"""REDIS_URL on Redis Sentinel: a real redis-server (with a password) and a real sentinel."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
import redis
import redis.asyncio

from bot.domain import Tenant, ThreadKey
from bot.settings import SettingsError, load_settings
from bot.store import RedisStore, SessionRecord, StoreError, open_store
from bot.store.redis_urls import BlockingSentinelConnectionPool, parse_sentinel_url
from bot.work import Job, RedisWorkQueue
from tests.fixtures.redis import delete_prefix, free_port, wait_for_ping
from tests.work.helpers import FAST, eventually, job, running

PASSWORD = "s3cret-pw"
T1 = Tenant("slack", "T1")
KEY = ThreadKey(T1, "C1", "1700.1")


@contextlib.contextmanager
def _process(args: list[str]) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_for_master(port: int, *, timeout: float = 10.0) -> None:
    """Poll the sentinel until it names the master it monitors."""
    client = redis.Redis(port=port, socket_connect_timeout=0.5, socket_timeout=0.5)
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                if client.sentinel_get_master_addr_by_name("mymaster"):
                    return
            except (redis.RedisError, OSError):
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"sentinel on {port} did not name mymaster in {timeout}s")
            time.sleep(0.05)
    finally:
        client.close()


@pytest.fixture(scope="module")
def sentinel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, str]]:
    """(sentinel port, master URL): a password-protected master watched by one sentinel."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    workdir = tmp_path_factory.mktemp("sentinel")
    master_port, sentinel_port = free_port(), free_port()
    master_url = f"redis://:{PASSWORD}@127.0.0.1:{master_port}/0"
    master = [binary, "--port", str(master_port), "--bind", "127.0.0.1", "--save", ""]
    master += ["--appendonly", "no", "--dir", str(workdir), "--requirepass", PASSWORD]
    # Sentinel rewrites its config file, so it gets its own in the temporary directory.
    conf = workdir / "sentinel.conf"
    conf.write_text(
        f"port {sentinel_port}\nbind 127.0.0.1\ndir {workdir}\n"
        f"sentinel monitor mymaster 127.0.0.1 {master_port} 1\n"
        f"sentinel auth-pass mymaster {PASSWORD}\n"
    )
    with _process(master), _process([binary, str(conf), "--sentinel"]):
        wait_for_ping(master_url)
        _wait_for_master(sentinel_port)
        yield sentinel_port, master_url


def _poll(check: Callable[[], object], *, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not happen within {timeout}s")
        time.sleep(0.05)


@pytest.fixture
def replicated(tmp_path: Path) -> Iterator[tuple[int, int, int]]:
    """(sentinel port, master port, replica port): a topology this test may fail over."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    master_port, replica_port, sentinel_port = free_port(), free_port(), free_port()
    common = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--shutdown-timeout", "0"]
    common += ["--requirepass", PASSWORD, "--masterauth", PASSWORD]
    (tmp_path / "m").mkdir()
    (tmp_path / "r").mkdir()
    master = [binary, "--port", str(master_port), "--dir", str(tmp_path / "m"), *common]
    replica = [binary, "--port", str(replica_port), "--dir", str(tmp_path / "r"), *common]
    replica += ["--replicaof", "127.0.0.1", str(master_port)]
    conf = tmp_path / "sentinel.conf"
    conf.write_text(
        f"port {sentinel_port}\nbind 127.0.0.1\ndir {tmp_path}\n"
        f"sentinel monitor mymaster 127.0.0.1 {master_port} 1\n"
        f"sentinel auth-pass mymaster {PASSWORD}\n"
    )
    with _process(master), _process(replica), _process([binary, str(conf), "--sentinel"]):
        wait_for_ping(f"redis://:{PASSWORD}@127.0.0.1:{master_port}/0")
        wait_for_ping(f"redis://:{PASSWORD}@127.0.0.1:{replica_port}/0")
        _wait_for_master(sentinel_port)
        yield sentinel_port, master_port, replica_port


def test_the_store_follows_a_sentinel_failover(replicated: tuple[int, int, int]) -> None:
    sentinel_port, master_port, replica_port = replicated
    watcher = redis.Redis(port=sentinel_port, socket_timeout=2, decode_responses=True)
    try:
        store = RedisStore.from_url(_url(sentinel_port), prefix="test-failover")

        async def write(value: str) -> str | None:
            await store.put_value(T1, "where", value, ttl_seconds=60)
            return await store.get_value(T1, "where")

        loop = asyncio.new_event_loop()
        try:
            assert loop.run_until_complete(write("before")) == "before"

            def failover_started() -> bool:
                # Sentinel refuses (NOGOODSLAVE) until the replica has synced and it has
                # fresh INFO from it; asking again is the bounded wait for that.
                try:
                    watcher.execute_command("SENTINEL", "FAILOVER", "mymaster")  # type: ignore[no-untyped-call]
                except redis.ResponseError as exc:
                    return "INPROG" in str(exc)
                return True

            _poll(failover_started, what="the sentinel accepting a failover")

            def promoted() -> bool:
                address = watcher.sentinel_get_master_addr_by_name("mymaster")
                return bool(address) and int(address[1]) == replica_port  # type: ignore[index]

            _poll(promoted, what="the failover to the replica")
            old = redis.Redis(port=master_port, password=PASSWORD, decode_responses=True)
            try:
                # Until the old master is demoted it still takes writes (a client can only
                # follow what Sentinel says). Sentinel demotes it on its next INFO round,
                # up to 20 s away; doing Sentinel's REPLICAOF now keeps the test short.
                old.execute_command("REPLICAOF", "127.0.0.1", str(replica_port))  # type: ignore[no-untyped-call]
                _poll(lambda: old.info("replication")["role"] == "slave", what="the demotion")
            finally:
                old.close()
            # The pooled connection still points at the old master, now a read-only
            # replica: the write is retried on the master the Sentinel names now.
            assert loop.run_until_complete(write("after")) == "after"
            on_new = redis.Redis(port=replica_port, password=PASSWORD, decode_responses=True)
            try:
                assert on_new.get(store.value_key(T1, "where")) == "after"
                assert on_new.info("replication")["role"] == "master"
            finally:
                on_new.close()
        finally:
            loop.run_until_complete(store.aclose())
            loop.close()
    finally:
        watcher.close()


def _url(port: int, *, password: str = PASSWORD, tail: str = "/mymaster") -> str:
    return f"redis+sentinel://:{password}@127.0.0.1:{port}{tail}"


@pytest.fixture
async def store(sentinel: tuple[int, str]) -> AsyncIterator[RedisStore]:
    port, master_url = sentinel
    opened = RedisStore.from_url(_url(port), prefix=f"test-{uuid.uuid4().hex}")
    try:
        yield opened
    finally:
        try:
            await delete_prefix(master_url, opened.prefix)
        finally:
            await opened.aclose()


async def test_the_store_works_through_sentinel_on_the_master(
    store: RedisStore, sentinel: tuple[int, str]
) -> None:
    record = SessionRecord(session_id="sess-1", agent="dev-agent")
    await store.put_session(KEY, record, ttl_seconds=60)
    assert await store.get_session(KEY, ttl_seconds=60) == record
    assert await store.claim_event(T1, "Ev1", ttl_seconds=60) is True
    assert await store.claim_event(T1, "Ev1", ttl_seconds=60) is False
    assert await store.acquire_lock(KEY, "owner", ttl_seconds=30) is True
    assert await store.acquire_lock(KEY, "other", ttl_seconds=30) is False
    assert await store.release_lock(KEY, "owner") is True
    await store.put_value(T1, "button", "payload", ttl_seconds=60)
    assert await store.get_value(T1, "button") == "payload"
    # The writes landed on the master the sentinel names, under the usual key layout.
    master = redis.asyncio.Redis.from_url(sentinel[1], decode_responses=True)
    try:
        assert await master.get(store.value_key(T1, "button")) == "payload"
    finally:
        await master.aclose()
    assert type(store.client) is redis.asyncio.Redis
    assert PASSWORD not in repr(store)


async def test_a_burst_waits_for_connections_instead_of_failing(
    sentinel: tuple[int, str],
) -> None:
    port, master_url = sentinel
    burst = RedisStore.from_url(_url(port), prefix=f"test-{uuid.uuid4().hex}", max_connections=4)
    assert isinstance(burst.client.connection_pool, BlockingSentinelConnectionPool)
    try:

        async def one(i: int) -> None:
            await burst.put_value(T1, f"v{i}", str(i), ttl_seconds=60)
            assert await burst.get_value(T1, f"v{i}") == str(i)

        await asyncio.gather(*(one(i) for i in range(300)))
    finally:
        await delete_prefix(master_url, burst.prefix)
        await burst.aclose()


async def test_the_work_queue_runs_on_a_sentinel_store(store: RedisStore) -> None:
    queue = RedisWorkQueue(store, config=FAST)
    jobs = [job(n) for n in range(5)]
    for j in jobs:
        await queue.submit(j)
    handled: list[str] = []

    async def handler(j: Job) -> None:
        handled.append(j.id)

    async def all_handled() -> bool:
        return len(handled) == len(jobs)

    async with running(queue, handler):
        await eventually(all_handled)
    assert sorted(handled) == sorted(j.id for j in jobs)


async def test_open_store_takes_a_sentinel_url(sentinel: tuple[int, str], tmp_path: Path) -> None:
    chosen = await open_store(redis_url=_url(sentinel[0]), sqlite_path=str(tmp_path / "x.db"))
    try:
        assert isinstance(chosen, RedisStore)
        assert await chosen.get_value(T1, f"absent-{uuid.uuid4().hex}") is None
    finally:
        await chosen.aclose()


async def test_a_wrong_master_password_is_a_store_error_without_it(
    sentinel: tuple[int, str],
) -> None:
    with pytest.raises(StoreError) as caught:
        await open_store(redis_url=_url(sentinel[0], password="wr0ng-pw"), sqlite_path="unused")
    assert "wr0ng-pw" not in str(caught.value)


async def test_an_unreachable_sentinel_is_a_store_error_without_the_password() -> None:
    port = free_port()
    store = RedisStore.from_url(_url(port, tail="/mymaster/2"), prefix="test-unreachable")
    try:
        with pytest.raises(StoreError) as caught:
            await store.ping()
        message = str(caught.value)
        assert PASSWORD not in message
        assert f"127.0.0.1:{port}" in message
        assert PASSWORD not in repr(store)
    finally:
        await store.aclose()
    with pytest.raises(StoreError):
        await open_store(redis_url=_url(port), sqlite_path="unused")


def test_sentinel_urls_are_parsed_and_malformed_ones_named_without_the_password() -> None:
    parsed = parse_sentinel_url(
        "redis+sentinel://:p%40ss@10.0.0.1,10.0.0.2:26380,[::1]:26381/cache/3?sentinel_password=sp"
    )
    assert parsed.sentinels == (("10.0.0.1", 26379), ("10.0.0.2", 26380), ("::1", 26381))
    assert (parsed.service_name, parsed.db, parsed.password) == ("cache", 3, "p@ss")
    assert parsed.sentinel_password == "sp"
    assert parsed.where == "redis+sentinel://10.0.0.1:26379,10.0.0.2:26380,[::1]:26381/cache/3"
    for bad in (_url(1, tail=""), _url(1, tail="/a/b"), "redis+sentinel://:s3cret-pw@/m"):
        with pytest.raises(ValueError) as caught:
            RedisStore.from_url(bad)
        assert PASSWORD not in str(caught.value)


def test_settings_accept_a_sentinel_url_and_still_reject_http(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env
    url = "redis+sentinel://:pw-in-url@h1:26379,h2:26379/mymaster/0"
    monkeypatch.setenv("REDIS_URL", url)
    assert load_settings().redis_dsn == url
    for bad in ("http://h1:6379/0", "redis+sentinel://:pw-in-url@h1:26379"):
        monkeypatch.setenv("REDIS_URL", bad)
        with pytest.raises(SettingsError) as caught:
            load_settings()
        assert "REDIS_URL" in str(caught.value)
        assert "redis+sentinel://" in str(caught.value)
        assert "pw-in-url" not in str(caught.value)
