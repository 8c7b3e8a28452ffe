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
-- ARGV[6] S = number of rule specs in this batch, ARGV[7 .. 6+S] the specs (JSON)
-- then 3 arguments per reading: "id|ts|hot|metrics JSON|rules", static JSON, snapshot URL
--   metrics JSON '' = no history (status, detections); rules "<spec index>|<value>|…";
--   static JSON is sent only when hot (only a hot reading can raise an episode).
-- hot = '0': every value is clearly inside its limits (the worker checked), so the rules run only
-- if the device has an open or pending episode (hash K.act: id → rule ids): the common case costs
-- no JSON decoding and no per-rule lookups; state, act and seen are read/written once per batch.
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
local function eval_rule(id, ts, sj, spec, v, vstr, snap)
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
    local S = cjson.decode(sj)
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

local NS = tonumber(ARGV[6])
local specs = {}
local function spec_at(k)
  local sp = specs[k]
  if sp == nil then
    sp = cjson.decode(ARGV[6 + k])
    specs[k] = sp
  end
  return sp
end

local recs, ids, newest = {}, {}, {}
for i = 7 + NS, #ARGV, 3 do
  local id, ts, hot, mj, rules = string.match(ARGV[i], '^([^|]*)|([^|]*)|([^|]*)|([^|]*)|?(.*)$')
  ts = tonumber(ts)
  recs[#recs + 1] = {id, ts, hot, mj, rules, ARGV[i + 1], ARGV[i + 2]}
  ids[#ids + 1] = id
  if mj ~= '' and (newest[id] == nil or ts > newest[id]) then newest[id] = ts end
end
if #ids == 0 then return 0 end
local states = redis.call('HMGET', K.state, unpack(ids))
local acts = redis.call('HMGET', K.act, unpack(ids))
local act_now = {}      -- id → rule set, for devices whose rules ran in this batch
local touched = {}      -- ids already handled in this batch (their state may have changed)
local seen = {}

local function act_set(id, k)
  local set = act_now[id]
  if set == nil then
    set = {}
    local cur = acts[k]
    if cur then for r in string.gmatch(cur, '[^,]+') do set[r] = true end end
    act_now[id] = set
  end
  return set
end

for k, rec in ipairs(recs) do
  local id, ts, hot, mj, rules, sj, snap = rec[1], rec[2], rec[3], rec[4], rec[5], rec[6], rec[7]
  local changed = false
  local cur_state = states[k]
  if touched[id] then
    -- the device appeared earlier in this batch: its state may have changed meanwhile
    cur_state = redis.call('HGET', K.state, id)
  end
  touched[id] = true
  local active = act_now[id] and next(act_now[id]) ~= nil or (act_now[id] == nil and acts[k])
  if rules ~= '' and (hot == '1' or active) then
    local set = act_set(id, k)
    local before = 0
    for _ in pairs(set) do before = before + 1 end
    local parts = {}
    for tok in string.gmatch(rules, '[^|]+') do parts[#parts + 1] = tok end
    for j = 1, #parts, 2 do
      local spec = spec_at(tonumber(parts[j]))
      local vstr = parts[j + 1]
      if eval_rule(id, ts, sj, spec, tonumber(vstr), vstr, snap) then changed = true end
      set[spec.r] = (redis.call('EXISTS', K.ep .. id .. ':' .. spec.r) == 1) or nil
    end
    local list = {}
    for r in pairs(set) do list[#list + 1] = r end
    if #list > 0 then
      redis.call('HSET', K.act, id, table.concat(list, ','))
    elseif before > 0 or acts[k] then
      redis.call('HDEL', K.act, id)
    end
  end
  seen[#seen + 1] = ARGV[4]
  seen[#seen + 1] = id
  local lvname = nil
  if changed or not cur_state or cur_state == 'offline' then
    local mx = 0
    for _, l in ipairs(redis.call('HVALS', K.lv .. id)) do mx = math.max(mx, tonumber(l)) end
    local st = (mx == 0) and 'normal' or ((mx <= 2) and 'warning' or 'alarm')
    if st ~= cur_state then redis.call('HSET', K.state, id, st) end
    if cur_state == 'offline' then clear_fault(id, ts) end
    lvname = LV[mx] or ''
  end
  if mj ~= '' then
    redis.call('XADD', K.hist .. id, 'MAXLEN', '~', HMAX, '*', 'ts', ts, 'm', mj)
    -- last value: the newest reading of the batch (no read-before-write: readings of one
    -- device reach one worker in order except across a worker hand-over, and the next fixes it)
    if ts == newest[id] then
      if lvname then
        redis.call('HSET', K.last .. id, 'ts', ts, 'metrics', mj, 'online', '1', 'level', lvname)
      else
        redis.call('HSET', K.last .. id, 'ts', ts, 'metrics', mj, 'online', '1')
      end
    elseif lvname then
      redis.call('HSET', K.last .. id, 'level', lvname)
    end
  end
end
for j = 1, #seen, 1000 do
  redis.call('ZADD', K.seen, 'GT', unpack(seen, j, math.min(j + 999, #seen)))
end
return nalarms
