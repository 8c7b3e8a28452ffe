/* 附近视频 on the phone (issue 23; T25 看得见, V27 全程可控): a responder on a task or a grid
 * worker in their cell opens the cameras near them that they may watch (the server's policy:
 * GET /m/api/video/nearby), with the data-saving notice (流量提示: "视频将消耗流量，约 X MB/分钟").
 * Nothing plays until a camera is tapped; one camera at a time; playback stops when the panel
 * is closed, the page is hidden or left. OneMap's one player (/static/video/player.js, which
 * loads mpegts.js: ~200 KB) is fetched only at the first tap, never with the page. Grants: POST
 * /m/api/video/play; the state line carries the server's reason (离线：…, 视频通道已满…).
 * Self-contained: a header button (#video-open) and a full-screen panel (#video-panel).
 */
(function () {
  "use strict";
  const SCRIPTS = ["/static/video/player.js"];
  const WHERE_MS = 10000;   // a position not given by then: the worker's cell (boot.fallback)
  const OM = window.OM || {};
  if (!OM.ui) return;
  const {el} = OM.ui;     // the page's one element builder (app.js)
  const $ = (sel, root) => (root || document).querySelector(sel);
  let loading = null;
  let current = null;       // {player, id}

  function load() {
    if (loading) return loading;
    loading = SCRIPTS.reduce((p, src) => p.then(() => new Promise((ok, bad) => {
      const s = document.createElement("script");
      s.src = src; s.onload = ok; s.onerror = bad;
      document.head.appendChild(s);
    })), Promise.resolve());
    loading.catch(() => { loading = null; });
    return loading;
  }

  function stop() {
    if (current) { current.player.stop(); current = null; }
    document.querySelectorAll("#video-list .vcam.playing").forEach((li) => {
      li.classList.remove("playing");
      const box = $(".vplayer", li);
      if (box) box.remove();
      const b = $("button", li);
      if (b) b.textContent = "播放";
    });
  }

  function where() {
    const boot = (window.OM && window.OM.boot) || JSON.parse($("#boot").textContent);
    const fallback = {lon: boot.fallback[0], lat: boot.fallback[1], gps: false};
    if (!navigator.geolocation) return Promise.resolve(fallback);
    return new Promise((ok) => {
      // our own deadline too: the option's timeout starts only once the permission is given, so
      // a prompt left open (or a location service that never answers: measured in headless
      // Chromium under load) kept the panel at 正在定位… for good; the cell stands in then
      const guard = setTimeout(() => ok(fallback), WHERE_MS);
      navigator.geolocation.getCurrentPosition(
        (p) => { clearTimeout(guard); ok({lon: p.coords.longitude, lat: p.coords.latitude, gps: true}); },
        () => { clearTimeout(guard); ok(fallback); },
        {enableHighAccuracy: true, timeout: 8000, maximumAge: 60000});
    });
  }

  function play(li, cam) {
    const was = current && current.id === cam.id;
    stop();
    if (was) return;                                  // a second tap stops it
    li.classList.add("playing");
    $("button", li).textContent = "停止";
    const video = el("video", {class: "vvideo", muted: "", playsinline: "", autoplay: ""});
    video.muted = true;
    const state = el("div", {class: "vstate"}, "连接中");
    li.append(el("div", {class: "vplayer"}, video, state));
    load().then(() => {
      if (!li.classList.contains("playing")) return;  // stopped while the player loaded
      current = {id: cam.id, player: window.OneMapVideo.play(video, cam.id, {
        endpoint: "/m/api/video/play",
        onState: (s, text) => { state.textContent = s === "live" ? "直播" : text; state.dataset.state = s; }
      })};
    }).catch(() => { state.textContent = "播放器加载失败，请检查网络"; });
  }

  function render(list, data) {
    $("#video-notice").textContent = data.notice || "";
    if (!data.video) {
      list.replaceChildren(el("li", {class: "meta"}, "视频服务未启用"));
      return;
    }
    if (!data.cameras.length) {
      list.replaceChildren(el("li", {class: "meta"},
        "附近 " + Math.round(data.radius_m) + " 米内没有可调阅的摄像机"));
      return;
    }
    list.replaceChildren(...data.cameras.map((c) => {
      const li = el("li", {class: "card vcam", "data-camera": c.id},
        el("div", {class: "vrow"},
          el("div", {class: "vtext"}, el("div", {class: "title"}, c.name),
             el("div", {class: "meta"}, (c.town ? c.town + " · " : "") + "约 " +
                Math.round(c.distance_m) + " 米")),
          el("button", {type: "button", class: "primary"}, "播放")));
      $("button", li).addEventListener("click", () => play(li, c));
      return li;
    }));
  }

  function open() {
    const panel = $("#video-panel");
    panel.hidden = false;
    const list = $("#video-list");
    list.replaceChildren(el("li", {class: "meta"}, "正在定位…"));
    where().then((p) => {
      $("#video-where").textContent = p.gps ? "按当前位置" : "未能定位，按所在网格";
      return fetch("/m/api/video/nearby?lat=" + p.lat + "&lon=" + p.lon,
                   {credentials: "same-origin", headers: {"Accept": "application/json"}});
    }).then((r) => r.json().catch(() => ({})).then((b) => ({status: r.status, body: b || {}})))
      .then((res) => {
        // only the server's own Chinese reason is shown, never a library's English message
        // (a proxy's HTML error page, "Failed to fetch"); an expired login says so
        if (res.status === 401) throw {reason: "登录已过期，请重新登录"};
        if (res.status !== 200 || !Array.isArray(res.body.cameras)) {
          throw {reason: res.body.reason || "无法获取附近视频"};
        }
        render(list, res.body);
      }).catch((e) => {
        list.replaceChildren(el("li", {class: "meta"}, navigator.onLine
          ? String((e && e.reason) || "无法获取附近视频，请稍后再试") : "离线：联网后可查看附近视频"));
      });
  }

  function close() {
    stop();
    $("#video-panel").hidden = true;
  }

  function mount() {
    if ($("#video-open")) return;
    document.head.append(el("link", {rel: "stylesheet", href: "/m/assets/video.css"}));
    const btn = el("button", {type: "button", id: "video-open", class: "vopen"}, "附近视频");
    btn.addEventListener("click", open);
    const logout = $("#logout");
    if (logout) logout.before(btn); else $("header").append(btn);
    const panel = el("section", {id: "video-panel", class: "vpanel", hidden: ""},
      el("div", {class: "vhead"}, el("h2", {}, "附近视频"),
         el("button", {type: "button", id: "video-close"}, "关闭")),
      el("p", {id: "video-notice", class: "vnotice"}),
      el("p", {id: "video-where", class: "meta"}),
      el("ul", {id: "video-list"}));
    document.body.append(panel);
    $("#video-close").addEventListener("click", close);
    // stop when leaving: the page hidden (another app, the screen off) or left
    document.addEventListener("visibilitychange", () => { if (document.hidden) stop(); });
    window.addEventListener("pagehide", stop);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", mount);
  else mount();
})();
