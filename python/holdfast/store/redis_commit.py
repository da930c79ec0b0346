"""The guarded commit: one Lua script that Redis runs atomically.

It holds no business rule. The engine that proposed the event says what its
decision relied on and what committing it changes (the core's ``Plan``);
the script only checks those guards against what Redis holds now and, if
every one holds, applies the changes, records the idempotency key and
appends the event to the stream, all in one step. A failed guard changes
nothing and answers which one failed and how far the stream has got, so the
caller catches up and decides again.

KEYS: 1 the sequence counter, 2 the event stream, 3 the hold expiry sorted
set, 4 the idempotency record (or a placeholder), 5.. the plan's objects.

ARGV: 1 the plan as JSON (objects by their index in KEYS), 2 the stream
sequence the decision was made at (its base), 3 the encoded event, 4 the
idempotency retention in ms, 5 the event's kind, tenant and reservation id
(tab-separated, for the stream entry's readers), 6 the names of the event
indexes it is listed in (tab-separated, "" for none). The entry also carries
the commit time (Redis's clock, unix ms) for the audit trail, and the index
names, so that a trim knows which lists to shorten.

The plan's JSON: ``u`` indexes of objects that must be unchanged since the
base; ``k`` 1 if the idempotency record must not exist; ``h`` headroom
guards ``[index, floor, safety_stock]``; ``p`` position deltas ``[index,
on_hand, reserved, allocated, picked, safety_stock or -1]``; ``t`` indexes
of the objects the event changes; ``r`` ``[index, tenant, state]`` of the
reservation; ``e`` ``[reservation id, due ms or -1]`` for the expiry set;
``v`` the rule-set version the event activates ("" for none); ``a``
``[index, record]`` of the activation history a switch appends its record to;
``x`` indexes of the event indexes (lists of sequences, oldest first) the
event's sequence is appended to.

Every object is a hash; ``changed_at`` is the sequence of the last event that
changed it. Positions also hold their buckets, so that the headroom guard
compares what is committed now, whoever committed it.
"""

from __future__ import annotations

# A copy of the state at a sequence, kept only if newer than the one stored.
# KEYS: 1 the snapshot hash. ARGV: 1 its sequence, 2 the engine's snapshot.
SAVE_SNAPSHOT = r"""
local stored = tonumber(redis.call('HGET', KEYS[1], 'seq') or '0')
if tonumber(ARGV[1]) <= stored then return 0 end
redis.call('HSET', KEYS[1], 'seq', ARGV[1], 'body', ARGV[2])
return 1
"""

COMMIT = r"""
local plan = cjson.decode(ARGV[1])
local base = tonumber(ARGV[2])
local function head() return tonumber(redis.call('GET', KEYS[1]) or '0') end

for _, i in ipairs(plan.u) do
  local at = tonumber(redis.call('HGET', KEYS[i], 'changed_at') or '0')
  if at > base then return {0, 'changed', KEYS[i], head()} end
end
if plan.k == 1 and redis.call('EXISTS', KEYS[4]) == 1 then
  return {0, 'idempotency_key', KEYS[4], head()}
end

local function field(key, name) return tonumber(redis.call('HGET', key, name) or '0') end
local deltas = {}
for _, d in ipairs(plan.p) do deltas[d[1]] = d end
for _, h in ipairs(plan.h) do
  local key = KEYS[h[1]]
  if field(key, 'safety_stock') ~= h[3] then return {0, 'safety_stock', key, head()} end
  local d = deltas[h[1]] or {h[1], 0, 0, 0, 0, -1}
  local free = field(key, 'on_hand') + d[2]
    - (field(key, 'reserved') + d[3])
    - (field(key, 'allocated') + d[4])
    - (field(key, 'picked') + d[5])
  if free < h[2] then return {0, 'headroom', key, head()} end
end

local seq = redis.call('INCR', KEYS[1])
local names = {'on_hand', 'reserved', 'allocated', 'picked'}
for _, d in ipairs(plan.p) do
  for n = 1, 4 do
    if d[n + 1] ~= 0 then redis.call('HINCRBY', KEYS[d[1]], names[n], d[n + 1]) end
  end
  if d[6] >= 0 then redis.call('HSET', KEYS[d[1]], 'safety_stock', d[6]) end
end
for _, i in ipairs(plan.t) do redis.call('HSET', KEYS[i], 'changed_at', seq) end
if plan.r then redis.call('HSET', KEYS[plan.r[1]], 'tenant', plan.r[2], 'state', plan.r[3]) end
if plan.e then
  if plan.e[2] >= 0 then redis.call('ZADD', KEYS[3], plan.e[2], plan.e[1])
  else redis.call('ZREM', KEYS[3], plan.e[1]) end
end
if plan.k == 1 then redis.call('SET', KEYS[4], seq, 'PX', ARGV[4]) end
if plan.v ~= '' then redis.call('SET', KEYS[1] .. ':rule_version', plan.v) end
if plan.a then redis.call('RPUSH', KEYS[plan.a[1]], plan.a[2]) end
if plan.x then
  for _, i in ipairs(plan.x) do redis.call('RPUSH', KEYS[i], seq) end
end
local now = redis.call('TIME')
local committed_at = string.format('%d',
  tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000))
if ARGV[6] == '' then
  redis.call('XADD', KEYS[2], '0-' .. seq, 'body', ARGV[3], 'about', ARGV[5],
    'committed_at', committed_at)
else
  redis.call('XADD', KEYS[2], '0-' .. seq, 'body', ARGV[3], 'about', ARGV[5],
    'committed_at', committed_at, 'x', ARGV[6])
end
return {1, seq}
"""

