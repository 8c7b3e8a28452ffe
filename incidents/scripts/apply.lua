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
-- ARGV[6]  guard ('' = none): 'key|value': the string at key must still be value ('' = absent);
--          a creation routed with the emergency mode (应急模式) the client last read answers
--          'guard' when it has changed since, and the client routes again
-- ARGV[7]  the commands, run in order: one MessagePack array of arrays of words (one argument,
--          not ~100: packing and parsing a hundred small arguments cost more than the commands
--          themselves on both sides). Two pseudo-commands save the commands that would almost
--          always do nothing:
--            KPI hash days day centers center field n [field n ...]   HINCRBY each field;
--                the first increment of a counter in a day's hash also registers the day and
--                the center (SADD)
--            LCAP list value cap                         LPUSH; trims back to cap once the list
--                is an eighth longer (stage durations: the last ``cap`` or a few more)
-- ARGV[8]  this call's nonce: the one its commands write to the incident's '_tok' field. A call
--          sent again because its reply was lost (a dropped connection, a restarting server:
--          redis-py's retry policy) finds its own nonce where the version check fails and
--          answers 'ok' (nothing is done twice, and the caller is told it was done)
-- returns  {'ok', ''} | {'ok', 'replayed'} | {'dup', existing_id} | {'conflict', version}
--          | {'claimed', ''} | {'match', open_incident_id} | {'guard', current_value}
local function replayed()
  return ARGV[8] ~= nil and ARGV[8] ~= '' and redis.call('HGET', KEYS[1], '_tok') == ARGV[8]
end
if ARGV[2] ~= '' then
  local existing = redis.call('GET', ARGV[2])
  if existing then
    if replayed() then return {'ok', 'replayed'} end
    return {'dup', existing}
  end
end
if ARGV[6] ~= '' then
  local gkey, gval = string.match(ARGV[6], '^([^|]*)|(.*)$')
  local cur = redis.call('GET', gkey) or ''
  if cur ~= gval then return {'guard', cur} end
end
local v = redis.call('HGET', KEYS[1], 'version')
local want, token = string.match(ARGV[1], '^([^|]*)|(.+)$')
local stale
if ARGV[1] == '' then
  stale = v ~= false    -- HGET of a missing hash answers false
elseif want then  -- a chained change of a batch: its predecessor must have landed
  stale = v ~= want or redis.call('HGET', KEYS[1], '_tok') ~= token
else
  stale = v ~= ARGV[1]
end
if stale then
  if replayed() then return {'ok', 'replayed'} end
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
  -- every open incident within the radius, nearest first (a flooded street holds dozens)
  local hits = redis.call('GEOSEARCH', geo, 'FROMLONLAT', lon, lat, 'BYRADIUS', radius, 'm', 'ASC')
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
-- The commands: each inner array is decoded straight onto the Lua stack (its header read here,
-- its elements by cmsgpack.unpack_limit) and passed on as arguments: building a Lua table per
-- command (cmsgpack.unpack) cost the server more than the commands' own work.
local s, byte, unpack_limit = ARGV[7], string.byte, cmsgpack.unpack_limit
local function header(off)  -- element count and header length of the array at byte offset off
  local b = byte(s, off + 1)
  if b >= 0x90 and b <= 0x9f then return b - 0x90, 1 end
  if b == 0xdc then
    local h, l = byte(s, off + 2, off + 3)
    return h * 256 + l, 3
  end
  if b == 0xdd then
    local b1, b2, b3, b4 = byte(s, off + 2, off + 5)
    return ((b1 * 256 + b2) * 256 + b3) * 256 + b4, 5
  end
  error('apply.lua: ARGV[7] is not a MessagePack array of arrays (byte ' .. off .. ')')
end
local function run(nxt, cmd, ...)
  if cmd == 'KPI' then
    local key, dkey, day, ckey, center = ...
    local first = false
    for i = 6, select('#', ...), 2 do
      local field, by = select(i, ...)
      by = tonumber(by)
      if redis.call('HINCRBY', key, field, by) == by then first = true end
    end
    if first then
      redis.call('SADD', dkey, day)
      redis.call('SADD', ckey, center)
    end
  elseif cmd == 'LCAP' then
    local key, value, cap = ...
    cap = tonumber(cap)
    if redis.call('LPUSH', key, value) > cap + math.floor(cap / 8) then
      redis.call('LTRIM', key, 0, cap - 1)
    end
  else
    redis.call(cmd, ...)
  end
  return nxt
end
local ncmds, off = header(0)
for _ = 1, ncmds do
  local n, h = header(off)
  off = run(unpack_limit(s, n, off + h))
end
return {'ok', ''}
