-- Replace a task's body and clear its history and event log if the version still matches
-- (scrub).  KEYS: 1 :task  2 :hist  3 :events
-- ARGV: 1 expected version  2 task bytes  3 clear history and events (1|0)
-- Returns the new version, or 0 if the version moved.
local v = tonumber(redis.call('HGET', KEYS[1], 'v') or '0')
if v == 0 or v ~= tonumber(ARGV[1]) then return 0 end
v = v + 1
redis.call('HSET', KEYS[1], 'd', ARGV[2], 'v', v)
if ARGV[3] == '1' then
  redis.call('DEL', KEYS[2], KEYS[3])
  redis.call('HSET', KEYS[1], 'h', 0, 'f', 1)
end
return v
