-- A streaming write that never creates an entity and never leaves a key without a key TTL.
-- KEYS[1]: the entity key. ARGV[1]: the field TTL in seconds. ARGV[2]: "1" to use HSETEX
-- (Redis >= 8), "0" for HSET + HEXPIRE (7.4). ARGV[3]: "1" to write whatever the stored event
-- times, "0" to apply the event-time rule (see batch_write.lua). ARGV[4]: a lease's fencing
-- token, or "" for a write that holds none; KEYS[2] (same slot) holds the current token.
-- ARGV[5..]: field, value, ...
-- Returns 1 written, 0 no such entity, -1 the key is not a hash, -2 the key has no key TTL,
-- -3 skipped (an event at least as new is stored), -4 fenced (another holder took the lease
-- since this token was issued); an error, having written nothing, for a TTL
-- outside 1..3153600000 (MAX_TTL_SECONDS), which HEXPIRE could refuse after HSET.
local ttl = tonumber(ARGV[1])
if not ttl or ttl ~= math.floor(ttl) or ttl < 1 or ttl > 3153600000 then
  return redis.error_reply('ERR field TTL out of range: ' .. ARGV[1])
end
if ARGV[4] ~= '' and redis.call('GET', KEYS[2]) ~= ARGV[4] then return -4 end
local kind = redis.call('TYPE', KEYS[1])['ok']
if kind == 'none' then return 0 end
if kind ~= 'hash' then return -1 end
if redis.call('TTL', KEYS[1]) < 0 then return -2 end
if ARGV[3] ~= '1' then
  for i = 5, #ARGV, 2 do
    if string.sub(ARGV[i], 1, 4) == '_ts:' then
      local stored = tonumber(redis.call('HGET', KEYS[1], ARGV[i]))
      if stored and stored >= tonumber(ARGV[i + 1]) then return -3 end
    end
  end
end
local n = (#ARGV - 4) / 2
if ARGV[2] == '1' then
  return redis.call('HSETEX', KEYS[1], 'EX', ARGV[1], 'FIELDS', n, unpack(ARGV, 5))
end
redis.call('HSET', KEYS[1], unpack(ARGV, 5))
local names = {}
for i = 5, #ARGV, 2 do names[#names + 1] = ARGV[i] end
for _, code in ipairs(redis.call('HEXPIRE', KEYS[1], ARGV[1], 'FIELDS', n, unpack(names))) do
  if code ~= 1 then return redis.error_reply('HEXPIRE answered ' .. code) end
end
return 1
