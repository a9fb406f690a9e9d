-- Take (or extend) the right to deliver a task's outbox.
-- KEYS: 1 :oblease  2 :outbox   ARGV: 1 replica id  2 lease ms
-- Returns 1 claimed | 0 another replica holds it | -1 the outbox is empty
if redis.call('XLEN', KEYS[2]) == 0 then return -1 end
local cur = redis.call('GET', KEYS[1])
if cur and cur ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
