-- One entity of a bulk load: its fields and its key TTL together, so no reader ever sees the
-- key without a TTL, and a key of another type is left untouched.
-- KEYS[1]: the entity key. ARGV[1]: the key TTL in seconds. ARGV[2]: "1" to write whatever the
-- stored event times, "0" to apply the event-time rule. ARGV[3..]: field, value, ...
-- The event-time rule: a row carries each view's event time in "_ts:<view>" (Unix ms); it is
-- written only if every one is newer than the one stored, as Feast's Redis store does, or, for a
-- materialized row, as new and created later ("_cr:<view>").
-- Returns 1 written, 0 skipped (an event at least as new is stored), -1 the key holds something
-- other than a hash; an error, having written nothing, for a TTL outside 1..3153600000
-- (MAX_TTL_SECONDS), which EXPIRE could refuse.
local ttl = tonumber(ARGV[1])
if not ttl or ttl ~= math.floor(ttl) or ttl < 1 or ttl > 3153600000 then
  return redis.error_reply('ERR key TTL out of range: ' .. ARGV[1])
end
local kind = redis.call('TYPE', KEYS[1])['ok']
if kind ~= 'hash' and kind ~= 'none' then return -1 end
if ARGV[2] ~= '1' and kind == 'hash' then
  for i = 3, #ARGV, 2 do
    if string.sub(ARGV[i], 1, 4) == '_ts:' then
      local stored = tonumber(redis.call('HGET', KEYS[1], ARGV[i]))
      local event = tonumber(ARGV[i + 1])
      if stored and stored > event then return 0 end
      if stored and stored == event then
        -- A tie: a row that carries its created time ("_cr:<view>", a materialized row) wins
        -- over a stored one created earlier, as in Feast; any other tie keeps what is stored.
        local created_field = '_cr:' .. string.sub(ARGV[i], 5)
        local created
        for j = 3, #ARGV, 2 do
          if ARGV[j] == created_field then created = tonumber(ARGV[j + 1]) end
        end
        local stored_created = tonumber(redis.call('HGET', KEYS[1], created_field))
        if not created or (stored_created and stored_created >= created) then return 0 end
      end
    end
  end
end
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
redis.call('EXPIRE', KEYS[1], ARGV[1])
return 1
