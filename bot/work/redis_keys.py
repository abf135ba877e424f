"""Key layout and Lua scripts of the Redis work queue.

Every key of one queue shares the hash tag `{<prefix>:<name>}`, so on Redis Cluster they
all live on one slot. That is required, not incidental: the scripts below touch the
stream, the dead letters, the submit dedupe keys, the per-thread order hashes and the
posted records in one atomic step, and EVALSHA refuses keys on different slots.
XREADGROUP, XAUTOCLAIM, XACK, XPENDING and XINFO each name the one stream. A stream is
one key, and so one node's worth of throughput anyway; chat traffic is far below that.

The scripts make each multi-step change atomic, and safe to retry after a lost reply
(redis-py retries commands on connection errors): submit remembers the entry it added per
job id, and the others act only for the run that owns the entry (its fence, see below).
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

    @property
    def pulse(self) -> str:
        """When the scripts last ran, by the server's clock (see _PULSE)."""
        return f"{self.base}:pulse"

    def posted(self, job_id: str) -> str:
        """The posted record of a job (bot.work.posted); the job id names its workspace."""
        return f"{self.base}:posted:{_escape(job_id)}"

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

# Fencing. A run of a job is fenced by (consumer, delivery count): XREADGROUP and
# XAUTOCLAIM hand an entry over and count one more delivery in the same step, so a later
# claim by anyone (another worker, or this one again) changes the pair. Every script that
# acts for a run first checks XPENDING still shows exactly that pair; a run fenced out
# changes nothing: it never acknowledges another worker's entry, never moves the thread's
# done mark, never overwrites the posted record the new owner writes.
_OWNS = """
local function owns(stream, group, id, consumer, deliveries)
  local p = redis.call('XPENDING', stream, group, id, id, 1)
  return p[1] ~= nil and p[1][2] == consumer and tonumber(p[1][4]) == tonumber(deliveries)
end
"""

# FINISH and DEAD check the fence first: on a Redis that restarted empty XPENDING fails
# with NOGROUP before anything was written (a script is not rolled back when it fails
# half-way). Then the thread's "done" mark moves up to this job's seq, never down: a job
# that ran late after the order timeout must not pull it back. Both return 1 when done,
# 0 when the run is fenced out (or a retry after a lost reply: already acknowledged).
_ACK_AND_DONE = (
    _OWNS
    + """
if not owns(KEYS[1], ARGV[1], ARGV[2], ARGV[5], ARGV[6]) then return 0 end
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
local seq = tonumber(ARGV[3])
if seq > 0 and redis.call('EXISTS', KEYS[2]) == 1 then
  local done = tonumber(redis.call('HGET', KEYS[2], 'done') or '0')
  if seq > done then redis.call('HSET', KEYS[2], 'done', seq) end
  redis.call('EXPIRE', KEYS[2], ARGV[4])
end
"""
)

# KEYS: stream, order(thread). ARGV: group, entry id, seq, order ttl, consumer, deliveries.
FINISH = _ACK_AND_DONE + "return 1\n"

# KEYS: stream, order(thread), dead. ARGV: group, entry id, seq, order ttl, consumer,
# deliveries, dead max, job json, reason. The dead letters are capped (approximately):
# they are kept for people to inspect, and the oldest matter least.
DEAD = (
    _ACK_AND_DONE
    + """
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[7], '*', 'entry', ARGV[2], 'job', ARGV[8],
  'seq', ARGV[3], 'reason', ARGV[9], 'deliveries', ARGV[6])
return 1
"""
)

# A Redis that stalls (SIGSTOP, a slow disk, a long fork) for longer than the visibility
# timeout makes every held entry look idle when it comes back, though every worker is
# alive: the first XAUTOCLAIM would take them all and fence out runs that did nothing
# wrong. So the scripts keep a pulse (the server's own TIME, stamped by every worker's
# reclaim pass and renewal, each well within half the visibility timeout): a gap longer
# than that means the server (or every worker) stood still, and reclaiming pauses for a
# visibility timeout, time for the live workers to renew their claims. Only the entries
# of workers that are really gone are then taken over.
_PULSE = """
local function pulse(key, gap_ms, quiet_ms)
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local last = tonumber(redis.call('HGET', key, 'at') or '0')
  local quiet = tonumber(redis.call('HGET', key, 'quiet') or '0')
  if last > 0 and now - last > tonumber(gap_ms) then
    quiet = now + tonumber(quiet_ms)
    redis.call('HSET', key, 'quiet', quiet)
  end
  redis.call('HSET', key, 'at', now)
  redis.call('PEXPIRE', key, 3600000)
  return now < quiet
end
"""

# KEYS: stream, pulse. ARGV: group, consumer, idle ms, pulse gap ms, quiet ms, then pairs
# (entry id, deliveries). For each run still fenced in: reset its idle time to `idle ms`
# without counting a delivery (XCLAIM JUSTID). Idle 0 renews the claim while a job is
# held; a larger idle hands it back early (retry after a failure, or a graceful stop).
# Returns the entries whose run is fenced out: taken over, or no longer pending at all.
TOUCH = (
    _OWNS
    + _PULSE
    + """
pulse(KEYS[2], ARGV[4], ARGV[5])
local lost = {}
for i = 6, #ARGV, 2 do
  if owns(KEYS[1], ARGV[1], ARGV[i], ARGV[2], ARGV[i + 1]) then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'IDLE', ARGV[3], 'JUSTID')
  else
    table.insert(lost, ARGV[i])
  end
end
return lost
"""
)

# KEYS: stream, pulse. ARGV: group, consumer, min idle ms, cursor, count, pulse gap ms,
# quiet ms. XAUTOCLAIM and the delivery count of each entry it took, in one step, so the
# fence is the claim's own; nothing while the pulse says to keep quiet. Returns {cursor,
# {id, fields, deliveries}...}. Entries trimmed away (Redis 6.2 gives them without
# fields) are acknowledged: they can never run.
RECLAIM = (
    _PULSE
    + """
if pulse(KEYS[2], ARGV[6], ARGV[7]) then return {ARGV[4], {}} end
local r = redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4],
  'COUNT', ARGV[5])
local out = {}
for _, e in ipairs(r[2]) do
  if e[2] then
    local p = redis.call('XPENDING', KEYS[1], ARGV[1], e[1], e[1], 1)
    table.insert(out, {e[1], e[2], p[1][4]})
  else
    redis.call('XACK', KEYS[1], ARGV[1], e[1])
  end
end
return {r[1], out}
"""
)

# KEYS: stream, posted(job id). ARGV: group, entry id, consumer, deliveries, value, ttl.
# The posted record is written only by the run that owns the job: 1 when written, else 0.
POSTED = (
    _OWNS
    + """
if not owns(KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4]) then return 0 end
redis.call('SET', KEYS[2], ARGV[5], 'EX', ARGV[6])
return 1
"""
)
