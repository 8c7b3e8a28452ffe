/* OneMap video wall (/wall): clientside callbacks and the offline place-name overlay.
 *
 * apply(): turns the server's small delta (alarm events, incident changes, device states,
 * hexagon ranks) into a dash Patch of the map figure, finding points by id in each trace's
 * customdata, so a live tick never resends the figure.
 * Labels: MapLibre needs glyph PBFs for map text, which are not available offline, so town
 * and street names are HTML divs positioned with the map's own projection (map.project).
 */
(function () {
  "use strict";
  var LEVEL_COLORS = {blue: "#3d8bff", yellow: "#ffd400", orange: "#ff8c1a", red: "#ff2d2d"};
  var CORE = 17, HALO = 34, HL_MS = 3500;

  function traceIndex(fig) {
    var idx = {};
    (fig.data || []).forEach(function (t, i) { if (t.meta) { idx[t.meta] = i; } });
    return idx;
  }
  function posIn(trace, id) {
    var cd = trace && trace.customdata;
    return cd && cd.indexOf ? cd.indexOf(id) : -1;
  }

  function apply(delta, _n, fig) {
    var nu = window.dash_clientside.no_update;
    if (!fig || !fig.data) { return nu; }
    var trig = (window.dash_clientside.callback_context.triggered || []).map(function (t) { return t.prop_id; });
    var idx = traceIndex(fig);
    var P = new window.dash_clientside.Patch();
    var changed = false;
    var hi = idx.highlight;
    var byDelta = trig.indexOf("wall-delta.data") >= 0;
    if (!byDelta) {
      // fade the arrival highlight after HL_MS
      if (window.__omHL && Date.now() - window.__omHL > HL_MS && hi !== undefined) {
        window.__omHL = 0;
        P.assign(["data", hi, "lon"], []).assign(["data", hi, "lat"], [])
          .assign(["data", hi, "marker", "size"], []).assign(["data", hi, "customdata"], []);
        return P.build();
      }
      return nu;
    }
    if (!delta || delta.seq === window.__omSeq) { return nu; }
    window.__omSeq = delta.seq;
    var hl = {lon: [], lat: [], size: [], id: []};
    var sc = window.__omScale || 1;

    // --- device states: recolour the point where the device is drawn; over hexagons only the
    // devices that are not normal are drawn, so one turning red is appended, one back to normal
    // is retired (size 0) ---
    var devs = delta.devices || {};
    Object.keys(devs).forEach(function (id) {
      var d = devs[id];
      var meta = d.cam ? "cameras:all" : "sensors:all";
      var ti = idx[meta];
      if (ti === undefined) { return; }
      var t = fig.data[ti], k = posIn(t, id);
      var size = Math.round(d.size * sc * 10) / 10;
      if (k >= 0) {
        var over = idx.hex_devices !== undefined && d.state === "normal";
        P.assign(["data", ti, "marker", "color", k], d.color);
        P.assign(["data", ti, "marker", "size", k], over ? 0 : size);
        changed = true;
      } else if (d["in"] && d.state !== "normal" && d.lon !== null && Array.isArray(t.lon)) {
        P.append(["data", ti, "lon"], d.lon).append(["data", ti, "lat"], d.lat)
          .append(["data", ti, "customdata"], id).append(["data", ti, "marker", "color"], d.color)
          .append(["data", ti, "marker", "size"], size);
        changed = true;
      }
    });
    // --- hexagons: worst state inside ---
    var hex = delta.hex || {};
    Object.keys(hex).forEach(function (layer) {
      var ti = idx[layer];
      if (ti === undefined) { return; }
      var locs = fig.data[ti].locations || [];
      Object.keys(hex[layer]).forEach(function (h) {
        var k = locs.indexOf(h);
        if (k >= 0) { P.assign(["data", ti, "z", k], hex[layer][h]); changed = true; }
      });
    });
    // --- alarm episodes ---
    var ci = idx["alarms:core"], hai = idx["alarms:halo"];
    if (ci !== undefined) {
      var added = {};
      (delta.alarms || []).forEach(function (a) {
        if (a.lon === null || a.lat === null) { return; }
        var k = posIn(fig.data[ci], a.ep);
        if (k < 0 && added[a.ep] !== undefined) { k = added[a.ep]; }
        if (a.ev === "clear") {
          if (k >= 0) {
            P.assign(["data", ci, "marker", "size", k], 0).assign(["data", hai, "marker", "size", k], 0);
            changed = true;
          }
          return;
        }
        if (k >= 0) {
          P.assign(["data", ci, "marker", "color", k], a.color)
            .assign(["data", ci, "marker", "size", k], CORE * sc).assign(["data", hai, "marker", "size", k], HALO * sc);
        } else {
          var n = (fig.data[ci].customdata || []).length + Object.keys(added).length;
          added[a.ep] = n;
          [ci, hai].forEach(function (ti) {
            P.append(["data", ti, "lon"], a.lon).append(["data", ti, "lat"], a.lat)
              .append(["data", ti, "customdata"], a.ep);
          });
          P.append(["data", ci, "marker", "color"], a.color).append(["data", ci, "marker", "size"], CORE * sc)
            .append(["data", hai, "marker", "size"], HALO * sc);
        }
        if (a.ev === "raise") { hl.lon.push(a.lon); hl.lat.push(a.lat); hl.size.push(54 * sc); hl.id.push(a.ep); }
        changed = true;
      });
    }
    // --- incidents: one trace per tier + the overdue ring trace ---
    var tiers = ["department", "town", "city"];
    var ri = idx["incidents:overdue"];
    // 部门: which cases are in a department's hands now (the server tells each change)
    var dept = window.__omDept = window.__omDept || {};
    (delta.incidents || []).forEach(function (c) {
      if (c.dept && !c.closed) { dept[c.id] = true; } else { delete dept[c.id]; }
    });
    if (ri !== undefined) {
      var appended = {};
      (delta.incidents || []).forEach(function (c) {
        if (c.lon === null || c.lat === null) { return; }
        tiers.forEach(function (tier) {
          var ti = idx["incidents:" + tier];
          var k = posIn(fig.data[ti], c.id);
          if (k < 0) { return; }
          if (c.closed || tier !== c.tier) {
            P.assign(["data", ti, "marker", "size", k], 0);
          } else {
            P.assign(["data", ti, "marker", "color", k], c.color).assign(["data", ti, "marker", "size", k], c.size * sc)
              .assign(["data", ti, "marker", "opacity", k], c.op);
          }
          changed = true;
        });
        var ti = idx["incidents:" + c.tier];
        var present = posIn(fig.data[ti], c.id) >= 0 || appended[c.tier + c.id];
        if (!c.closed && !present && c["in"] !== false) {
          appended[c.tier + c.id] = true;
          P.append(["data", ti, "lon"], c.lon).append(["data", ti, "lat"], c.lat)
            .append(["data", ti, "customdata"], c.id).append(["data", ti, "marker", "color"], c.color)
            .append(["data", ti, "marker", "size"], c.size * sc).append(["data", ti, "marker", "opacity"], c.op);
          hl.lon.push(c.lon); hl.lat.push(c.lat); hl.size.push(46 * sc); hl.id.push(c.id);
          changed = true;
        }
        var rk = posIn(fig.data[ri], c.id);
        if (c.overdue && !c.closed && c["in"] !== false) {
          if (rk >= 0) { P.assign(["data", ri, "marker", "size", rk], c.ring * sc); }
          else if (!appended["ring" + c.id]) {
            appended["ring" + c.id] = true;
            P.append(["data", ri, "lon"], c.lon).append(["data", ri, "lat"], c.lat)
              .append(["data", ri, "customdata"], c.id).append(["data", ri, "marker", "size"], c.ring * sc);
          }
          changed = true;
        } else if (rk >= 0 && c.closed) {
          P.assign(["data", ri, "marker", "size", rk], 0);
          changed = true;
        }
      });
    }
    if (hl.lon.length && hi !== undefined) {
      P.assign(["data", hi, "lon"], hl.lon).assign(["data", hi, "lat"], hl.lat)
        .assign(["data", hi, "marker", "size"], hl.size).assign(["data", hi, "customdata"], hl.id);
      window.__omHL = Date.now();
    }
    window.__omApplied = (window.__omApplied || 0) + 1;
    return changed || hl.lon.length ? P.build() : nu;
  }

  function pct(v) { return (v === null || v === undefined) ? "–" : (100 * v).toFixed(1) + "%"; }
  // 统计中: too few devices known yet after a restart (sensors.health.WARM_KNOWN_SHARE), not an outage
  function online(v, warming) { return warming ? "统计中" : pct(v); }
  function num(v) { return (v === null || v === undefined) ? "–" : String(v); }

  function kpis(kpi, fig) {
    kpi = kpi || {};
    var counts = {red: 0, orange: 0, yellow: 0, blue: 0};
    var colorLevel = {};
    Object.keys(LEVEL_COLORS).forEach(function (lv) { colorLevel[LEVEL_COLORS[lv]] = lv; });
    var core = null;
    ((fig && fig.data) || []).forEach(function (t) { if (t.meta === "alarms:core") { core = t; } });
    if (core) {
      var cs = core.marker.color || [], ss = core.marker.size || [];
      for (var i = 0; i < cs.length; i++) {
        if (ss[i] > 0 && colorLevel[cs[i]]) { counts[colorLevel[cs[i]]] += 1; }
      }
    }
    // open incidents by tier and overdue: counted from the map's incident traces, which every
    // tick keeps current (closed ones have size 0); the server's numbers until the map exists.
    // Each case once: 部门 if a department has it now (the server's dept_ids at a render, then
    // each change's flag: window.__omDept), else its owner's tier (the trace it is drawn in).
    if (kpi.dept_ids && kpi.dept_rev !== window.__omDeptRev) {
      window.__omDeptRev = kpi.dept_rev;
      window.__omDept = {};
      kpi.dept_ids.forEach(function (id) { window.__omDept[id] = true; });
    }
    var dept = window.__omDept || {};
    var tiers = {city: 0, town: 0, department: 0, overdue: 0}, shown = 0;
    ((fig && fig.data) || []).forEach(function (t) {
      if (t.meta && t.meta.indexOf("incidents:") === 0) {
        var tier = t.meta.slice(10), ss = (t.marker && t.marker.size) || [], cd = t.customdata || [];
        for (var j = 0; j < ss.length; j++) {
          if (!(ss[j] > 0)) { continue; }
          tiers[tier !== "overdue" && dept[cd[j]] ? "department" : tier] += 1;
        }
        shown += 1;
      }
    });
    if (shown) {
      kpi = Object.assign({}, kpi, {tier_city: tiers.city, tier_town: tiers.town,
                                    tier_department: tiers.department, overdue: tiers.overdue});
    }
    return [num(kpi.tier_city), num(kpi.tier_town), num(kpi.tier_department), num(kpi.overdue),
            pct(kpi.on_time), num(counts.red), num(counts.orange), num(counts.yellow), num(counts.blue),
            online(kpi.device_online, kpi.device_warming), online(kpi.camera_online, kpi.camera_warming)];
  }

  function screen() {
    window.__omScale = Math.max(1, window.innerHeight / 1080);
    var box = document.getElementById("wall-mapbox");
    return {w: window.innerWidth, h: window.innerHeight,
            mw: box ? box.clientWidth : null, mh: box ? box.clientHeight : null};
  }

  function clock() {
    // China Standard Time whatever the kiosk's zone
    var d = new Date(Date.now() + 8 * 3600 * 1000);
    var p = function (x) { return (x < 10 ? "0" : "") + x; };
    return d.getUTCFullYear() + "-" + p(d.getUTCMonth() + 1) + "-" + p(d.getUTCDate()) + " " +
      p(d.getUTCHours()) + ":" + p(d.getUTCMinutes()) + ":" + p(d.getUTCSeconds());
  }

  window.dash_clientside = Object.assign({}, window.dash_clientside, {
    wall: {apply: apply, kpis: kpis, screen: screen, clock: clock}
  });

  // --- place names (offline: HTML, not map glyphs) and the first-paint mark -----------------
  var state = {map: null, sig: "", els: []};

  function graphDiv() { return document.querySelector("#wall-map .js-plotly-plot"); }

  function labelsTrace(gd) {
    var out = null;
    (gd.data || []).forEach(function (t) { if (t.meta === "labels") { out = t; } });
    return out;
  }

  // Candidate offsets (in label widths/heights) tried in order: on the anchor, then above,
  // below, beside, diagonal, then twice as far. Every town and street is labelled (issue 15: the
  // urban core's small streets used to be hidden where they crowd): a label that fits nowhere
  // free takes the candidate that overlaps least.
  var SPOTS = [[0, 0], [0, -1.1], [0, 1.1], [-0.6, 0], [0.6, 0], [-0.6, -1.1], [0.6, -1.1],
               [-0.6, 1.1], [0.6, 1.1], [0, -2.2], [0, 2.2], [-1.2, 0], [1.2, 0], [-1.2, -2.2],
               [1.2, -2.2], [-1.2, 2.2], [1.2, 2.2]];

  function overlap(r, placed) {
    var a = 0;
    placed.forEach(function (q) {
      var dx = Math.min(r.x1, q.x1) - Math.max(r.x0, q.x0), dy = Math.min(r.y1, q.y1) - Math.max(r.y0, q.y0);
      if (dx > 0 && dy > 0) { a += dx * dy; }
    });
    return a;
  }

  function place() {
    var map = state.map;
    if (!map) { return; }
    var box = document.getElementById("wall-labels");
    if (!box) { return; }
    // towns first, then streets: each takes the first free spot around its anchor
    var placed = [], moved = 0;
    state.els.forEach(function (e) {
      var p = map.project([e.lon, e.lat]);
      var w = e.el.offsetWidth, h = e.el.offsetHeight;
      var best = null, bestA = Infinity;
      for (var k = 0; k < SPOTS.length; k++) {
        var cx = p.x + SPOTS[k][0] * w, cy = p.y + SPOTS[k][1] * h;
        var r = {x0: cx - w / 2, x1: cx + w / 2, y0: cy - h / 2, y1: cy + h / 2, k: k};
        var a = overlap(r, placed);
        if (a < bestA) { best = r; bestA = a; }
        if (a === 0) { break; }
      }
      placed.push(best);
      if (best.k) { moved += 1; }
      e.el.style.visibility = "visible";
      e.el.classList.toggle("moved", best.k > 0);
      e.el.style.transform = "translate(" + Math.round(best.x0) + "px," + Math.round(best.y0) + "px)";
    });
    box.dataset.visible = String(placed.length);
    box.dataset.moved = String(moved);
  }

  function build(gd, map) {
    var t = labelsTrace(gd);
    var box = document.getElementById("wall-labels");
    if (!box) { return; }
    var sig = t ? (t.text || []).join("|") : "";
    if (map === state.map && sig === state.sig) { return; }
    if (map !== state.map) {
      map.on("move", place);
      map.on("resize", place);
      map.on("error", function (e) { console.warn("maplibre:", e && e.error && e.error.message, e && e.error && String(e.error.stack).slice(0, 1500)); });
    }
    state.map = map;
    state.sig = sig;
    box.innerHTML = "";
    state.els = [];
    if (!t) { box.dataset.count = "0"; return; }
    var lon = t.lon, lat = t.lat, text = t.text || [], kind = t.customdata || [];
    var order = [];
    for (var j = 0; j < text.length; j++) { order.push(j); }
    order.sort(function (a, b) { return (kind[a] === "street") - (kind[b] === "street"); });
    for (var oi = 0; oi < order.length; oi++) {
      var i = order[oi];
      var el = document.createElement("div");
      el.className = "map-label " + (kind[i] === "street" ? "street" : "town");
      el.textContent = text[i];
      box.appendChild(el);
      state.els.push({el: el, lon: +lon[i], lat: +lat[i]});
    }
    box.dataset.count = String(text.length);
    place();
  }

  function poll() {
    var gd = graphDiv();
    var fl = gd && gd._fullLayout;
    var sub = fl && fl.map && fl.map._subplot;
    var map = sub && sub.map;
    if (map) {
      var tl = window.__omTimeline = window.__omTimeline || {};
      if (!tl.map) { tl.map = performance.now(); }
      if (!tl.figure && (gd.data || []).length > 1) { tl.figure = performance.now(); }
      build(gd, map);
      if (!window.__omFirstPaint && (gd.data || []).length > 1 && map.loaded() && !map.isMoving()) {
        window.__omFirstPaint = performance.now();
        document.body.dataset.mapReady = "1";
        // the charts wait for this: they would compete with the map's first paint
        if (window.dash_clientside && window.dash_clientside.set_props) {
          window.dash_clientside.set_props("wall-ready", {data: Math.round(window.__omFirstPaint)});
        }
      }
    }
  }
  // --- the ticker shows whole items only (issue 21: never "井下水位距井…"): a line that does not
  // fit entirely in the panel is hidden, with every line after it -----------------------------
  function fitTicker() {
    var box = document.getElementById("wall-ticker");
    if (!box) { return; }
    var lines = box.children, i;
    for (i = 0; i < lines.length; i++) { lines[i].style.display = ""; }
    var cs = getComputedStyle(box);
    var bottom = box.getBoundingClientRect().bottom - parseFloat(cs.borderBottomWidth || 0) -
      parseFloat(cs.paddingBottom || 0) + 0.5;
    var full = false, shown = 0;
    for (i = 0; i < lines.length; i++) {
      if (!full && lines[i].getBoundingClientRect().bottom > bottom) { full = true; }
      if (full) { lines[i].style.display = "none"; } else { shown += 1; }
    }
    box.dataset.shown = String(shown);
  }
  var tickerSeen = null;
  function watchTicker() {
    var box = document.getElementById("wall-ticker");
    if (!box || box === tickerSeen || !window.MutationObserver) { return; }
    tickerSeen = box;
    new MutationObserver(fitTicker).observe(box, {childList: true, subtree: true, characterData: true});
    fitTicker();
  }

  // --- a resized wall (another display mode) is laid out again for its new size: the map's
  // view, the dots and the charts' type follow the height (render reads wall-screen) ----------
  var resized = null;
  function onResize() {
    setTimeout(place, 50);
    fitTicker();
    clearTimeout(resized);
    resized = setTimeout(function () {
      fitTicker();
      if (window.dash_clientside && window.dash_clientside.set_props) {
        window.__omRelaid = (window.__omRelaid || 0) + 1;
        window.dash_clientside.set_props("wall-screen", {data: screen()});
      }
    }, 400);
  }

  // --- a wall whose login ended (kiosk session over, token rotated) reloads once: the server
  // then shows its full-screen message instead of a stale picture (app.auth KIOSK_INVALID) ---
  var fetch0 = window.fetch;
  window.fetch = function (url) {
    return fetch0.apply(this, arguments).then(function (resp) {
      if (resp.status === 401 && String(url).indexOf("_dash-update-component") >= 0 &&
          !window.__omGone) {
        window.__omGone = true;
        setTimeout(function () { window.location.reload(); }, 1000);
      }
      return resp;
    });
  };

  setInterval(function () { poll(); watchTicker(); }, 100);
  window.addEventListener("resize", onResize);
})();
