-- Apply one incident change atomically: state + queue move + audit + feed + KPIs + deadlines.
-- Nothing is ever half-moved: either every command below runs, or none does (checks first).
--
-- KEYS[1]  the incident hash
-- ARGV[1]  expected version ('' = the incident must not exist yet: creation)
-- ARGV[2]  idempotency key ('' = none): if it is already set, nothing happens
-- ARGV[3]  claim zset ('' = none); ARGV[4] claim member: it must still be there (deadline
--          events act once even with several workers; the commands ZREM it)
-- ARGV[5..] the commands, run in order, each as its length n followed by its n words
-- returns  {'ok', new_version} | {'dup', existing_id} | {'conflict', version} | {'claimed', ''}
if ARGV[2] ~= '' then
  local existing = redis.call('GET', ARGV[2])
  if existing then return {'dup', existing} end
end
local v = redis.call('HGET', KEYS[1], 'version')
if ARGV[1] == '' then
  if v then return {'conflict', v} end
elseif v ~= ARGV[1] then
  return {'conflict', v or ''}
end
if ARGV[3] ~= '' and not redis.call('ZSCORE', ARGV[3], ARGV[4]) then
  return {'claimed', ''}
end
local i = 5
while i <= #ARGV do
  local n = tonumber(ARGV[i])
  redis.call(unpack(ARGV, i + 1, i + n))
  i = i + n + 1
end
return {'ok', redis.call('HGET', KEYS[1], 'version')}
