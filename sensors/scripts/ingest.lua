-- ingest.lua: store one batch of readings and run the alarm rules, atomically (one round trip).
--
-- Alarm episodes live in Redis, not in a worker: several ingest workers share one feed through an
-- MQTT shared subscription, so two readings of one device may reach two workers. A script runs
-- atomically, so an episode is raised exactly once, and each raise / level / clear is one entry
-- in the alarms stream. Key names come from sensors/keys.py (ARGV[1]); none is spelled here.
-- (Keys are built from prefixes, so this needs a single Redis primary, not Redis Cluster.)
--
-- ARGV[1] key names (JSON)   ARGV[2] history MAXLEN ~   ARGV[3] alarms MAXLEN ~
-- ARGV[4] now (ms)           ARGV[5] combined rule (JSON: lv, c)
-- then per reading: id, ts, metrics JSON ('' = no history), static JSON, snapshot, nrules,
--                   nrules × (rule spec JSON, value)
-- Rule spec: r id, m metric, lb label, u unit, d 1 above | -1 below, h hysteresis, md min duration
--            ms, t thresholds [blue, yellow, orange, red] (null = none), c category,
--            mode 'v' value | 'r' rate per hour | 'e' event, w rate window ms, tag, src
-- Returns the number of alarm entries written.

local K = cjson.decode(ARGV[1])
local HMAX, AMAX = ARGV[2], ARGV[3]
local COMB = cjson.decode(ARGV[5])
local NULL = cjson.null
local LV = {'blue', 'yellow', 'orange', 'red'}
local LVCN = {'蓝色', '黄色', '橙色', '红色'}
local SEV = {'一般', '较大', '重大', '特别重大'}
local nalarms = 0

local function fmt(x)
  if x == NULL or x == nil then return '' end
  return string.format('%.6g', x)
end

local function level_of(t, d, x, margin)
  local lv = 0
  for k = 1, 4 do
    local th = t[k]
    if th ~= nil and th ~= NULL then
      if d == 1 then
        if x >= th - margin then lv = k end
      elseif x <= th + margin then
        lv = k
      end
    end
  end
  return lv
end

local function alarm(ev, f, lvl, value, thr, ts, msg, snap)
  redis.call('XADD', K.alarms, 'MAXLEN', '~', AMAX, '*',
    'episode', f.ep, 'event', ev, 'source', f.src, 'device_id', f.dev, 'device_type', f.type,
    'category', f.c, 'level', LV[lvl], 'severity', SEV[lvl], 'metric', f.m, 'value', value,
    'unit', f.u, 'threshold', thr, 'lon', f.lon, 'lat', f.lat, 'cell_code', f.cell,
    'town_code', f.town, 'ts', ts, 'message', msg, 'snapshot_url', snap or '')
  nalarms = nalarms + 1
end

local function hgetall(key)
  local flat = redis.call('HGETALL', key)
  local t = {}
  for i = 1, #flat, 2 do t[flat[i]] = flat[i + 1] end
  return t
end

local function save_episode(ek, f)
  redis.call('HSET', ek, 'ep', f.ep, 'lv', f.lv, 'ts', f.ts, 'dev', f.dev, 'src', f.src,
    'type', f.type, 'c', f.c, 'm', f.m, 'u', f.u, 'lb', f.lb, 'lon', f.lon, 'lat', f.lat,
    'cell', f.cell, 'town', f.town, 'village', f.village, 'tag', f.tag, 'mode', f.mode)
end

-- heavy rain + water rising fast in one village (村) → one combined flood-risk episode
local function combined(village, ts, trigger)
  if village == nil or village == '' then return end
  local ck = K.ep .. 'village-' .. village .. ':flood'
  local rain = redis.call('SCARD', K.cond .. village .. ':rain')
  local rise = redis.call('SCARD', K.cond .. village .. ':rise')
  local open = redis.call('HGET', ck, 'ep')
  if rain > 0 and rise > 0 and not open then
    local f = {ep = 'village-' .. village .. ':flood:' .. ts, lv = COMB.lv, ts = ts,
      dev = trigger.dev, src = 'iot', type = trigger.type, c = COMB.c, m = '', u = '',
      lb = '', lon = trigger.lon, lat = trigger.lat, cell = trigger.cell, town = trigger.town,
      village = village, tag = '', mode = 'c'}
    save_episode(ck, f)
    alarm('raise', f, COMB.lv, '', '', ts,
      '强降雨叠加水位快速上涨（村/社区 ' .. village .. '），有内涝、山洪风险', '')
  elseif (rain == 0 or rise == 0) and open then
    local f = hgetall(ck)
    redis.call('DEL', ck)
    alarm('clear', f, tonumber(f.lv), '', '', ts,
      '村/社区 ' .. village .. ' 强降雨与水位上涨已缓解', '')
  end
end

local function clear_fault(id, ts)
  local fk = K.ep .. id .. ':fault'
  if redis.call('EXISTS', fk) == 1 then
    local f = hgetall(fk)
    redis.call('DEL', fk)
    redis.call('SREM', K.faults, id)
    alarm('clear', f, tonumber(f.lv), '', '', ts, '设备恢复上线', '')
  end
end

