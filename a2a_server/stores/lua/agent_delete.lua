-- Delete a tenant's definition: replace it by its tombstone (compare-and-set on the
-- version), which expires with the tenant's tasks. It stays in the tenant's index (its
-- usage still counts for tokens_per_day) until it expires.
-- KEYS: 1 the definition  2 the tenant's index (unused: kept for the key list)  3 the changes stream
-- ARGV: 1 agent id  2 tombstone (JSON)  3 tenant  4 expected version  5 new version
--       6 tombstone TTL ms  7 MAXLEN
-- Returns 1 deleted, 0 gone, another tenant's, deleted already or changed meanwhile.
if redis.call('HGET', KEYS[1], 't') ~= ARGV[3] or redis.call('HGET', KEYS[1], 'v') ~= ARGV[4]
    or redis.call('HGET', KEYS[1], 'x') == '1' then
  return 0
end
redis.call('HSET', KEYS[1], 'd', ARGV[2], 'v', ARGV[5], 'x', '1')
redis.call('PEXPIRE', KEYS[1], ARGV[6])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[7], '*', 'a', ARGV[1])
return 1
