/* The case panel's live video (issue 23; app/screens/console/video.py): the best camera that can
 * see the case's spot plays in #video-main, the next four in the 2×2 grid (a click on a tile makes
 * it the main picture). Each picture plays through OneMap's one player (OneMapVideo,
 * /static/video/player.js, a page script: app.config.VIDEO_PLAYER_JS; it loads mpegts.js on
 * first use): the grant from POST
 * /api/video/play (the policy, the quota and the 视频调阅 log are there), muted, the gateway's
 * own words when it refuses (离线：…, 视频通道已满…), a backoff and stall detection. This file
 * keeps only the panel's UI: the slots, their labels, the swap, and the buttons:
 * 截图取证: POST /api/incidents/<id>/video/evidence {camera} (the server grabs the frame).
 * 上墙: POST /api/video/wall/pins {camera_id, pinned: true} (the wall's video area). */
(function () {
  "use strict";
  var SLOTS = 5;                    // the main picture and the 2×2 grid
  var RED = {busy: " offline", unsupported: " offline"};   // video.css colours offline as a refusal
  var cur = {data: null, cams: [], slots: []};

  function csrf() {
    var m = document.cookie.match(/(?:^|;\s*)_csrf_token=([^;]+)/);
    return m ? decodeURIComponent(m[1]) : "";
  }

  function post(url, body) {
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRFToken": csrf()},
      body: JSON.stringify(body)
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (b) {
        return {status: r.status, body: b || {}};
      });
    });
  }

  function el(slot) {
    if (slot === 0) {
      return {video: document.getElementById("video-main"),
              state: document.getElementById("video-state"),
              name: document.getElementById("video-title"),
              pin: document.getElementById("video-wall"),
              tile: null};
    }
    var tile = document.getElementById("video-tile-" + (slot - 1));
    return tile && {video: tile.querySelector("video"), state: tile.querySelector(".vid-state"),
                    name: tile.querySelector(".vid-name"), pin: tile.querySelector(".vid-pin"),
                    tile: tile};
  }

  function say(slot, kind, text) {
    var e = el(slot);
    if (!e || !e.state) { return; }
    e.state.textContent = text;
    e.state.className = "vid-state " + kind + (RED[kind] || "");
  }

  function message(text, ok) {
    var m = document.getElementById("video-msg");
    if (!m) { return; }
    m.textContent = text;
    m.className = "msg " + (ok ? "ok" : "err");
    clearTimeout(message.timer);
    message.timer = setTimeout(function () { m.textContent = ""; }, 8000);
  }

  function stopSlot(s) {
    if (!s) { return; }
    s.stopped = true;
    if (s.player) { s.player.stop(); s.player = null; }
  }

  function startSlot(slot, cam) {
    stopSlot(cur.slots[slot]);
    var s = {camera: cam.id, player: null, stopped: false};
    cur.slots[slot] = s;
    var e = el(slot);
    if (!e || !e.video) { return; }
    say(slot, "connecting", "连接中");
    if (!window.OneMapVideo) {      // its page script did not load
      say(slot, "offline", "播放器加载失败，请检查网络后重新打开事件");
      return;
    }
    s.player = window.OneMapVideo.play(e.video, cam.id, {
      "case": (cur.data && cur.data["case"]) || "",
      onState: function (kind, text) { if (!s.stopped) { say(slot, kind, text); } }
    });
  }

  function label(slot, cam) {
    var e = el(slot);
    if (!e) { return; }
    var dist = Math.round(cam.distance_m) + " m";
    if (slot === 0) {
      e.name.textContent = cam.label + " · " + cam.name + " · " + dist;
      e.name.className = "vid-title" + (cam.seeing ? "" : " near");
    } else {
      e.name.textContent = (cam.seeing ? "" : "最近 · ") + cam.name + " · " + dist;
      e.name.title = cam.label + " · " + cam.name;
      e.tile.hidden = false;
    }
    if (e.pin) { e.pin.hidden = !(cur.data && cur.data.wall); }
  }

  function render() {
    for (var k = 0; k < SLOTS; k++) {
      var cam = cur.cams[k];
      if (cam) { label(k, cam); } else {
        stopSlot(cur.slots[k]);
        cur.slots[k] = null;
        var e = el(k);
        if (e && e.tile) { e.tile.hidden = true; }
      }
    }
  }

  function show(data) {
    var same = data && cur.data && cur.data["case"] === data["case"] &&
      JSON.stringify(data.cameras) === JSON.stringify(cur.data.cameras);
    if (same) { return window.dash_clientside.no_update; }
    for (var k = 0; k < SLOTS; k++) { stopSlot(cur.slots[k]); }
    cur = {data: data, cams: data ? data.cameras.slice(0, SLOTS) : [], slots: []};
    render();
    if (data && data.gateway === false) {        // no gateway: no player, no failed request
      cur.cams.forEach(function (cam, i) { say(i, "offline", "视频网关未运行，暂不能播放"); });
      return window.dash_clientside.no_update;
    }
    cur.cams.forEach(function (cam, i) { startSlot(i, cam); });
    return window.dash_clientside.no_update;
  }

  // a tile's picture becomes the main one (the main one takes the tile's place)
  function swap(slot) {
    var a = cur.cams[0], b = cur.cams[slot];
    if (!a || !b || (cur.data && cur.data.gateway === false)) { return; }
    cur.cams[0] = b;
    cur.cams[slot] = a;
    render();
    startSlot(0, b);
    startSlot(slot, a);
  }

  function evidence(btn) {
    var cam = cur.cams[0];
    if (!cam || !cur.data) { return; }
    btn.disabled = true;
    message("截图中…（" + cam.name + "）", true);
    post("/api/incidents/" + encodeURIComponent(cur.data["case"]) + "/video/evidence", {camera: cam.id})
      .then(function (res) {
        if (res.status === 200) {
          message("✓ 已截图取证：" + cam.name + "，已附到事件（记入审计）", true);
          if (window.dash_clientside && window.dash_clientside.set_props) {
            window.dash_clientside.set_props("rev", {data: Date.now()});   // the panel re-reads
          }
        } else {
          message("✗ 截图取证失败：" + (res.body.reason || res.status), false);
        }
      }).catch(function () { message("✗ 截图取证失败：网络错误", false); })
      .then(function () { btn.disabled = false; });
  }

  function pin(slot) {
    var cam = cur.cams[slot];
    if (!cam) { return; }
    post("/api/video/wall/pins", {camera_id: cam.id, pinned: true}).then(function (res) {
      if (res.status >= 200 && res.status < 300) { message("✓ 已上墙：" + cam.name, true); }
      else if (res.status === 404) { message("✗ 上墙失败：大屏视频区尚未启用", false); }
      else { message("✗ 上墙失败：" + (res.body.reason || res.status), false); }
    }).catch(function () { message("✗ 上墙失败：网络错误", false); });
  }

  document.addEventListener("click", function (ev) {
    var t = ev.target;
    if (!t || !t.closest) { return; }
    var b = t.closest("#video-box .vid-pin");
    if (b) { pin(Number(b.getAttribute("data-slot") || 0)); return; }
    if (t.closest("#video-evidence")) { evidence(t.closest("#video-evidence")); return; }
    var v = t.closest("#video-grid video");
    if (v) { swap(Number(v.getAttribute("data-slot"))); }
  });

  window.dash_clientside = window.dash_clientside || {};
  window.dash_clientside.onemapVideo = {show: show};
  window.onemapConsoleVideo = {state: function () { return cur; }};   // tests, debugging
})();
