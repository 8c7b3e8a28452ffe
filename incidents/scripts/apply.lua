-- Apply one incident change atomically: state + queue move + audit + feed + KPIs + deadlines.
-- Nothing is ever half-moved: either every command below runs, or none does (checks first).
--
-- KEYS[1]  the incident hash
-- ARGV[1]  expected version ('' = the incident must not exist yet: creation), or
--          'version|nonce': also the nonce the previous change of the same batch wrote
-- ARGV[2]  idempotency key ('' = none): if it is already set, nothing happens
-- ARGV[3]  claim zset ('' = none); ARGV[4] claim member: it must still be there (deadline
--          events act once even with several workers; the commands ZREM it)
-- ARGV[5]  correlation check for a creation ('' = none), fields joined by '|':
--          geo key, incident key prefix, lon, lat, radius m, window s, now, category,
--          related categories (comma list). An open incident of the same or a related category
--          within radius and window wins: nothing is created, its id is returned. Done here, in
--          the same script as the creation, so two simultaneous reports never open two cases.
-- ARGV[6..] the commands, run in order, each as its length n followed by its n words
-- returns  {'ok', new_version} | {'dup', existing_id} | {'conflict', version} | {'claimed', ''}
--          | {'match', open_incident_id}
if ARGV[2] ~= '' then
  local existing = redis.call('GET', ARGV[2])
  if existing then return {'dup', existing} end
end
local v = redis.call('HGET', KEYS[1], 'version')
local want, token = string.match(ARGV[1], '^([^|]*)|(.+)$')
if ARGV[1] == '' then
  if v then return {'conflict', v} end
elseif want then  -- a chained change of a batch: its predecessor must have landed
  if v ~= want or redis.call('HGET', KEYS[1], '_tok') ~= token then return {'conflict', v or ''} end
elseif v ~= ARGV[1] then
  return {'conflict', v or ''}
end
if ARGV[3] ~= '' and not redis.call('ZSCORE', ARGV[3], ARGV[4]) then
  return {'claimed', ''}
end
if ARGV[5] ~= '' then
  local f = {}
  for part in string.gmatch(ARGV[5], '([^|]*)|?') do f[#f + 1] = part end
  local geo, prefix, lon, lat, radius = f[1], f[2], f[3], f[4], f[5]
  local window, now, cat = tonumber(f[6]), tonumber(f[7]), f[8]
  local related = {}
  for c in string.gmatch(f[9] or '', '[^,]+') do related[c] = true end
  local hits = redis.call('GEOSEARCH', geo, 'FROMLONLAT', lon, lat, 'BYRADIUS', radius, 'm',
                          'ASC', 'COUNT', 20)
  for _, id in ipairs(hits) do
    local h = redis.call('HMGET', prefix .. id, 'category', 'state', 'created_ts', 'kind')
    local c, state, created, kind = h[1], h[2], tonumber(h[3] or '0'), h[4]
    if c and state ~= 'closed' and state ~= 'voided' and kind ~= 'task'
        and now - created <= window
        and (c == cat or string.sub(c, 1, #cat) == cat or string.sub(cat, 1, #c) == c
             or related[c]) then
      return {'match', id}
    end
  end
end
local i = 6
while i <= #ARGV do
  local n = tonumber(ARGV[i])
  redis.call(unpack(ARGV, i + 1, i + n))
  i = i + n + 1
end
return {'ok', redis.call('HGET', KEYS[1], 'version')}
