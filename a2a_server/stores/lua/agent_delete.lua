-- Delete a tenant's definition.
-- KEYS: 1 the definition  2 the tenant's index  3 the changes stream
-- ARGV: 1 agent id  2 tenant  3 MAXLEN
-- Returns 1 deleted, 0 no such agent of this tenant.
if redis.call('HGET', KEYS[1], 't') ~= ARGV[2] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[3], '*', 'a', ARGV[1])
return 1
