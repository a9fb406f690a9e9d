-- Drop a context's direct messages, keep task references, return the task ids.
-- KEYS: 1 ctx list  2 ctx task set     Returns nil (unknown) | {task ids}
if redis.call('EXISTS', KEYS[2]) == 0 then return false end
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
return ids
