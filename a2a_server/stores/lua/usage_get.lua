-- Read usage days.  KEYS: the days' usage hashes (one tenant: one slot)
-- Returns one HGETALL reply per key (empty for a day without counts).
local out = {}
for i = 1, #KEYS do
  out[i] = redis.call('HGETALL', KEYS[i])
end
return out
