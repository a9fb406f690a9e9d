-- A page of a context.  KEYS: 1 ctx list  2 scrubbed-context marker   ARGV: 1 offset  2 limit
-- Returns nil (unknown context) | {total, {items}}
if redis.call('EXISTS', KEYS[1]) == 0 and redis.call('EXISTS', KEYS[2]) == 0 then
  return false
end
local total = redis.call('LLEN', KEYS[1])
local limit = tonumber(ARGV[2])
local items = {}
if limit > 0 then
  local first = tonumber(ARGV[1])
  items = redis.call('LRANGE', KEYS[1], first, first + limit - 1)
end
return {total, items}
