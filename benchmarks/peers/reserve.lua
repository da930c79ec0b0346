-- Peer 3's reserve, atomically in Redis: replay, check every position, hold.
--
-- KEYS[1]   the idempotency record (a hash: fp, rid, created, expires)
-- KEYS[2]   the reservation (a hash)
-- KEYS[3..] one position per distinct (sku, location) (a hash: on_hand, reserved, ...)
-- ARGV[1]   the request's fingerprint     ARGV[2] the new reservation id
-- ARGV[3]   created (Unix ms)             ARGV[4] expires (Unix ms)
-- ARGV[5]   order_ref                     ARGV[6] channel
-- ARGV[7]   the lines, encoded            ARGV[8] idempotency retention (seconds)
-- ARGV[9..] the units asked of each position, in KEYS order
--
-- Returns {'replay', fp, rid, created, expires}, {'unknown', i},
-- {'short', i, available} or {'ok'}.
local prior = redis.call('HMGET', KEYS[1], 'fp', 'rid', 'created', 'expires')
if prior[1] then
  return {'replay', prior[1], prior[2], prior[3], prior[4]}
end
local n = #KEYS - 2
for i = 1, n do
  local pos = redis.call('HMGET', KEYS[i + 2], 'on_hand', 'reserved')
  if not pos[1] then
    return {'unknown', i}
  end
  local available = tonumber(pos[1]) - tonumber(pos[2])
  if available < tonumber(ARGV[i + 8]) then
    return {'short', i, available}
  end
end
for i = 1, n do
  redis.call('HINCRBY', KEYS[i + 2], 'reserved', ARGV[i + 8])
end
redis.call('HSET', KEYS[2], 'order_ref', ARGV[5], 'channel', ARGV[6], 'state', 'RESERVED',
  'created', ARGV[3], 'expires', ARGV[4], 'lines', ARGV[7])
redis.call('HSET', KEYS[1], 'fp', ARGV[1], 'rid', ARGV[2], 'created', ARGV[3],
  'expires', ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[8])
return {'ok'}
