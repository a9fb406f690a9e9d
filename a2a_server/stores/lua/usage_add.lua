-- Count one model call.  KEYS: 1 the day's usage hash
-- ARGV: 1 ttl ms  2 currency  3.. field, increment pairs
-- HINCRBY only: additions from any number of replicas sum exactly.
for i = 3, #ARGV, 2 do
  redis.call('HINCRBY', KEYS[1], ARGV[i], ARGV[i + 1])
end
redis.call('HSET', KEYS[1], 'cur', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
