-- One entity of a bulk load: its fields and its key TTL together, so no reader ever sees the
-- key without a TTL, and a key of another type is left untouched.
-- KEYS[1]: the entity key. ARGV[1]: the key TTL in seconds. ARGV[2..]: field, value, ...
-- Returns 1 written, -1 the key holds something other than a hash; an error, having written
-- nothing, for a TTL outside 1..3153600000 (MAX_TTL_SECONDS), which EXPIRE could refuse.
local ttl = tonumber(ARGV[1])
if not ttl or ttl ~= math.floor(ttl) or ttl < 1 or ttl > 3153600000 then
  return redis.error_reply('ERR key TTL out of range: ' .. ARGV[1])
end
local kind = redis.call('TYPE', KEYS[1])['ok']
if kind ~= 'hash' and kind ~= 'none' then return -1 end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('EXPIRE', KEYS[1], ARGV[1])
return 1
