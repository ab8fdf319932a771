-- Rows of a bulk load, several per call (a call costs Redis more than a row): each entity's
-- fields and its key TTL together, so no reader ever sees the key without a TTL, and a key of
-- another type is left untouched.
-- KEYS[1]: the first row's key, where a cluster routes the call; every row's key is served by
-- the same node. ARGV[1]: the key TTL in seconds. ARGV[2]: "1" to write whatever the stored
-- event times, "0" to apply the event-time rule. Then per row: its key, its number of fields
-- N (at least one), its number of cleared fields C, N field, value pairs, and C field names:
-- the row's nulls, deleted when the row is written, so a newer null is not an older value.
-- The event-time rule: a row carries each view's event time in "_ts:<view>" (Unix ms); it is
-- written only if every one is newer than the one stored, as Feast's Redis store does, or, for a
-- materialized row, as new and created later ("_cr:<view>").
-- Returns one code per row: 1 written, 0 skipped (an event at least as new is stored), -1 the
-- key holds something other than a hash. An error, having written nothing, for a TTL outside
-- 1..3153600000 (MAX_TTL_SECONDS), which EXPIRE could refuse, for malformed rows, or for a key
-- this node does not serve (a slot that moved: the caller sends those rows again one by one).
local ttl = tonumber(ARGV[1])
if not ttl or ttl ~= math.floor(ttl) or ttl < 1 or ttl > 3153600000 then
  return redis.error_reply('ERR key TTL out of range: ' .. ARGV[1])
end
local rows = {}
local at = 3
while at <= #ARGV do
  local count, cleared = tonumber(ARGV[at + 1]), tonumber(ARGV[at + 2])
  local last = at + 2 + 2 * (count or 0) + (cleared or 0)
  if not count or count < 1 or count ~= math.floor(count) or not cleared or cleared < 0
      or cleared ~= math.floor(cleared) or last > #ARGV then
    return redis.error_reply('ERR malformed row at argument ' .. at)
  end
  rows[#rows + 1] = { key = ARGV[at], first = at + 3, last = at + 2 + 2 * count,
    clear_first = last - cleared + 1, clear_last = last }
  at = last + 1
end
-- Every key's type before any write: a key served elsewhere fails the call here.
local kinds = {}
for _, row in ipairs(rows) do
  if not kinds[row.key] then kinds[row.key] = redis.call('TYPE', row.key)['ok'] end
end

-- Whether the row is older than what its key holds: an event time at most the stored one.
local function older(row)
  for i = row.first, row.last, 2 do
    if string.sub(ARGV[i], 1, 4) == '_ts:' then
      local stored = tonumber(redis.call('HGET', row.key, ARGV[i]))
      local event = tonumber(ARGV[i + 1])
      if stored and stored > event then return true end
      if stored and stored == event then
        -- A tie: a row that carries its created time ("_cr:<view>", a materialized row) wins
        -- over a stored one created earlier, as in Feast; any other tie keeps what is stored.
        local created_field = '_cr:' .. string.sub(ARGV[i], 5)
        local created
        for j = row.first, row.last, 2 do
          if ARGV[j] == created_field then created = tonumber(ARGV[j + 1]) end
        end
        local stored_created = tonumber(redis.call('HGET', row.key, created_field))
        if not created or (stored_created and stored_created >= created) then return true end
      end
    end
  end
  return false
end

local codes = {}
for r, row in ipairs(rows) do
  local kind = kinds[row.key]
  if kind ~= 'hash' and kind ~= 'none' then
    codes[r] = -1
  elseif ARGV[2] ~= '1' and kind == 'hash' and older(row) then
    codes[r] = 0
  else
    redis.call('HSET', row.key, unpack(ARGV, row.first, row.last))
    if row.clear_first <= row.clear_last then
      redis.call('HDEL', row.key, unpack(ARGV, row.clear_first, row.clear_last))
    end
    redis.call('EXPIRE', row.key, ARGV[1])
    -- A later row of the same entity in this call sees what this one wrote.
    kinds[row.key] = 'hash'
    codes[r] = 1
  end
end
return codes
