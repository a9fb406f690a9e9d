-- Drop a task from the indexes (delete, or a listing found it expired).
-- KEYS: 1 ixm  2 ix  3 ix:ctx (may be ix again)  4..12 ix:st:0..8    ARGV: 1 task id
local old = redis.call('HGET', KEYS[1], ARGV[1])
if not old then return 0 end
local ov, os, om = string.match(old, '^(%d+)|(%d+)|(.*)$')
redis.call('ZREM', KEYS[2], om)
redis.call('ZREM', KEYS[3], om)
redis.call('ZREM', KEYS[4 + tonumber(os)], om)
redis.call('HDEL', KEYS[1], ARGV[1])
return 1
