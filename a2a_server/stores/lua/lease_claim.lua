-- Claim (or renew) a lease and its expiry entry in one round trip (single Redis only: the
-- two keys are in different cluster slots).
-- KEYS: 1 :lease  2 the lease-expiry set    ARGV: 1 replica id  2 lease ms  3 member  4 expiry ms
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[3])
return 1