-- one rule on one reading; returns true when the rule's level changed
local function eval_rule(id, ts, S, spec, v, vstr, snap)
  local ek = K.ep .. id .. ':' .. spec.r
  local x, xs = v, vstr
  if spec.mode == 'r' then
    local rk = K.rate .. id
    local a = redis.call('HGET', rk, spec.r)
    local rate = 0
    if a then
      local at, av, ar = string.match(a, '([^,]+),([^,]+),([^,]+)')
      at, av, ar = tonumber(at), tonumber(av), tonumber(ar)
      if ts < at then return false end
      if ts - at >= spec.w then
        rate = (v - av) / ((ts - at) / 3600000)
        redis.call('HSET', rk, spec.r, ts .. ',' .. v .. ',' .. rate)
      else
        rate = ar
      end
    else
      redis.call('HSET', rk, spec.r, ts .. ',' .. v .. ',0')
    end
    x, xs = rate, string.format('%.2f', rate)
  end
  local st = redis.call('HMGET', ek, 'lv', 'pd', 'ps', 'ts')
  local cur = tonumber(st[1]) or 0
  if cur > 0 and ts < (tonumber(st[4]) or 0) then return false end  -- stale: state moved on
  local new = cur
  if spec.mode == 'e' then
    local up = level_of(spec.t, 1, x, 0)
    if up > cur then new = up end
    if new > 0 then redis.call('ZADD', K.ai_open, ts, ek) end
  else
    local up = level_of(spec.t, spec.d, x, 0)
    local hold = level_of(spec.t, spec.d, x, spec.h)
    local target = cur
    if up > cur then target = up elseif hold < cur then target = hold end
    if target ~= cur then
      local dir = (target > cur) and 1 or -1
      local pd, ps = tonumber(st[2]), tonumber(st[3])
      if pd ~= dir or ps == nil then
        ps = ts
        redis.call('HSET', ek, 'pd', dir, 'ps', ts)
      end
      if ts - ps >= spec.md then new = target end
    elseif st[2] then
      redis.call('HDEL', ek, 'pd', 'ps')
    end
  end
  if new == cur then
    if cur > 0 then redis.call('HSET', ek, 'ts', ts) end
    return false
  end
  local verb = (spec.d == 1) and ' 超过' or ' 低于'
  if cur == 0 then
    local f = {ep = id .. ':' .. spec.r .. ':' .. ts, lv = new, ts = ts, dev = id, src = spec.src,
      type = S.type, c = spec.c, m = spec.m, u = spec.u, lb = spec.lb, lon = S.lon, lat = S.lat,
      cell = S.cell, town = S.town, village = S.village, tag = spec.tag or '', mode = spec.mode}
    redis.call('DEL', ek)
    save_episode(ek, f)
    local msg
    if spec.mode == 'e' then msg = spec.lb .. ' ' .. xs
    else msg = spec.lb .. ' ' .. xs .. ' ' .. spec.u .. verb .. LVCN[new] .. '阈值 ' .. fmt(spec.t[new]) .. ' ' .. spec.u end
    alarm('raise', f, new, xs, fmt(spec.t[new]), ts, msg, snap)
    redis.call('HSET', K.lv .. id, spec.r, new)
    if f.tag ~= '' then
      redis.call('SADD', K.cond .. S.village .. ':' .. f.tag, id)
      combined(S.village, ts, f)
    end
  elseif new == 0 then
    local f = hgetall(ek)
    redis.call('DEL', ek)
    redis.call('HDEL', K.lv .. id, spec.r)
    if spec.mode == 'e' then redis.call('ZREM', K.ai_open, ek) end
    alarm('clear', f, cur, xs, '', ts, spec.lb .. ' ' .. xs .. ' ' .. spec.u .. ' 已恢复正常', snap)
    if (f.tag or '') ~= '' then
      redis.call('SREM', K.cond .. f.village .. ':' .. f.tag, id)
      combined(f.village, ts, f)
    end
  else
    redis.call('HSET', ek, 'lv', new, 'ts', ts)
    redis.call('HDEL', ek, 'pd', 'ps')
    local f = hgetall(ek)
    local msg
    if spec.mode == 'e' then msg = spec.lb .. ' ' .. xs
    else msg = spec.lb .. ' ' .. xs .. ' ' .. spec.u .. verb .. LVCN[new] .. '阈值 ' .. fmt(spec.t[new]) .. ' ' .. spec.u end
    alarm('level', f, new, xs, fmt(spec.t[new]), ts, msg, snap)
    redis.call('HSET', K.lv .. id, spec.r, new)
  end
  return true
end

local i, n = 6, #ARGV
while i <= n do
  local id, ts, mj, sj, snap = ARGV[i], tonumber(ARGV[i + 1]), ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
  local nr = tonumber(ARGV[i + 5])
  i = i + 6
  local S = cjson.decode(sj)
  local changed = false
  for _ = 1, nr do
    local spec = cjson.decode(ARGV[i])
    local vstr = ARGV[i + 1]
    i = i + 2
    if eval_rule(id, ts, S, spec, tonumber(vstr), vstr, snap) then changed = true end
  end
  redis.call('ZADD', K.seen, 'GT', ARGV[4], id)
  local cur_state = redis.call('HGET', K.state, id)
  local lvname = nil
  if changed or not cur_state or cur_state == 'offline' then
    local mx = 0
    for _, l in ipairs(redis.call('HVALS', K.lv .. id)) do mx = math.max(mx, tonumber(l)) end
    local s = (mx == 0) and 'normal' or ((mx <= 2) and 'warning' or 'alarm')
    if s ~= cur_state then redis.call('HSET', K.state, id, s) end
    if cur_state == 'offline' then clear_fault(id, ts) end
    lvname = LV[mx] or ''
  end
  if mj ~= '' then
    redis.call('XADD', K.hist .. id, 'MAXLEN', '~', HMAX, '*', 'ts', ts, 'm', mj)
    local lk = K.last .. id
    if ts >= (tonumber(redis.call('HGET', lk, 'ts')) or 0) then
      redis.call('HSET', lk, 'ts', ts, 'metrics', mj, 'online', '1')
      if lvname then redis.call('HSET', lk, 'level', lvname) end
    end
  end
end
return nalarms
