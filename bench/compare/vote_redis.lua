-- Redis: one vote, called with EVALSHA by redis-benchmark; the dedupe, tally and log that
-- tallyd does, as a campaign team would write them on Redis.
-- KEYS: dedupe set, tally hash, log stream; ARGV: dedupe key (voter:candidate:period), candidate
if redis.call('SADD', KEYS[1], ARGV[1]) == 1 then
  redis.call('HINCRBY', KEYS[2], ARGV[2], 1)
  redis.call('XADD', KEYS[3], '*', 'k', ARGV[1], 'c', ARGV[2])
  return 1
end
return 0
