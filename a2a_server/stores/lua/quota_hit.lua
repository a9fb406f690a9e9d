-- One request against fixed-window counters (requests per window), all or nothing.
-- KEYS[i] a counter of the tenant (one hash slot)  ARGV[1] window ms  ARGV[i + 1] KEYS[i]'s limit
-- Returns, per key, {room (1|0), count after this request, ms until the window resets}.
-- The request is counted in every window only if every window has room, so each counter
-- is exactly the number of requests admitted.
local window = tonumber(ARGV[1])
local out, all = {}, true
for i = 1, #KEYS do
  local n = tonumber(redis.call('GET', KEYS[i]) or '0')
  local ttl = redis.call('PTTL', KEYS[i])
  if ttl <= 0 then n = 0; ttl = window end
  local room = n < tonumber(ARGV[i + 1])
  all = all and room
  out[i] = {room and 1 or 0, n, ttl}
end
if all then
  for i = 1, #KEYS do
    if out[i][2] == 0 then
      redis.call('SET', KEYS[i], 1, 'PX', window)
    else
      redis.call('INCR', KEYS[i])
    end
    out[i][2] = out[i][2] + 1
  end
end
return out
