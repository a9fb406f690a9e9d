-- Extend a held slot (its run still goes on). KEYS[1] the set  ARGV[1] slot ms  ARGV[2] holder
-- Returns 1 if the slot was still held.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local held = redis.call('ZADD', KEYS[1], 'XX', 'CH', now + tonumber(ARGV[1]), ARGV[2])
if redis.call('ZSCORE', KEYS[1], ARGV[2]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  return 1
end
return held
