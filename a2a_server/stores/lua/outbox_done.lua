-- Single Redis: drop this replica's claim on a task's outbox and re-score the task in the due
-- set, atomically (a Redis Cluster does the same in three calls, see redis_outbox.py).
-- KEYS: 1 :oblease  2 :outbox  3 the due set
-- ARGV: 1 replica id  2 member  3 next due ms ('' = now)  4 now ms
--       5, 6 the newest entry id the deliverer read, as version and n ('' = none)
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
if redis.call('XLEN', KEYS[2]) == 0 then
  redis.call('ZREM', KEYS[3], ARGV[2])
  return 0
end
local due = ARGV[3]
if due == '' then due = ARGV[4] end
local last = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)[1][1]
local dash = string.find(last, '-', 1, true)
local v, n = tonumber(string.sub(last, 1, dash - 1)), tonumber(string.sub(last, dash + 1))
if ARGV[5] == '' or v > tonumber(ARGV[5]) or (v == tonumber(ARGV[5]) and n > tonumber(ARGV[6]))
then
  due = ARGV[4]  -- queued while the deliverer worked: due now
end
redis.call('ZADD', KEYS[3], due, ARGV[2])
return 1
