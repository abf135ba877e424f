"""The Redis commands of the work queue, typed; no policy (retries, timing) lives here.

Every method raises redis' own errors (RedisError, OSError); `RedisWorkQueue` decides what
an outage means. Replies are read in redis-py's RESP2 shapes, which the store's client uses.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from redis.asyncio import Redis
from redis.exceptions import ResponseError
from redis.typing import EncodableT

from bot.work.fence import Lease
from bot.work.job import Job
from bot.work.queue import WorkConfig
from bot.work.redis_keys import DEAD, FINISH, GROUP, POSTED, RECLAIM, SUBMIT, TOUCH, QueueKeys

log = logging.getLogger(__name__)


def is_nogroup(exc: BaseException) -> bool:
    """The group (or the whole stream) is gone: a Redis that restarted empty."""
    return isinstance(exc, ResponseError) and str(exc).startswith("NOGROUP")


class BacklogFull(Exception):
    """Submit refused: the stream already holds `max_backlog` entries."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One stream entry given to this consumer. `job` is None when it cannot be read.

    (this consumer, `deliveries`) is the fence of the run the claim started: any later
    claim counts one more delivery (see bot.work.redis_keys).
    """

    entry_id: str
    job: Job | None
    raw: str
    deliveries: int


class EntryLease(Lease):
    """The fence of one run of `entry` (bot.work.fence.Lease): the fenced scripts act
    only while XPENDING shows this consumer holding it with this delivery count."""

    def __init__(
        self,
        entry: Entry,
        *,
        verify: Callable[[], Awaitable[bool]],
        lease_seconds: float,
        verify_seconds: float,
        renewed_at: float,
    ) -> None:
        super().__init__(
            verify=verify,
            lease_seconds=lease_seconds,
            verify_seconds=verify_seconds,
            renewed_at=renewed_at,
        )
        self.entry = entry


class Stream:
    """One queue's stream, its consumer group and its side keys, as seen by one consumer."""

    def __init__(self, client: Redis, keys: QueueKeys, *, consumer: str, config: WorkConfig):
        self.client = client
        self.keys = keys
        self.consumer = consumer
        self._config = config
        self._submit = client.register_script(SUBMIT)
        self._finish = client.register_script(FINISH)
        self._dead = client.register_script(DEAD)
        self._touch = client.register_script(TOUCH)
        self._reclaim = client.register_script(RECLAIM)
        self._posted = client.register_script(POSTED)
        self._cursor = "0-0"

    async def add(self, job: Job) -> tuple[bool, str]:
        """(added, entry id); (False, id) when the job id was already accepted."""
        cfg = self._config
        args: list[EncodableT] = [job.model_dump_json(), cfg.dedupe_ttl_seconds]
        args += [cfg.order_ttl_seconds, cfg.max_backlog]
        keys = [self.keys.stream, self.keys.seen(job.id), self.keys.order(job.thread_key)]
        status, entry_id = await self._submit(keys=keys, args=args)
        if int(status) < 0:
            raise BacklogFull(f"{cfg.max_backlog} entries waiting")
        return int(status) == 1, str(entry_id)

    async def ensure_group(self) -> None:
        """Create the group (and the stream) unless it exists, and this consumer in it.

        From id 0, not "$": entries added before the group existed (a Redis that came back
        empty and took submits first) must be read, not skipped. The consumer is created
        up front so that XINFO CONSUMERS lists a worker before its first job.
        """
        try:
            await self.client.xgroup_create(self.keys.stream, GROUP, id="0", mkstream=True)
            log.info("created consumer group %s on %s", GROUP, self.keys.stream)
        except ResponseError as exc:
            if not str(exc).startswith("BUSYGROUP"):
                raise
        await self.client.xgroup_createconsumer(self.keys.stream, GROUP, self.consumer)

    async def read(self, count: int, *, block_ms: int) -> list[Entry]:
        """New entries for this consumer, waiting up to `block_ms` for the first."""
        reply = await self.client.xreadgroup(
            GROUP, self.consumer, {self.keys.stream: ">"}, count=count, block=block_ms
        )
        # RESP2 shape: [[stream, [(id, fields), ...]]]; only one stream is read.
        streams: list[Any] = list(reply or [])
        return [
            _entry(eid, fields, deliveries=1)
            for _s, messages in streams
            for eid, fields in messages
        ]

    async def reclaim(self, count: int, *, min_idle_ms: int) -> tuple[list[Entry], bool]:
        """Take over up to `count` entries idle for `min_idle_ms` (dead or slow consumers);
        also whether the scan reached the end of the pending list.

        The scan resumes where the last call stopped, so a long list of entries that are
        not idle is walked across calls instead of being rescanned from the start.
        """
        args: list[EncodableT] = [GROUP, self.consumer, min_idle_ms, self._cursor, count]
        args += self._pulse_args()
        keys = [self.keys.stream, self.keys.pulse]
        cursor, claimed = await self._reclaim(keys=keys, args=args)
        self._cursor = str(cursor)
        entries = [
            _entry(eid, _fields(fields), deliveries=int(deliveries))
            for eid, fields, deliveries in claimed
        ]
        return entries, self._cursor == "0-0"

    def _pulse_args(self) -> list[EncodableT]:
        """(gap, quiet) in ms: a pause in the pulse longer than half the visibility
        timeout stops reclaiming for one visibility timeout (see redis_keys._PULSE)."""
        vis_ms = int(self._config.visibility_timeout * 1000)
        return [vis_ms // 2, vis_ms]

    async def touch(self, runs: list[tuple[str, int]], *, idle_ms: int) -> list[str]:
        """Set the idle time of the entries whose (id, deliveries) run is still fenced in;
        the ids of those fenced out."""
        lost: list[str] = []
        for start in range(0, len(runs), 200):
            args: list[EncodableT] = [GROUP, self.consumer, idle_ms, *self._pulse_args()]
            for entry_id, deliveries in runs[start : start + 200]:
                args += [entry_id, deliveries]
            keys = [self.keys.stream, self.keys.pulse]
            lost += [str(x) for x in await self._touch(keys=keys, args=args)]
        return lost

    async def finish(self, entry: Entry) -> bool:
        """Acknowledge the entry and mark its job's turn in the thread as done; False when
        this run is fenced out (nothing changed)."""
        keys = [self.keys.stream, self._order_key(entry)]
        seq = entry.job.seq if entry.job else 0
        args: list[EncodableT] = [GROUP, entry.entry_id, seq, self._config.order_ttl_seconds]
        args += [self.consumer, entry.deliveries]
        return int(await self._finish(keys=keys, args=args)) == 1

    async def dead(self, entry: Entry, *, reason: str) -> bool:
        """Move the entry to the dead letters, acknowledged, its turn marked done; False
        when this run is fenced out (nothing changed)."""
        cfg = self._config
        keys = [self.keys.stream, self._order_key(entry), self.keys.dead]
        seq = entry.job.seq if entry.job else 0
        args: list[EncodableT] = [GROUP, entry.entry_id, seq, cfg.order_ttl_seconds]
        # Kept for people to inspect: the job without its secrets (a token would outlive
        # its use there); an unreadable entry is kept as it came.
        kept = entry.job.without_secrets().model_dump_json() if entry.job else entry.raw
        args += [self.consumer, entry.deliveries, cfg.dead_letter_max, kept, reason]
        return int(await self._dead(keys=keys, args=args)) == 1

    async def get_posted(self, job_id: str) -> str | None:
        """The posted record of a job (bot.work.posted), raw."""
        raw = await self.client.get(self.keys.posted(job_id))
        return None if raw is None else str(raw)

    async def put_posted(
        self, job_id: str, value: str, *, ttl_seconds: int, run: Entry | None
    ) -> bool:
        """Write a job's posted record for `run` (fenced); unfenced when `run` is None.
        False when the run is fenced out (nothing written)."""
        key = self.keys.posted(job_id)
        if run is None:
            await self.client.set(key, value, ex=ttl_seconds)
            return True
        args: list[EncodableT] = [GROUP, run.entry_id, self.consumer, run.deliveries]
        args += [value, ttl_seconds]
        return int(await self._posted(keys=[self.keys.stream, key], args=args)) == 1

    async def turn(self, job: Job) -> tuple[bool, int]:
        """(the thread's order record exists, the last seq done in the thread)."""
        seq, done = await self.client.hmget(self.keys.order(job.thread_key), ["seq", "done"])
        return seq is not None, int(done or 0)

    async def counts(self) -> tuple[int, int, int]:
        """(waiting, pending, dead) for the stats."""
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.xinfo_groups(self.keys.stream)
            pipe.xlen(self.keys.dead)
            groups, dead = await pipe.execute(raise_on_error=False)
        if isinstance(groups, ResponseError):  # no stream yet: nothing waits
            return 0, 0, int(dead)
        if isinstance(groups, BaseException):
            raise groups
        group = _our_group(groups)
        if group is None:
            return int(await self.client.xlen(self.keys.stream)), 0, int(dead)
        lag = group.get("lag")
        waiting = int(lag) if lag is not None else await self._count_after(group)
        return waiting, int(group["pending"]), int(dead)

    async def trim(self, *, approximate: bool = True) -> None:
        """Drop entries every worker is done with: those older than the oldest pending one
        and not after the last one handed out. Never an unacknowledged or unread entry.

        Approximate trimming (the default) frees whole stream nodes only, which is much
        cheaper and may keep a few done entries a little longer.
        """
        await self._trim_dead()
        groups = await self.client.xinfo_groups(self.keys.stream)
        group = _our_group(groups)
        if group is None or str(group["last-delivered-id"]) == "0-0":
            return  # no group yet: nothing is known to be done
        if int(group["pending"]):
            summary = await self.client.xpending(self.keys.stream, GROUP)
            min_id = str(summary["min"])
        else:
            ms, seq = str(group["last-delivered-id"]).split("-")
            min_id = f"{ms}-{int(seq) + 1}"
        await self.client.xtrim(self.keys.stream, minid=min_id, approximate=approximate)

    async def _trim_dead(self) -> None:
        """Drop dead letters older than dead_letter_ttl_seconds, by the server's clock."""
        seconds, micros = await self.client.time()
        now_ms = int(seconds) * 1000 + int(micros) // 1000
        cutoff = now_ms - self._config.dead_letter_ttl_seconds * 1000
        await self.client.xtrim(self.keys.dead, minid=f"{max(cutoff, 0)}-0", approximate=False)

    async def forget_idle_consumers(self, *, idle_ms: int) -> None:
        """Delete consumers (dead processes) that hold nothing and were idle for long."""
        for consumer in await self.client.xinfo_consumers(self.keys.stream, GROUP):
            name = str(consumer["name"])
            if name != self.consumer and not consumer["pending"] and consumer["idle"] > idle_ms:
                await self.client.xgroup_delconsumer(self.keys.stream, GROUP, name)

    async def _count_after(self, group: dict[str, Any]) -> int:
        # Redis cannot always compute the lag (e.g. after entries were deleted); count the
        # unread entries instead, up to a bound that is plenty for a gauge.
        after = f"({group['last-delivered-id']}"
        return len(await self.client.xrange(self.keys.stream, min=after, count=10_000) or [])

    def _order_key(self, entry: Entry) -> str:
        # An unreadable entry has no thread; a key that never exists makes the scripts
        # skip the order mark.
        return self.keys.order(entry.job.thread_key) if entry.job else f"{self.keys.base}:none"


def _our_group(groups: list[dict[str, Any]]) -> dict[str, Any] | None:
    return next((g for g in groups if str(g["name"]) == GROUP), None)


def _fields(flat: list[Any]) -> dict[str, str]:
    """A Lua reply's field list [k1, v1, k2, v2, ...] as a dict."""
    return {str(flat[i]): str(flat[i + 1]) for i in range(0, len(flat) - 1, 2)}


def _entry(entry_id: Any, fields: dict[str, str], *, deliveries: int) -> Entry:
    raw = fields.get("job", "")
    try:
        job = Job.model_validate_json(raw).model_copy(update={"seq": int(fields.get("seq", 0))})
    except (ValidationError, ValueError):
        log.error("stream entry %s holds no readable job", entry_id)
        job = None
    return Entry(entry_id=str(entry_id), job=job, raw=raw, deliveries=deliveries)
