-- Drop a context's direct messages, keep task references, return the task ids.
-- KEYS: 1 ctx list  2 scrubbed-context marker     Returns nil (unknown) | {task ids}
-- A context left with no items keeps the marker (with the list's TTL), so it stays known.
if redis.call('EXISTS', KEYS[1]) == 0 and redis.call('EXISTS', KEYS[2]) == 0 then
  return false
end
local ttl = redis.call('PTTL', KEYS[1])
local items = redis.call('LRANGE', KEYS[1], 0, -1)
local tasks = {}
for _, item in ipairs(items) do
  if string.sub(item, 1, 1) == 't' then tasks[#tasks + 1] = item end
end
redis.call('DEL', KEYS[1])
local ids = {}
for i, item in ipairs(tasks) do
  redis.call('RPUSH', KEYS[1], item)
  ids[i] = string.sub(item, 2)
end
if #ids == 0 then
  redis.call('SET', KEYS[2], '1')
  if ttl > 0 then redis.call('PEXPIRE', KEYS[2], ttl) end
elseif ttl > 0 then
  redis.call('PEXPIRE', KEYS[1], ttl)
end
return ids
