-- Drop an idempotency claim only if it is still the one this request made.
-- KEYS[1] the claim  ARGV[1] the claim's value
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