# The first position in an event index (a list of ascending sequences) whose
# sequence is above ARGV[1], by bisection: LLEN if there is none.
_FIRST_AFTER = r"""
local function first_after(key, after)
  local lo, hi = 0, redis.call('LLEN', key)
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    if tonumber(redis.call('LINDEX', key, mid)) > after then hi = mid else lo = mid + 1 end
  end
  return lo
end
"""

# The events an index lists with ``ARGV[1] < seq <= ARGV[2]``, at most ARGV[3]
# of them, oldest first: the last sequence looked at (0 for none), then flat
# triples: sequence, body, commit time. A sequence whose event the stream no
# longer holds is skipped.
# KEYS: 1 the index, 2 the stream.
INDEXED_EVENTS = (
    _FIRST_AFTER
    + r"""
local up_to = tonumber(ARGV[2])
local start = first_after(KEYS[1], tonumber(ARGV[1]))
local listed = redis.call('LRANGE', KEYS[1], start, start + tonumber(ARGV[3]) - 1)
local out = {0}
for _, seq in ipairs(listed) do
  if tonumber(seq) > up_to then break end
  out[1] = tonumber(seq)
  local entry = redis.call('XRANGE', KEYS[2], '0-' .. seq, '0-' .. seq)[1]
  if entry then
    local fields, body, at = entry[2], nil, '0'
    for f = 1, #fields, 2 do
      if fields[f] == 'body' then body = fields[f + 1]
      elseif fields[f] == 'committed_at' then at = fields[f + 1] end
    end
    out[#out + 1] = seq
    out[#out + 1] = body
    out[#out + 1] = at
  end
end
return out
"""
)

# Drop every sequence up to ARGV[1] from the indexes in KEYS (a trim drops
# those events from the stream). An emptied list is deleted by Redis.
UNINDEX = (
    _FIRST_AFTER
    + r"""
local last = tonumber(ARGV[1])
for _, key in ipairs(KEYS) do
  local keep = first_after(key, last)
  if keep > 0 then redis.call('LTRIM', key, keep, -1) end
end
return #KEYS
"""
)

# Where the event indexes start: the first sequence every later commit lists.
# Set once, at the first start-up of a version that indexes, to the sequence
# after the stream's head; events before it are found by reading the stream.
# KEYS: 1 the sequence counter, 2 where the indexes start.
INDEXES_START = r"""
if redis.call('EXISTS', KEYS[2]) == 0 then
  redis.call('SET', KEYS[2], tonumber(redis.call('GET', KEYS[1]) or '0') + 1)
end
return tonumber(redis.call('GET', KEYS[2]))
"""
