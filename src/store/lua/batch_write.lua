-- One entity of a bulk load: its fields and its key TTL together, so no reader ever sees the
-- key without a TTL, and a key of another type is left untouched.
-- KEYS[1]: the entity key. ARGV[1]: the key TTL in seconds. ARGV[2..]: field, value, ...
-- Returns 1 written, -1 the key holds something other than a hash.
local kind = redis.call('TYPE', KEYS[1])['ok']
if kind ~= 'hash' and kind ~= 'none' then return -1 end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('EXPIRE', KEYS[1], ARGV[1])
return 1
