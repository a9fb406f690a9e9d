-- One request against a fixed-window counter (requests per window).
-- KEYS[1] the tenant's counter  ARGV[1] limit  ARGV[2] window ms
-- Returns {admitted (1|0), count after this request, ms until the window resets}.
-- A refused request is not counted, so the counter is exactly the number admitted.
local limit = tonumber(ARGV[1])
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
local ttl = redis.call('PTTL', KEYS[1])
if n >= limit and ttl > 0 then
  return {0, n, ttl}
end
if ttl <= 0 then
  n = 0
  ttl = tonumber(ARGV[2])
  redis.call('SET', KEYS[1], 1, 'PX', ttl)
else
  redis.call('INCR', KEYS[1])
end
return {1, n + 1, ttl}
