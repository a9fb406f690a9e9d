-- Take (or extend) the right to deliver a task's outbox.
-- KEYS: 1 :oblease  2 :outbox  [3 the due set: single Redis only]
-- ARGV: 1 replica id  2 lease ms  [3 member  4 now ms: with KEYS[3]]
-- Returns 1 claimed | 0 another replica holds it | -1 the outbox is empty
-- With KEYS[3]: a won claim pushes the task's due time past the lease; an empty outbox leaves
-- the due set (a Redis Cluster makes these calls itself, see redis_outbox.py).
if redis.call('XLEN', KEYS[2]) == 0 then
  if KEYS[3] then redis.call('ZREM', KEYS[3], ARGV[3]) end
  return -1
end
local cur = redis.call('GET', KEYS[1])
if cur and cur ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
if KEYS[3] then
  redis.call('ZADD', KEYS[3], 'XX', tonumber(ARGV[4]) + tonumber(ARGV[2]), ARGV[3])
end
return 1
