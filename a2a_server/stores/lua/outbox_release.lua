-- Drop this replica's claim on a task's outbox; report what is left.
-- KEYS: 1 :oblease  2 :outbox   ARGV: 1 replica id
-- Returns {entries left, id of the newest entry or ''}
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
local last = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)
local id = ''
if #last > 0 then id = last[1][1] end
return {redis.call('XLEN', KEYS[2]), id}
