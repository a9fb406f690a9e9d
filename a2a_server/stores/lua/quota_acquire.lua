-- Take one slot of a bounded set (concurrent tasks, open streams).
-- KEYS[1] the set (ZSET holder -> expiry ms, Redis time)  ARGV[1] limit  ARGV[2] slot ms
-- ARGV[3] holder id
-- Expired slots (their replica stopped renewing them: it died) are dropped first.
-- Returns {admitted (1|0), slots held after this call, ms until the earliest slot expires}.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local n = redis.call('ZCARD', KEYS[1])
if n >= tonumber(ARGV[1]) then
  local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {0, n, tonumber(first[2]) - now}
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return {1, n + 1, 0}
