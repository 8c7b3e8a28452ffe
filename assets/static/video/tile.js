/* A video tile's player (issue 23): the wall's video area (assets/wall/video.js) and the phone's
 * nearby cameras (assets/mobile/video.js). Like player.js, but the grant comes from the
 * screen's own path (the wall's kiosk and the phone's roles may not call /api/*: POST
 * /wall/video/play, POST /m/api/video/play; same policy, quota and audit), the state words are
 * fixed Chinese (a wall is read from metres away: never a library's English message), and a
 * dropped camera is retried with a backoff (1, 2, 4, 8 s …) until it plays again.
 *
 *   const t = OneMapTile.play(videoEl, "cam-00012", {endpoint: "/wall/video/play", case: "E…",
 *                                                    onState: function (state, text) {}});
 *   t.stop();
 * States: connecting 连接中, live 直播, offline 离线 (retrying), forbidden 无权调阅 (no retry),
 * busy 调阅路数已达上限 / 视频通道已满 (retrying), unsupported 浏览器不支持视频播放.
 */
(function (global) {
  "use strict";
  var BACKOFF_MS = [1000, 2000, 4000, 8000];
  var STALL_MS = 8000;      // no new picture for this long while playing: the stream dropped
  var FIRST_MS = 15000;     // … or no first picture for this long (a cold camera, a busy machine)
  var WATCH_MS = 500;

  function csrf() {
    var m = document.cookie.match(/(?:^|;\s*)_csrf_token=([^;]+)/);
    return m ? decodeURIComponent(m[1]) : "";
  }

  function play(video, camera, opts) {
    opts = opts || {};
    var endpoint = opts.endpoint || "/api/video/play";
    var say = opts.onState || function () {};
    var st = {player: null, stopped: false, timer: null, watch: null, tries: 0, attempt: 0};

    function cleanup() {
      clearInterval(st.watch);
      st.watch = null;
      if (st.player) {
        try { st.player.destroy(); } catch (e) { /* already gone */ }
        st.player = null;
      }
    }

    function again(state, text, attempt) {
      if (st.stopped || attempt !== st.attempt) { return; }   // a stale player's late event
      st.attempt += 1;
      cleanup();
      say(state, text);
      var wait = BACKOFF_MS[Math.min(st.tries, BACKOFF_MS.length - 1)];
      st.tries += 1;
      st.timer = setTimeout(start, wait);
    }

    function start() {
      if (st.stopped) { return; }
      var attempt = st.attempt;
      say("connecting", "连接中");
      fetch(endpoint, {
        method: "POST", credentials: "same-origin",
        headers: {"Content-Type": "application/json", "X-CSRFToken": csrf()},
        body: JSON.stringify({camera: camera, "case": opts["case"] || ""})
      }).then(function (r) {
        return r.json().catch(function () { return {}; })
          .then(function (b) { return {status: r.status, body: b}; });
      }).then(function (res) {
        if (st.stopped || attempt !== st.attempt) { return; }
        if (res.status === 401 || res.status === 403) {
          say("forbidden", "无权调阅");          // the policy said no: asking again will not help
          return;
        }
        if (res.status === 429) { again("busy", "调阅路数已达上限", attempt); return; }
        if (res.status !== 200 || !res.body.url) { again("offline", "离线", attempt); return; }
        if (!global.mpegts || !global.mpegts.isSupported()) {
          say("unsupported", "浏览器不支持视频播放");
          return;
        }
        var p = global.mpegts.createPlayer(
          {type: "mpegts", isLive: true, url: res.body.url, withCredentials: true},
          {enableWorker: false, liveBufferLatencyChasing: true, liveBufferLatencyMaxLatency: 1.5,
           liveBufferLatencyMinRemain: 0.3, lazyLoad: false, autoCleanupSourceBuffer: true});
        st.player = p;
        p.on(global.mpegts.Events.ERROR, function () { again("offline", "离线", attempt); });
        p.on(global.mpegts.Events.LOADING_COMPLETE, function () { again("offline", "离线", attempt); });
        video.muted = true;
        p.attachMediaElement(video);
        p.load();
        var pr = p.play();
        if (pr && pr.catch) { pr.catch(function () { /* muted: it plays once data comes */ }); }
        // live = the picture advances; a picture that stops advancing is a dropped stream
        var last = -1, moved = Date.now(), live = false;
        st.watch = setInterval(function () {
          var t = video.currentTime;
          if (t > last + 0.01) {
            last = t;
            moved = Date.now();
            if (!live && t > 0) {
              live = true;
              st.tries = 0;
              say("live", "直播");
            }
          } else if (Date.now() - moved > (live ? STALL_MS : FIRST_MS)) {
            again("offline", "离线", attempt);
          }
        }, WATCH_MS);
      }).catch(function () { again("offline", "离线", attempt); });
    }

    start();
    return {
      stop: function () {
        st.stopped = true;
        clearTimeout(st.timer);
        cleanup();
        try { video.removeAttribute("src"); video.load(); } catch (e) { /* detached */ }
      }
    };
  }

  global.OneMapTile = {play: play, BACKOFF_MS: BACKOFF_MS};
})(window);
