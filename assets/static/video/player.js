/* OneMap's one live video player (issue 23; V1 全时可用, V27 全程可控, M3), for every screen: the
 * 视频调阅自检 page (check.html), the console's case panel (assets/console/video.js), the wall's
 * video area (assets/wall/video.js) and the phone's nearby cameras (assets/mobile/video.js).
 * It asks OneMap for a short-lived playback grant (POST /api/video/play, or the screen's own
 * path: the wall's kiosk and the phone's roles may not call /api/*: /wall/video/play,
 * /m/api/video/play; same policy, quota and 视频调阅 log there), plays the gateway's MPEG-TS
 * stream with mpegts.js (MSE, H.264, no plugin; /static/video/mpegts.js, loaded here on first
 * use when the page has not), muted (so autoplay is allowed). A refused, dropped or stalled
 * stream is retried by itself with a new grant, after 1, 2, 4, 8, 8 … s; the backoff starts
 * over once the picture moves again.
 *
 *   <script src="/static/video/player.js"></script>
 *   const p = OneMapVideo.play(videoEl, "cam-00012", {endpoint: "/wall/video/play", case: "E…",
 *                                                     brief: false, onState: fn});
 *   p.stop();
 *
 * onState(state, text): the state and the Chinese line to show. States: connecting 连接中,
 * live 直播, offline 离线 (retrying), busy 视频路数已达上限 / 视频通道已满 (retrying),
 * forbidden 无权调阅 and refused 无法调阅 (the server said no: asking again will not help),
 * unsupported 浏览器不支持视频播放 / H.265 无法播放. The text carries the server's or the gateway's own
 * reason after the word ("离线：摄像机无响应"); brief: true gives the word alone (the wall, read
 * from metres away). A library's English message is never shown.
 */
