-- Read a task and its last N messages in one atomic round trip.
-- KEYS: 1 :task  2 :hist      ARGV: 1 N (-1 = all, 0 = none)
--   2 (optional) ``<version>:<history length>`` the caller already holds the task at
-- Returns nil | 1 (unchanged: still at ARGV[2])
--   | {task bytes, version, history bytes, message count}: history entries are stored framed
--     as a Task's history field, so task bytes .. history bytes is the serialized view;
--   | {task bytes, version, {messages}, message count} for a task written before that
--     (no ``f`` field): the caller frames them; the task's next save rewrites it framed.
local cur = redis.call('HMGET', KEYS[1], 'd', 'v', 'h', 'f')
if not cur[1] then return false end
if ARGV[2] and ARGV[2] == cur[2] .. ':' .. (cur[3] or '') then return 1 end
local n = tonumber(ARGV[1])
local hist = {}
if n < 0 then
  hist = redis.call('LRANGE', KEYS[2], 0, -1)
elseif n > 0 then
  hist = redis.call('LRANGE', KEYS[2], -n, -1)
end
if cur[4] ~= '1' then return {cur[1], cur[2], hist, #hist} end
return {cur[1], cur[2], table.concat(hist), #hist}
