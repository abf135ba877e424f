"""Key layout and Lua scripts of the Redis work queue.

Every key of one queue shares the hash tag `{<prefix>:<name>}`, so on Redis Cluster they
all live on one slot. That is required, not incidental: the scripts below touch the
stream, the dead letters, the submit dedupe keys and the per-thread order hashes in one
atomic step, and EVALSHA refuses keys on different slots. XREADGROUP, XAUTOCLAIM, XACK,
XPENDING and XINFO each name the one stream. A stream is one key, and so one node's
worth of throughput anyway; chat traffic is far below that.

The scripts make each multi-step change atomic, and safe to retry after a lost reply
(redis-py retries commands on connection errors): submit remembers the entry it added per
job id, and the others only change entries the caller still owns.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.domain import ThreadKey

GROUP = "workers"


def _escape(part: str) -> str:
    # As in the store: ':' inside ids must not let two different threads share a key.
    return part.replace("%", "%25").replace(":", "%3A")


@dataclass(frozen=True, slots=True)
class QueueKeys:
    stream: str
    dead: str
    base: str

    @classmethod
    def of(cls, prefix: str, name: str) -> QueueKeys:
        base = f"{prefix}:{{{prefix}:{name}}}"
        return cls(stream=f"{base}:stream", dead=f"{base}:dead", base=base)

    def seen(self, job_id: str) -> str:
        return f"{self.base}:seen:{_escape(job_id)}"

    def order(self, thread: ThreadKey) -> str:
        parts = (thread.platform, thread.workspace, thread.channel, thread.thread)
        return f"{self.base}:order:" + ":".join(_escape(p) for p in parts)


# KEYS: stream, seen(job id), order(thread). ARGV: job json, seen ttl, order ttl, backlog.
# Returns {1, entry id} when added, {0, entry id} for a job id already accepted, {-1, ""}
# when the backlog is full. The thread's sequence number is taken in the same step as the
# XADD, so for each thread stream order and sequence order agree: workers read a thread's
# jobs in the order they must run, which is what keeps the ordering wait deadlock-free.
SUBMIT = """
local seen = redis.call('GET', KEYS[2])
if seen then return {0, seen} end
if redis.call('XLEN', KEYS[1]) >= tonumber(ARGV[4]) then return {-1, ''} end
local seq = redis.call('HINCRBY', KEYS[3], 'seq', 1)
redis.call('EXPIRE', KEYS[3], ARGV[3])
local id = redis.call('XADD', KEYS[1], '*', 'job', ARGV[1], 'seq', seq)
redis.call('SET', KEYS[2], id, 'EX', ARGV[2])
return {1, id}
"""

# FINISH and DEAD acknowledge first: on a Redis that restarted empty XACK fails with
# NOGROUP before anything was written (a script is not rolled back when it fails half-way).
# Then the thread's "done" mark moves up to this job's seq, never down: a job that ran late
# after the order timeout must not pull it back.
_ACK_AND_DONE = """
local acked = redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
local seq = tonumber(ARGV[3])
if seq > 0 and redis.call('EXISTS', KEYS[2]) == 1 then
  local done = tonumber(redis.call('HGET', KEYS[2], 'done') or '0')
  if seq > done then redis.call('HSET', KEYS[2], 'done', seq) end
  redis.call('EXPIRE', KEYS[2], ARGV[4])
end
"""

# KEYS: stream, order(thread). ARGV: group, entry id, seq, order ttl.
FINISH = _ACK_AND_DONE + "return acked\n"

# KEYS: stream, order(thread), dead. ARGV: group, entry id, seq, order ttl, dead max, job
# json, reason, deliveries. Only an entry still pending moves (acked == 1), so a retried
# call after a lost reply does not add a second dead letter. The dead letters are capped
# (approximately): they are kept for people to inspect, and the oldest matter least.
DEAD = (
    _ACK_AND_DONE
    + """
if acked == 1 then
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[5], '*', 'entry', ARGV[2], 'job', ARGV[6],
    'seq', ARGV[3], 'reason', ARGV[7], 'deliveries', ARGV[8])
end
return acked
"""
)

# KEYS: stream. ARGV: group, consumer, idle ms, entry ids... For each entry still owned by
# `consumer`: reset its idle time to `idle ms` without counting a delivery (XCLAIM JUSTID).
# Idle 0 renews the claim while a job is held; a larger idle hands it back early (retry
# after a failure, or a graceful stop). Returns the entries another consumer now owns;
# an entry no longer pending at all (acknowledged meanwhile) is not reported.
TOUCH = """
local lost = {}
for i = 4, #ARGV do
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1)
  if p[1] ~= nil then
    if p[1][2] == ARGV[2] then
      redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'IDLE', ARGV[3], 'JUSTID')
    else
      table.insert(lost, ARGV[i])
    end
  end
end
return lost
"""