(function (global) {
  "use strict";
  var MPEGTS = "/static/video/mpegts.js";
  var BACKOFF_MS = [1000, 2000, 4000, 8000];
  var STALL_MS = 8000;      // no new picture for this long while playing: the stream dropped
  var FIRST_MS = 15000;     // … or no first picture for this long (a cold camera, a busy machine)
  var WATCH_MS = 500;
  var WORDS = {
    connecting: "连接中", live: "直播", offline: "离线", forbidden: "无权调阅", refused: "无法调阅",
    unsupported: "浏览器不支持视频播放"
  };
  // the gateway's stream answers (app/video.py), when its JSON reason cannot be read
  var STREAM = {
    503: ["busy", "视频通道已满"], 415: ["unsupported", "该摄像机为 H.265 编码，浏览器无法直接播放"],
    403: ["offline", "播放地址已失效"], 502: ["offline", "视频源不可用"], 504: ["offline", "视频源无响应"]
  };
  var mpegtsReady = null;

  function csrf() {
    var m = document.cookie.match(/(?:^|;\s*)_csrf_token=([^;]+)/);
    return m ? decodeURIComponent(m[1]) : "";
  }

  function loadMpegts() {
    if (global.mpegts) { return Promise.resolve(global.mpegts); }
    if (!mpegtsReady) {
      mpegtsReady = new Promise(function (ok, fail) {
        var s = document.createElement("script");
        s.src = MPEGTS;
        s.onload = function () { ok(global.mpegts); };
        s.onerror = function () { mpegtsReady = null; fail(new Error("mpegts")); };
        document.head.appendChild(s);
      });
    }
    return mpegtsReady;
  }

  // why the gateway refused a stream URL: its JSON answer to a second, short request (the
  // grant lives token_ttl_s); a stream that now flows is aborted at once
  function gatewayReason(url, status) {
    var ctl = global.AbortController ? new AbortController() : null;
    var known = STREAM[status] ? STREAM[status][1] : "";
    return fetch(url, {credentials: "include", signal: ctl && ctl.signal}).then(function (r) {
      if (r.ok) { if (ctl) { ctl.abort(); } return {status: status, reason: "视频流中断"}; }
      return r.json().then(function (b) { return {status: r.status, reason: b.reason || known}; },
                           function () { return {status: r.status, reason: known}; });
    }).catch(function () { return {status: status, reason: known}; });
  }

  function play(video, camera, opts) {
    opts = opts || {};
    var endpoint = opts.endpoint || "/api/video/play";
    var onState = opts.onState || function () {};
    var st = {player: null, stopped: false, timer: null, watch: null, tries: 0, attempt: 0,
              probing: -1, playing: null};

    function say(state, word, reason) {
      var text = word || WORDS[state] || "";
      if (opts.brief || !reason) { onState(state, text); return; }
      // the reason alone when it already says the word (视频通道已满，请稍后再试…)
      onState(state, reason.indexOf(text) >= 0 ? reason : text + "：" + reason);
    }

    function cleanup() {
      clearInterval(st.watch);
      st.watch = null;
      if (st.playing) { video.removeEventListener("playing", st.playing); st.playing = null; }
      if (st.player) {
        try { st.player.destroy(); } catch (e) { /* already gone */ }
        st.player = null;
      }
    }

    function current(attempt) { return !st.stopped && attempt === st.attempt; }

    // a refusal that asking again will not change: show it, stop trying
    function halt(state, word, reason, attempt) {
      if (!current(attempt)) { return; }
      st.attempt += 1;
      cleanup();
      say(state, word, reason);
    }

    // anything else: show it, try again with a new grant after the backoff
    function again(state, word, reason, attempt) {
      if (!current(attempt)) { return; }   // a stale player's late event
      st.attempt += 1;
      cleanup();
      say(state, word, reason);
      var wait = BACKOFF_MS[Math.min(st.tries, BACKOFF_MS.length - 1)];
      st.tries += 1;
      st.timer = setTimeout(start, wait);
    }

    function streamError(url, detail, info, attempt) {
      var code = info && info.code;
      if (st.probing === attempt) { return; }  // one question to the gateway per attempt
      st.probing = attempt;
      if (detail !== global.mpegts.ErrorDetails.NETWORK_STATUS_CODE_INVALID) {
        again("offline", "", "视频流中断", attempt);
        return;
      }
      gatewayReason(url, code).then(function (why) {
        if (why.status === 503) { again("busy", "视频通道已满", why.reason, attempt); }
        else if (why.status === 415) { halt("unsupported", "H.265 无法播放", why.reason, attempt); }
        else { again("offline", "", why.reason, attempt); }
      });
    }

    function stream(url, attempt) {
      var mpegts = global.mpegts;
      if (!mpegts || !mpegts.isSupported()) { halt("unsupported", "", "", attempt); return; }
      var p = mpegts.createPlayer(
        {type: "mpegts", isLive: true, url: url, withCredentials: true},
        {enableWorker: false, liveBufferLatencyChasing: true, liveBufferLatencyMaxLatency: 1.5,
         liveBufferLatencyMinRemain: 0.3, lazyLoad: false, autoCleanupSourceBuffer: true});
      st.player = p;
      p.on(mpegts.Events.ERROR, function (type, detail, info) {
        if (current(attempt)) { streamError(url, detail, info, attempt); }
      });
      p.on(mpegts.Events.LOADING_COMPLETE, function () {
        again("offline", "", "视频流中断", attempt);
      });
      video.muted = true;                     // muted: the browser lets it autoplay
      p.attachMediaElement(video);
      p.load();
      var pr = p.play();
      if (pr && pr.catch) { pr.catch(function () { /* muted: it plays once data comes */ }); }
      // live = the element plays (its "playing" event, before the time moves on) or the picture
      // advances; a picture that stops advancing is a dropped stream
      var last = -1, moved = Date.now(), live = false;
      function isLive() {
        if (live || !current(attempt)) { return; }
        live = true;
        moved = Date.now();
        st.tries = 0;
        say("live");
      }
      st.playing = isLive;
      video.addEventListener("playing", isLive);
      st.watch = setInterval(function () {
        var t = video.currentTime;
        if (t > last + 0.01) {
          last = t;
          moved = Date.now();
          if (t > 0) { isLive(); }
        } else if (Date.now() - moved > (live ? STALL_MS : FIRST_MS)) {
          again("offline", "", live ? "视频流中断" : "等待画面超时", attempt);
        }
      }, WATCH_MS);
    }

    function start() {
      if (st.stopped) { return; }
      var attempt = st.attempt;
      say("connecting");
      // the player's code first: the grant is short-lived (token_ttl_s)
      loadMpegts().then(function () {
        return fetch(endpoint, {
          method: "POST", credentials: "same-origin",
          headers: {"Content-Type": "application/json", "X-CSRFToken": csrf()},
          body: JSON.stringify({camera: camera, "case": opts["case"] || ""})
        });
      }).then(function (r) {
        return r.json().catch(function () { return {}; })
          .then(function (b) { return {status: r.status, body: b || {}}; });
      }).then(function (res) {
        if (!current(attempt)) { return; }
        var why = res.body.reason || "";
        if (res.status === 401 || res.status === 403) { halt("forbidden", "", why, attempt); }
        else if (res.status === 429) { again("busy", "视频路数已达上限", why, attempt); }
        else if (res.status >= 400 && res.status < 500) { halt("refused", "", why, attempt); }
        else if (res.status !== 200 || !res.body.url) { again("offline", "", why, attempt); }
        else { stream(res.body.url, attempt); }
      }).catch(function () { again("offline", "", "网络错误", attempt); });
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

  global.OneMapVideo = {play: play, BACKOFF_MS: BACKOFF_MS};
})(window);
