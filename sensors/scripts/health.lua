-- health.lua: device-health transitions, atomic so that several health checkers may run at once.
--
-- ARGV[1] key names (JSON, sensors/keys.py)  ARGV[2] alarms MAXLEN ~  ARGV[3] op  ARGV[4] now ms
-- op 'offline': then (id, cutoff ms)*: offline when last heard before cutoff (and not yet)
-- op 'fault':   then (id, static JSON, category, since ms, minutes)*: raise one 设备故障 episode
--               per offline device (exactly once: SADD on the open-faults set decides)
-- op 'ai_clear': ARGV[5] cutoff ms: clear video-AI episodes whose label was not seen since
-- Returns the number of transitions.

local K = cjson.decode(ARGV[1])
local AMAX, OP, NOW = ARGV[2], ARGV[3], tonumber(ARGV[4])
local LV = {'blue', 'yellow', 'orange', 'red'}
local SEV = {'一般', '较大', '重大', '特别重大'}
local n = 0

local function hgetall(key)
  local flat = redis.call('HGETALL', key)
  local t = {}
  for i = 1, #flat, 2 do t[flat[i]] = flat[i + 1] end
  return t
end

local function alarm(ev, f, lvl, ts, msg)
  redis.call('XADD', K.alarms, 'MAXLEN', '~', AMAX, '*',
    'episode', f.ep, 'event', ev, 'source', f.src, 'device_id', f.dev, 'device_type', f.type,
    'category', f.c, 'level', LV[lvl], 'severity', SEV[lvl], 'metric', f.m or '', 'value', '',
    'unit', f.u or '', 'threshold', '', 'lon', f.lon, 'lat', f.lat, 'cell_code', f.cell,
    'town_code', f.town, 'ts', ts, 'message', msg, 'snapshot_url', '')
end

if OP == 'offline' then
  for i = 5, #ARGV, 2 do
    local id, cutoff = ARGV[i], tonumber(ARGV[i + 1])
    local seen = tonumber(redis.call('ZSCORE', K.seen, id) or '0')
    if seen < cutoff and redis.call('HGET', K.state, id) ~= 'offline' then
      redis.call('HSET', K.state, id, 'offline')
      redis.call('HSET', K.last .. id, 'online', '0')
      n = n + 1
    end
  end
elseif OP == 'fault' then
  for i = 5, #ARGV, 5 do
    local id, S, cat, since, mins = ARGV[i], cjson.decode(ARGV[i + 1]), ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
    if redis.call('HGET', K.state, id) == 'offline' and redis.call('SADD', K.faults, id) == 1 then
      local f = {ep = id .. ':fault:' .. since, lv = 1, dev = id, src = 'device_fault',
        type = S.type, c = cat, m = '', u = '', lon = S.lon, lat = S.lat, cell = S.cell,
        town = S.town}
      redis.call('HSET', K.ep .. id .. ':fault', 'ep', f.ep, 'lv', 1, 'ts', NOW, 'dev', id,
        'src', f.src, 'type', f.type, 'c', cat, 'm', '', 'u', '', 'lon', f.lon, 'lat', f.lat,
        'cell', f.cell, 'town', f.town)
      alarm('raise', f, 1, since, '设备离线已 ' .. mins .. ' 分钟（设备故障）')
      n = n + 1
    end
  end
elseif OP == 'ai_clear' then
  local cutoff = tonumber(ARGV[5])
  for _, ek in ipairs(redis.call('ZRANGEBYSCORE', K.ai_open, '-inf', cutoff)) do
    redis.call('ZREM', K.ai_open, ek)
    local f = hgetall(ek)
    if f.ep then
      redis.call('DEL', ek)
      local rule = string.match(ek, ':([^:]+)$')
      redis.call('HDEL', K.lv .. f.dev, rule)
      local act = redis.call('HGET', K.act, f.dev)
      if act then
        local keep = {}
        for r in string.gmatch(act, '[^,]+') do if r ~= rule then keep[#keep + 1] = r end end
        if #keep > 0 then redis.call('HSET', K.act, f.dev, table.concat(keep, ','))
        else redis.call('HDEL', K.act, f.dev) end
      end
      local lb = (string.gsub(f.lb or '视频AI识别', '，置信度', ''))
      alarm('clear', f, tonumber(f.lv), NOW, lb .. ' 已 ' .. ARGV[6] .. ' 分钟无新的识别，解除')
      local st = redis.call('HGET', K.state, f.dev)
      if st ~= 'offline' then
        local mx = 0
        for _, l in ipairs(redis.call('HVALS', K.lv .. f.dev)) do mx = math.max(mx, tonumber(l)) end
        local s = (mx == 0) and 'normal' or ((mx <= 2) and 'warning' or 'alarm')
        redis.call('HSET', K.state, f.dev, s)
      end
      n = n + 1
    end
  end
end
return n
