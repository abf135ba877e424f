"""The Redis store: shared by every process of a deployment.

Keys look like `mb:{slack:T1}:session:C1:1700.1`: the tenant sits in a Redis Cluster hash
tag so that all of one workspace's keys live on one slot, and every key is written with an
expiry so that nothing outlives its use.
"""

from __future__ import annotations

import functools
import json
import math
import re
import time
import uuid
from collections.abc import Awaitable
from typing import Any, TypeVar
from urllib.parse import parse_qs, unquote, urlsplit

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.driver_info import DriverInfo
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from bot.domain import Tenant, ThreadKey
from bot.store.base import SessionRecord, StoreError
from bot.store.redis_urls import is_sentinel_url, parse_sentinel_url, sentinel_client

T = TypeVar("T")

_PREFIX_RE = re.compile(r"[A-Za-z0-9_.\-]+")

# Lock and claim share one script. A plain SET NX is not safe to retry: when the reply is
# lost after the server applied it, the retried SET NX answers "taken" and the caller
# drops its own event (or leaks its own lock until the TTL). Comparing the stored token
# makes the retry answer the same as the first attempt.
_TAKE = """
local cur = redis.call('GET', KEYS[1])
if cur == false then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
if cur == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
# INCR and the expiry in one step: were the expiry a second command, a reply lost between
# the two would leave a counter that never resets.
_HIT = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return n
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


@functools.cache
def _driver_info() -> DriverInfo:
    return DriverInfo()


def _escape(part: str) -> str:
    # Channel and thread ids may contain ':', which would let ("a:b", "c") and ("a", "b:c")
    # collide; escaping keeps ordinary ids readable while making the layout unambiguous.
    return part.replace("%", "%25").replace(":", "%3A")


def _positive(ttl: float) -> float:
    if not ttl > 0:
        raise ValueError(f"ttl must be positive, got {ttl!r}")
    return ttl


def _millis(ttl: float) -> int:
    return max(1, math.ceil(_positive(ttl) * 1000))


class RedisStore:
    """`bot.store.base.Store` on Redis (one server, or a cluster thanks to the hash tags)."""

    def __init__(
        self,
        client: Redis,
        *,
        prefix: str = "mb",
        where: str = "redis",
        secrets: tuple[str, ...] = (),
    ) -> None:
        """Wrap a client; prefer `from_url`, which sets up the pool, timeouts and retries.

        `where` names the server in error messages; `secrets` are scrubbed from them.
        """
        if not _PREFIX_RE.fullmatch(prefix):
            raise ValueError(f"invalid prefix {prefix!r}: letters, digits, '_', '.', '-' only")
        self._client = client
        self._prefix = prefix
        self._where = where
        self._secrets = tuple(s for s in secrets if s)
        self._take = client.register_script(_TAKE)
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)
        self._hit = client.register_script(_HIT)

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        prefix: str = "mb",
        max_connections: int = 64,
        pool_timeout: float = 30.0,
    ) -> RedisStore:
        """A store on `url`; callers beyond `max_connections` wait up to `pool_timeout`.

        `url` is redis://, rediss://, unix:// or, for Redis Sentinel,
        redis+sentinel://[:password@]host1:26379[,host2:26379]/<service_name>[/<db>].
        """
        options: dict[str, Any] = {
            "max_connections": max_connections,
            "timeout": pool_timeout,
            "socket_connect_timeout": 5.0,
            "socket_timeout": 5.0,
            "socket_keepalive": True,
            "health_check_interval": 30,
            "retry": Retry(ExponentialBackoff(cap=0.5, base=0.05), retries=2),
            "retry_on_error": [RedisConnectionError, RedisTimeoutError, OSError],
            "decode_responses": True,
            # One DriverInfo for every connection: redis-py otherwise reads its own version
            # from package metadata for each new connection (10% of CPU in a burst).
            "driver_info": _driver_info(),
        }
        if is_sentinel_url(url):
            return cls._from_sentinel_url(url, prefix=prefix, options=options)
        parts = urlsplit(url)
        passwords = [parts.password or "", *parse_qs(parts.query).get("password", [])]
        secrets = _secret_forms(passwords)
        try:
            # The default pool fails fast with "Too many connections" under a burst; the
            # blocking pool makes callers queue for a connection instead.
            pool = BlockingConnectionPool.from_url(url, **options)
        except ValueError as exc:
            raise ValueError(_scrub(f"invalid redis URL: {exc}", secrets)) from None
        return cls(Redis.from_pool(pool), prefix=prefix, where=_where(url), secrets=secrets)

    @classmethod
    def _from_sentinel_url(cls, url: str, *, prefix: str, options: dict[str, Any]) -> RedisStore:
        # Scrub whatever the URL holds after '@' or in its query even when it does not
        # parse, so that a malformed URL's error cannot echo its password.
        parts = urlsplit(url.strip())
        query = parse_qs(parts.query)
        rough = [parts.password or "", *query.get("sentinel_password", [])]
        try:
            parsed = parse_sentinel_url(url)
        except ValueError as exc:
            raise ValueError(_scrub(f"invalid redis URL: {exc}", _secret_forms(rough))) from None
        secrets = _secret_forms([*rough, *parsed.secrets])
        # master_for gives a plain redis.asyncio.Redis, so the work queue can use it as is.
        client = sentinel_client(parsed, **options)
        return cls(client, prefix=prefix, where=parsed.where, secrets=secrets)

    @property
    def prefix(self) -> str:
        return self._prefix

    @property
    def client(self) -> Redis:
        """The underlying client, for parts that keep their own keys (the work queue)."""
        return self._client

    # -- key layout -------------------------------------------------------------------
    def tenant_prefix(self, tenant: Tenant) -> str:
        return f"{self._prefix}:{{{tenant.platform}:{tenant.workspace}}}"

    def session_key(self, key: ThreadKey) -> str:
        return self._thread_key("session", key)

    def lock_key(self, key: ThreadKey) -> str:
        return self._thread_key("lock", key)

    def event_key(self, tenant: Tenant, event_id: str) -> str:
        return f"{self.tenant_prefix(tenant)}:event:{_escape(event_id)}"

    def log_key(self, name: str) -> str:
        return f"{self._prefix}:log:{_escape(name)}"

    def value_key(self, tenant: Tenant, name: str) -> str:
        return f"{self.tenant_prefix(tenant)}:value:{_escape(name)}"

    def hit_key(self, tenant: Tenant, name: str) -> str:
        return f"{self.tenant_prefix(tenant)}:hits:{_escape(name)}"

    def _thread_key(self, kind: str, key: ThreadKey) -> str:
        return (
            f"{self.tenant_prefix(key.tenant)}:{kind}:{_escape(key.channel)}:{_escape(key.thread)}"
        )

    # -- thread -> session ------------------------------------------------------------
    async def get_session(self, key: ThreadKey, *, ttl_seconds: int) -> SessionRecord | None:
        ttl = int(_positive(ttl_seconds))
        # GETEX reads and refreshes the TTL in one round trip.
        raw = await self._run("get_session", self._client.getex(self.session_key(key), ex=ttl))
        if raw is None:
            return None
        try:
            data = json.loads(raw)
            return SessionRecord(session_id=str(data["session_id"]), agent=str(data["agent"]))
        except (ValueError, KeyError, TypeError):
            # An unreadable record would break the thread until it expires; treating it
            # as absent starts a fresh session whose put overwrites it.
            return None

    async def put_session(self, key: ThreadKey, record: SessionRecord, *, ttl_seconds: int) -> None:
        ttl = int(_positive(ttl_seconds))
        value = json.dumps({"session_id": record.session_id, "agent": record.agent})
        await self._run("put_session", self._client.set(self.session_key(key), value, ex=ttl))

    async def delete_session(self, key: ThreadKey) -> None:
        await self._run("delete_session", self._client.delete(self.session_key(key)))

    # -- exactly-once -----------------------------------------------------------------
    async def claim_event(self, tenant: Tenant, event_id: str, *, ttl_seconds: int) -> bool:
        ms = _millis(ttl_seconds)
        token = uuid.uuid4().hex
        key = self.event_key(tenant, event_id)
        return bool(await self._run("claim_event", self._take(keys=[key], args=[token, ms])))

    # -- per-thread lock across processes ---------------------------------------------
    async def acquire_lock(self, key: ThreadKey, token: str, *, ttl_seconds: float) -> bool:
        ms = _millis(ttl_seconds)
        lock = self.lock_key(key)
        return bool(await self._run("acquire_lock", self._take(keys=[lock], args=[token, ms])))

    async def renew_lock(self, key: ThreadKey, token: str, *, ttl_seconds: float) -> bool:
        ms = _millis(ttl_seconds)
        lock = self.lock_key(key)
        return bool(await self._run("renew_lock", self._renew(keys=[lock], args=[token, ms])))

    async def release_lock(self, key: ThreadKey, token: str) -> bool:
        lock = self.lock_key(key)
        return bool(await self._run("release_lock", self._release(keys=[lock], args=[token])))

    # -- small values with a TTL ------------------------------------------------------
    async def put_value(self, tenant: Tenant, name: str, value: str, *, ttl_seconds: int) -> None:
        ttl = int(_positive(ttl_seconds))
        await self._run("put_value", self._client.set(self.value_key(tenant, name), value, ex=ttl))

    async def get_value(self, tenant: Tenant, name: str) -> str | None:
        raw = await self._run("get_value", self._client.get(self.value_key(tenant, name)))
        return None if raw is None else str(raw)

    # -- counters in a fixed window ---------------------------------------------------
    async def hit(self, tenant: Tenant, name: str, *, window_seconds: int) -> int:
        # A retry after a lost reply counts twice; for a rate limit that errs on the strict
        # side by one, which is better than a script that needs a token per call.
        ms = _millis(window_seconds)
        key = self.hit_key(tenant, name)
        return int(await self._run("hit", self._hit(keys=[key], args=[ms])))

    # -- life cycle -------------------------------------------------------------------
    # -- append-only logs: a sorted set by time; members carry a unique head ----------
    async def append_log(self, name: str, value: str, *, at: float, keep_seconds: int) -> None:
        keep = _positive(keep_seconds)
        key = self.log_key(name)
        async with self._client.pipeline(transaction=True) as pipe:
            pipe.zremrangebyscore(key, "-inf", f"({time.time() - keep}")
            pipe.zadd(key, {f"{uuid.uuid4().hex}|{value}": at})
            await self._run("append_log", pipe.execute())

    async def read_log(self, name: str, *, since: float) -> list[tuple[float, str]]:
        raw = await self._run(
            "read_log",
            self._client.zrangebyscore(self.log_key(name), since, "+inf", withscores=True),
        )
        entries: list[Any] = list(raw)
        return [(float(score), str(member).split("|", 1)[1]) for member, score in entries]

    async def ping(self) -> None:
        await self._run("ping", self._client.ping())

    async def aclose(self) -> None:
        await self._run("aclose", self._client.aclose())

    async def _run(self, op: str, call: Awaitable[T]) -> T:
        try:
            return await call
        except (RedisError, OSError, TimeoutError) as exc:
            message = f"redis {op} on {self._where} failed: {type(exc).__name__}: {exc}"
            raise StoreError(_scrub(message, self._secrets)) from exc

    def __repr__(self) -> str:
        return f"RedisStore({self._where!r}, prefix={self._prefix!r})"


def _where(url: str) -> str:
    """The URL without credentials or query, for messages."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return f"unix://{parts.path}"
    try:
        port: Any = parts.port
    except ValueError:
        port = None
    host = parts.hostname or "localhost"
    return f"{parts.scheme}://{host}{f':{port}' if port else ''}{parts.path}"


def _secret_forms(passwords: list[str]) -> tuple[str, ...]:
    """Each password as written in the URL and decoded: messages may hold either."""
    return tuple({form for p in passwords for form in (p, unquote(p)) if form})


def _scrub(message: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        if secret:
            message = message.replace(secret, "***")
    return message
