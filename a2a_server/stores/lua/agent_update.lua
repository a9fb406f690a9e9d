-- Replace a definition if it is still at the version the writer read (compare-and-set).
-- KEYS: 1 the definition  2 the changes stream
-- ARGV: 1 agent id  2 record (JSON)  3 tenant  4 expected version  5 new version  6 MAXLEN
-- Returns 1 written, 0 gone, another tenant's, deleted, or changed meanwhile. HSET keeps the TTL.
if redis.call('HGET', KEYS[1], 't') ~= ARGV[3] or redis.call('HGET', KEYS[1], 'v') ~= ARGV[4]
    or redis.call('HGET', KEYS[1], 'x') == '1' then
  return 0
end
redis.call('HSET', KEYS[1], 'd', ARGV[2], 'v', ARGV[5])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[6], '*', 'a', ARGV[1])
return 1
