-- Create a tenant's agent definition (all keys in the {agents} slot).
-- KEYS: 1 the definition (HASH)  2 the tenant's index (ZSET)  3 the changes stream
-- ARGV: 1 agent id  2 record (JSON)  3 tenant  4 created ms (index score)  5 ttl ms (0: none)
--       6 the tenant's limit  7 definition key prefix (+ id = a definition key)  8 stream MAXLEN
-- Index members whose definition expired (ephemeral agents) are dropped before counting.
-- Returns 1 created, 0 the tenant is at its limit.
local live = 0
for _, member in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  if redis.call('EXISTS', ARGV[7] .. member) == 1 then
    live = live + 1
  else
    redis.call('ZREM', KEYS[2], member)
  end
end
if live >= tonumber(ARGV[6]) then return 0 end
redis.call('HSET', KEYS[1], 'd', ARGV[2], 'v', '1', 't', ARGV[3])
if tonumber(ARGV[5]) > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[5]) end
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[8], '*', 'a', ARGV[1])
return 1
