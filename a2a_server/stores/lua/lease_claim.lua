-- Claim (or renew) a lease and its expiry entry in one round trip (single Redis only: the
-- two keys are in different cluster slots).
-- KEYS: 1 :lease  2 the lease-expiry set  [3 :task: a renewal]
-- ARGV: 1 replica id  2 lease ms  3 member  4 expiry ms
-- A renewal of a task whose :task key is gone (a Redis restarted empty, a failover that lost
-- the writes) sets nothing and returns 0: the run learns that the store lost its task.
if KEYS[3] and redis.call('EXISTS', KEYS[3]) == 0 then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[3])
return 1
