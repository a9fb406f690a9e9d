-- Create a tenant's agent definition (all keys in the {agents} slot).
-- KEYS: 1 the definition (HASH)  2 the tenant's index (ZSET)  3 the changes stream
-- ARGV: 1 agent id  2 record (JSON)  3 tenant  4 created ms (index score)  5 ttl ms (0: none)
--       6 the tenant's limit  7 definition key prefix (+ id = a definition key)  8 stream MAXLEN
-- Index members whose definition expired (ephemeral agents, tombstones) are dropped before
-- counting; tombstones (x = 1: deleted, kept for their tasks) are not counted.
-- Returns 1 created, 0 the tenant is at its limit, -1 it has 10 x its limit in agents and
-- tombstones together (deleted agents whose tasks are still kept).
local live, total = 0, 0
for _, member in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  if redis.call('EXISTS', ARGV[7] .. member) == 1 then
    total = total + 1
    if redis.call('HGET', ARGV[7] .. member, 'x') ~= '1' then live = live + 1 end
  else
    redis.call('ZREM', KEYS[2], member)
  end
end
if live >= tonumber(ARGV[6]) then return 0 end
if total >= 10 * tonumber(ARGV[6]) then return -1 end
redis.call('HSET', KEYS[1], 'd', ARGV[2], 'v', '1', 't', ARGV[3])
if tonumber(ARGV[5]) > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[5]) end
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[8], '*', 'a', ARGV[1])
return 1
