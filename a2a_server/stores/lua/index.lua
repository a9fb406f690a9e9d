-- Update the ListTasks indexes and the context of one task; idempotent, ordered by version.
-- KEYS: 1 ixm  2 ix  3 ix:ctx  4 ctx list  5..13 ix:st:0..8
-- ARGV: 1 task id  2 version  3 member  4 state  5 retention ms (0 = keep)  6 terminal (1|0)
local old = redis.call('HGET', KEYS[1], ARGV[1])
if old then
  local ov, os, om = string.match(old, '^(%d+)|(%d+)|(.*)$')
  if tonumber(ov) >= tonumber(ARGV[2]) then return 0 end
  redis.call('ZREM', KEYS[2], om)
  redis.call('ZREM', KEYS[3], om)
  redis.call('ZREM', KEYS[5 + tonumber(os)], om)
else  -- first time indexed: the task joins its context
  redis.call('RPUSH', KEYS[4], 't' .. ARGV[1])
end
local st = tonumber(ARGV[4])
redis.call('ZADD', KEYS[2], 0, ARGV[3])
redis.call('ZADD', KEYS[3], 0, ARGV[3])
redis.call('ZADD', KEYS[5 + st], 0, ARGV[3])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. '|' .. ARGV[4] .. '|' .. ARGV[3])
local ttl = tonumber(ARGV[5])
if ttl > 0 and ARGV[6] == '1' then
  for k = 3, 4 do redis.call('PEXPIRE', KEYS[k], ttl) end
elseif ttl > 0 then
  for k = 3, 4 do redis.call('PERSIST', KEYS[k]) end
end
return 1
