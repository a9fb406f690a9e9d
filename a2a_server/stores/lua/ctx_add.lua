-- Append to a context: a task reference once, or a direct message.
-- KEYS: 1 ctx list    ARGV: 1 kind (t|m)  2 task id | message bytes  3 ttl ms
if ARGV[1] == 't' then
  if redis.call('LPOS', KEYS[1], 't' .. ARGV[2]) then return 0 end
end
redis.call('RPUSH', KEYS[1], ARGV[1] .. ARGV[2])
local ttl = tonumber(ARGV[3])
if ttl > 0 then redis.call('PEXPIRE', KEYS[1], ttl) end
return 1
