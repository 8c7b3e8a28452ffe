/* OneMap live video player (issue 23): asks OneMap for a short-lived playback URL of a camera
 * (POST /api/video/play: the policy decides, the view is audited) and plays the gateway's
 * MPEG-TS stream with mpegts.js (MSE, H.264, no plugin). A dropped or offline camera shows
 * "离线" with the reason, and the player retries by itself (a new URL each time).
 *
 *   <script src="/static/video/mpegts.js"></script><script src="/static/video/player.js"></script>
 *   const p = OneMapVideo.play(videoElement, "cam-00012", {case: "E2026…", onState: fn});
 *   p.stop();
 */
(function (global) {
  "use strict";
  var RETRY_MS = 3000;

  function csrf() {
    var m = document.cookie.match(/(?:^|;\s*)_csrf_token=([^;]+)/);
    return m ? decodeURIComponent(m[1]) : "";
  }

  function play(video, camera, opts) {
    opts = opts || {};
    var state = {player: null, stopped: false, timer: null};
    var say = opts.onState || function () {};

    function retry(reason) {
      say("offline", reason || "离线");
      if (state.player) { try { state.player.destroy(); } catch (e) { /* gone */ } }
      state.player = null;
      if (!state.stopped) { state.timer = setTimeout(start, RETRY_MS); }
    }

    function start() {
      if (state.stopped) { return; }
      say("connecting", "连接中");
      fetch("/api/video/play", {
        method: "POST", credentials: "same-origin",
        headers: {"Content-Type": "application/json", "X-CSRFToken": csrf()},
        body: JSON.stringify({camera: camera, "case": opts["case"] || ""})
      }).then(function (r) {
        return r.json().then(function (b) { return {status: r.status, body: b}; });
      }).then(function (res) {
        if (res.status !== 200) {
          say(res.status === 403 ? "forbidden" : "refused", res.body.reason || "无法调阅");
          if (res.status >= 500) { state.timer = setTimeout(start, RETRY_MS * 3); }
          return;
        }
        if (!global.mpegts || !global.mpegts.isSupported()) {
          say("unsupported", "浏览器不支持视频播放");
          return;
        }
        var p = global.mpegts.createPlayer(
          {type: "mpegts", isLive: true, url: res.body.url, withCredentials: true},
          {enableWorker: false, liveBufferLatencyChasing: true, liveBufferLatencyMaxLatency: 1.5,
           liveBufferLatencyMinRemain: 0.3, lazyLoad: false, autoCleanupSourceBuffer: true});
        state.player = p;
        p.on(global.mpegts.Events.ERROR, function (type, detail, info) {
          retry("离线" + (info && info.msg ? "：" + info.msg : ""));
        });
        p.on(global.mpegts.Events.LOADING_COMPLETE, function () { retry("离线：视频流中断"); });
        p.attachMediaElement(video);
        p.load();
        video.muted = true;
        var pr = p.play();
        if (pr && pr.catch) { pr.catch(function () { /* autoplay: muted, so it plays */ }); }
        video.addEventListener("playing", function once() {
          video.removeEventListener("playing", once);
          say("live", "直播");
        });
      }).catch(function () { retry("离线：网络错误"); });
    }

    start();
    return {
      stop: function () {
        state.stopped = true;
        clearTimeout(state.timer);
        if (state.player) { state.player.destroy(); state.player = null; }
      }
    };
  }

  global.OneMapVideo = {play: play};
})(window);
