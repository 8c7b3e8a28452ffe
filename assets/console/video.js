/* The case panel's live video (issue 23; app/screens/console/video.py): the best camera that can
 * see the case's spot plays in #video-main, the next four in the 2×2 grid (a click on a tile makes
 * it the main picture). Each picture asks OneMap for a short-lived, session-bound playback URL
 * (POST /api/video/play: the policy, the quota and the 视频调阅 log are there) and plays the
 * gateway's MPEG-TS stream with mpegts.js (/static/video/mpegts.js, loaded on first use), muted.
 * A refusal or a dropped camera shows the gateway's own words in Chinese (离线：…, 视频通道已满…)
 * and the picture retries by itself with a new URL.
 * 截图取证: POST /api/incidents/<id>/video/evidence {camera} (the server grabs the frame).
 * 上墙: POST /api/video/wall/pins {camera_id, pinned: true} (the wall's video area). */
(function () {
  "use strict";
  var RETRY_MS = 3000;
  var SLOTS = 5;                    // the main picture and the 2×2 grid
  var STATUS_WORDS = {              // when the gateway's answer cannot be read
    503: "视频通道已满，请稍后再试或关闭其他画面", 504: "离线", 502: "离线", 415: "该摄像机为 H.265 编码，浏览器无法直接播放",
    403: "无权调阅或播放地址已失效", 429: "同时调阅的视频路数已达上限"
  };
  var cur = {data: null, cams: [], slots: []};
  var mpegtsReady = null;

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

  function loadMpegts() {
    if (window.mpegts) { return Promise.resolve(window.mpegts); }
    if (!mpegtsReady) {
      mpegtsReady = new Promise(function (ok, fail) {
        var s = document.createElement("script");
        s.src = "/static/video/mpegts.js";
        s.onload = function () { ok(window.mpegts); };
        s.onerror = function () { mpegtsReady = null; fail(new Error("mpegts")); };
        document.head.appendChild(s);
      });
    }
    return mpegtsReady;
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
    if (e && e.state) { e.state.textContent = text; e.state.className = "vid-state " + kind; }
  }

  function message(text, ok) {
    var m = document.getElementById("video-msg");
    if (!m) { return; }
    m.textContent = text;
    m.className = "msg " + (ok ? "ok" : "err");
    clearTimeout(message.timer);
    message.timer = setTimeout(function () { m.textContent = ""; }, 8000);
  }

  // why the gateway refused a stream URL: its JSON answer (a second, short request)
  function gatewayReason(url, status) {
    var ctl = window.AbortController ? new AbortController() : null;
    return fetch(url, {credentials: "include", signal: ctl && ctl.signal}).then(function (r) {
      if (r.ok) { if (ctl) { ctl.abort(); } return "视频流中断"; }
      return r.json().then(function (b) { return b.reason || STATUS_WORDS[r.status] || "离线"; },
                           function () { return STATUS_WORDS[r.status] || "离线"; });
    }).catch(function () { return STATUS_WORDS[status] || "网络错误"; });
  }

  function stopSlot(s) {
    if (!s) { return; }
    s.stopped = true;
    clearTimeout(s.timer);
    if (s.player) { try { s.player.destroy(); } catch (e) { /* gone */ } s.player = null; }
  }

  function startSlot(slot, cam) {
    stopSlot(cur.slots[slot]);
    var s = {camera: cam.id, player: null, timer: null, stopped: false};
    cur.slots[slot] = s;
    var e = el(slot);
    if (!e || !e.video) { return; }
    var caseId = (cur.data && cur.data["case"]) || "";

    function retry(text, ms) {
      say(slot, "offline", text);
      if (s.player) { try { s.player.destroy(); } catch (x) { /* gone */ } s.player = null; }
      if (!s.stopped) { s.timer = setTimeout(start, ms || RETRY_MS); }
    }

    function start() {
      if (s.stopped) { return; }
      say(slot, "connecting", "连接中");
      // the player's code first: the grant is short-lived (token_ttl_s)
      loadMpegts().then(function () {
        return post("/api/video/play", {camera: cam.id, "case": caseId});
      }).then(function (res) {
        if (s.stopped) { return null; }
        if (res.status !== 200) {
          var why = res.body.reason || STATUS_WORDS[res.status] || "无法调阅";
          if (res.status >= 500 || res.status === 429) { retry(why, RETRY_MS * 3); }
          else { say(slot, res.status === 403 ? "forbidden" : "refused", why); }
          return null;
        }
        return loadMpegts().then(function (mpegts) {
          if (s.stopped) { return; }
          if (!mpegts || !mpegts.isSupported()) { say(slot, "unsupported", "浏览器不支持视频播放"); return; }
          var url = res.body.url;
          var p = mpegts.createPlayer(
            {type: "mpegts", isLive: true, url: url, withCredentials: true},
            {enableWorker: false, liveBufferLatencyChasing: true, liveBufferLatencyMaxLatency: 1.5,
             liveBufferLatencyMinRemain: 0.3, lazyLoad: false, autoCleanupSourceBuffer: true});
          s.player = p;
          p.on(mpegts.Events.ERROR, function (type, detail, info) {
            if (s.stopped || s.player !== p) { return; }
            var code = info && info.code;
            if (detail === mpegts.ErrorDetails.NETWORK_STATUS_CODE_INVALID) {
              say(slot, "offline", "离线");
              gatewayReason(url, code).then(function (why) {
                if (s.stopped || s.player !== p) { return; }
                var full = code === 503 || why.indexOf("通道已满") >= 0;
                retry(full || why.indexOf("离线") === 0 ? why : "离线：" + why,
                      full ? RETRY_MS * 3 : RETRY_MS);
              });
            } else {
              retry("离线：" + (info && info.msg ? info.msg : "视频流中断"));
            }
          });
          p.on(mpegts.Events.LOADING_COMPLETE, function () {
            if (!s.stopped && s.player === p) { retry("离线：视频流中断"); }
          });
          e.video.muted = true;
          p.attachMediaElement(e.video);
          p.load();
          var pr = p.play();
          if (pr && pr.catch) { pr.catch(function () { /* muted autoplay: plays anyway */ }); }
          e.video.addEventListener("playing", function once() {
            e.video.removeEventListener("playing", once);
            if (!s.stopped && s.player === p) { say(slot, "live", "直播"); }
          });
        });
      }).catch(function () { retry("离线：网络错误"); });
    }
    start();
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
