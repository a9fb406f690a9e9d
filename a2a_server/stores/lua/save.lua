-- Save one task: compare-and-set on the version, terminal guard, history append, event XADDs,
-- and, for a task with push configs, one outbox entry per event and config.
-- KEYS: 1 :task  2 :hist  3 :events  4 :push  5 :outbox
-- ARGV: 1 mode (append|replace)  2 expected history length (append)  3 prev version
--       4 cancel (1: skip the version check, still refused over a terminal or absent task)
--       5 task bytes without history  6 state (not stored here: the indexes hold it)
--       7 terminal (1|0)  8 retention ms (0 = keep)
--       9 n, the number of steps (new versions)  10 events MAXLEN  11 ms the event log is
--       kept once the task is terminal (0 = as long as the task)
--       12 the committing run's W3C trace context for the outbox entries: ``traceparent``,
--          or ``traceparent\ntracestate`` ('' = tracing off: no field written)
--       13 log the events (1|0: only queued for the push configs, if the task has any)
--       14 a new task's inline push config id ('' = none)  15 its bytes (HSET into :push
--          before the events are queued)
--       16 .. 15+n the steps' events, in order ('' = a version with no event)
--       16+n .. new history messages, each framed as a Task's history field (tag, length)
-- Returns {1, version, history length, outbox entries added} | {0, stored version, h} refused
--         | {2, v, h} history mismatch
local cur = redis.call('HMGET', KEYS[1], 'v', 'x', 'h', 'f')
local v = tonumber(cur[1]) or 0
local h = tonumber(cur[3]) or 0
if cur[2] == '1' then return {0, v, h} end
if ARGV[4] == '1' then
  if v == 0 then return {0, v, h} end
elseif v ~= tonumber(ARGV[3]) then
  return {0, v, h}
end
if ARGV[1] == 'append' then
  -- a history stored before entries were framed cannot be appended to: the caller resends it
  if h ~= tonumber(ARGV[2]) or (h > 0 and cur[4] ~= '1') then return {2, v, h} end
else
  redis.call('DEL', KEYS[2])
  h = 0
end
local n = tonumber(ARGV[9])
local i = 16 + n
while i <= #ARGV do
  local j = math.min(i + 999, #ARGV)
  redis.call('RPUSH', KEYS[2], unpack(ARGV, i, j))
  h = h + (j - i + 1)
  i = j + 1
end
if ARGV[13] == '1' then
  for k = 1, n do
    if ARGV[15 + k] ~= '' then
      redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[10], (v + k) .. '-0', 'v', v + k,
                 'e', ARGV[15 + k])
    end
  end
end
if ARGV[14] ~= '' then
  redis.call('HSET', KEYS[4], ARGV[14], ARGV[15])
end
local queued = 0
if redis.call('EXISTS', KEYS[4]) == 1 then
  local configs = redis.call('HKEYS', KEYS[4])
  table.sort(configs)
  local now = redis.call('TIME')
  local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
  for k = 1, n do
    if ARGV[15 + k] ~= '' then
      for j = 1, #configs do
        if ARGV[12] == '' then
          redis.call('XADD', KEYS[5], (v + k) .. '-' .. j, 'c', configs[j], 'e', ARGV[15 + k],
                     't', ms)
        else
          redis.call('XADD', KEYS[5], (v + k) .. '-' .. j, 'c', configs[j], 'e', ARGV[15 + k],
                     't', ms, 'p', ARGV[12])
        end
        queued = queued + 1
      end
    end
  end
end
v = v + n
redis.call('HSET', KEYS[1], 'd', ARGV[5], 'v', v, 'x', ARGV[7], 'h', h, 'f', 1)
local ttl = tonumber(ARGV[8])
if ARGV[7] == '1' then
  if ttl > 0 then
    for k = 1, 5 do redis.call('PEXPIRE', KEYS[k], ttl) end
  end
  local grace = tonumber(ARGV[11])
  if grace > 0 and (ttl == 0 or grace < ttl) then
    redis.call('PEXPIRE', KEYS[3], grace)
  end
end
return {1, v, h, queued}
