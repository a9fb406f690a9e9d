-- Release a lease only if this replica still holds it.  KEYS: 1 :lease   ARGV: 1 replica id
-- On a single Redis also KEYS: 2 the lease-expiry set, ARGV: 2 member (removed in any case;
-- a holder that is not us re-adds it at its next renewal). In a Redis Cluster the ZREM is
-- a second call.
local released = 0
if redis.call('GET', KEYS[1]) == ARGV[1] then released = redis.call('DEL', KEYS[1]) end
if KEYS[2] then redis.call('ZREM', KEYS[2], ARGV[2]) end
return released
