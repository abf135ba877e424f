"""Redis Sentinel URLs: `redis+sentinel://[:password@]host1:26379[,host2:26379]/<service>[/<db>]`.

redis-py parses plain redis:// URLs itself but has no URL form for Sentinel, so this module
reads one into the host list, service name and credentials that `Sentinel` wants, and builds
a client on the current master with a pool that waits when it is full.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.connection import Connection
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool, SentinelManagedConnection

SENTINEL_SCHEME = "redis+sentinel"
DEFAULT_SENTINEL_PORT = 26379


class SentinelMasterConnection(SentinelManagedConnection):
    """A Sentinel-managed connection that asks for the master again on every reconnect.

    redis-py 8's command path reconnects a dropped connection through
    `connect_check_health`, which skips the Sentinel lookup in `connect`: a command retried
    after "The previous master is now a slave" went back to the old master and failed
    again. Routing every reconnect through `connect` makes the retry reach the new master.
    """

    async def connect_check_health(
        self, check_health: bool = True, retry_socket_connect: bool = True
    ) -> None:
        if self.is_connected:
            return
        await self.connect()  # type: ignore[no-untyped-call]

    async def connect_to(self, address: tuple[str, int]) -> None:
        # `connect` ends here with the address Sentinel named; connect to it without
        # coming back through the override above.
        self.host, self.port = address
        await Connection.connect_check_health(
            self, check_health=self.connection_pool.check_connection, retry_socket_connect=False
        )


class BlockingSentinelConnectionPool(SentinelConnectionPool, BlockingConnectionPool):
    """A Sentinel pool whose callers wait for a free connection instead of failing.

    SentinelConnectionPool extends the plain ConnectionPool, which raises "Too many
    connections" once `max_connections` are in use. In this MRO its __init__ hands the
    remaining kwargs (`max_connections`, `timeout`) to BlockingConnectionPool, whose
    get_connection/release queue callers; the Sentinel part only decides where a new
    connection goes (SentinelManagedConnection asks the pool for the master's address when it
    connects, outside the blocking pool's lock).
    """

    async def aclose(self) -> None:
        # The store owns the Sentinel clients too: close them with the master's pool, or
        # their connections outlive the store.
        try:
            await super().aclose()
        finally:
            await self.sentinel_manager.aclose()


@dataclass(frozen=True)
class SentinelUrl:
    sentinels: tuple[tuple[str, int], ...]
    service_name: str
    db: int
    username: str | None
    password: str | None
    sentinel_password: str | None

    @property
    def where(self) -> str:
        """The URL without credentials, for messages."""
        hosts = ",".join(_host_port(host, port) for host, port in self.sentinels)
        return f"{SENTINEL_SCHEME}://{hosts}/{self.service_name}/{self.db}"

    @property
    def secrets(self) -> tuple[str, ...]:
        return tuple(s for s in (self.password, self.sentinel_password) if s)


def is_sentinel_url(url: str) -> bool:
    return urlsplit(url.strip()).scheme.lower() == SENTINEL_SCHEME


def parse_sentinel_url(url: str) -> SentinelUrl:
    """Read a redis+sentinel:// URL; ValueError messages never contain the password.

    The userinfo password is the Redis master's (`requirepass`); a Sentinel that has its own
    password takes it from `?sentinel_password=`.
    """
    parts = urlsplit(url.strip())
    if parts.scheme.lower() != SENTINEL_SCHEME:
        raise ValueError(f"not a {SENTINEL_SCHEME}:// URL")
    userinfo, _, hostlist = parts.netloc.rpartition("@")
    sentinels = tuple(_parse_host(host) for host in hostlist.split(",") if host.strip())
    if not sentinels:
        raise ValueError("a Sentinel URL needs at least one host:port")
    segments = [unquote(s) for s in parts.path.split("/") if s]
    if not segments or len(segments) > 2:
        raise ValueError("a Sentinel URL's path is /<service_name> or /<service_name>/<db>")
    db = 0
    if len(segments) == 2:
        if not segments[1].isdigit():
            raise ValueError("the database after the service name must be a number")
        db = int(segments[1])
    username, password = None, None
    if userinfo:
        user, has_password, secret = userinfo.partition(":")
        username = unquote(user) or None
        password = unquote(secret) if has_password and secret else None
    query = parse_qs(parts.query)
    sentinel_password = next(iter(query.get("sentinel_password", [])), None)
    return SentinelUrl(
        sentinels=sentinels,
        service_name=segments[0],
        db=db,
        username=username,
        password=password,
        sentinel_password=sentinel_password or None,
    )


def sentinel_client(url: SentinelUrl, **pool_kwargs: Any) -> Redis:
    """A client on the master that `url`'s Sentinels name, reconnecting after a failover.

    `pool_kwargs` are the same connection and pool options a plain URL gets; the socket
    timeouts and keepalive also apply to the connections to the Sentinels themselves.
    """
    sentinel_kwargs: dict[str, Any] = {
        k: v for k, v in pool_kwargs.items() if k.startswith("socket_")
    }
    if "retry" in pool_kwargs:
        # Without it each Sentinel query gets redis-py's default retry (backoff up to 10 s,
        # three times), and an unreachable Sentinel stalls every connect for half a minute.
        # A copy, because a client adjusts the Retry it is given.
        sentinel_kwargs["retry"] = copy.copy(pool_kwargs["retry"])
    if url.sentinel_password:
        sentinel_kwargs["password"] = url.sentinel_password
    # redis-py leaves Sentinel.__init__ unannotated.
    sentinel = Sentinel(list(url.sentinels), sentinel_kwargs=sentinel_kwargs)  # type: ignore[no-untyped-call]
    client: Redis = sentinel.master_for(
        url.service_name,
        redis_class=Redis,
        connection_pool_class=BlockingSentinelConnectionPool,
        connection_class=SentinelMasterConnection,
        db=url.db,
        username=url.username,
        password=url.password,
        **pool_kwargs,
    )
    return client


def _parse_host(text: str) -> tuple[str, int]:
    parts = urlsplit(f"//{text.strip()}")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"invalid port in Sentinel host {text.strip()!r}") from None
    if not parts.hostname:
        raise ValueError(f"invalid Sentinel host {text.strip()!r}")
    return parts.hostname, port or DEFAULT_SENTINEL_PORT


def _host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
