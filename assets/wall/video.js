/* 现场视频 on the wall (issue 23; M3): the tiles of the video area (#wall-video), from what the
 * server says it shows (wall-video-data: app/screens/wall/video.py). A clientside callback
 * (namespace "wallvideo") reconciles the tiles: a camera still shown keeps its player (no
 * restart on a re-read), a camera no longer shown is stopped, a new one starts. Each tile plays
 * muted through OneMap's one player (OneMapVideo, /static/video/player.js, a page script:
 * app.config.VIDEO_PLAYER_JS; it loads mpegts.js on first use), asks its grant at POST /wall/video/play, shows the state's word alone
 * (brief: 离线, 视频通道已满 …, read from metres away) and retries with a backoff until the
 * camera is back. Labels: the camera's name, 可视/最近/上墙, the town.
 * Each tile carries data-camera and data-state (connecting/live/offline/…) for tests.
 */
(function () {
  "use strict";
  var ENDPOINT = "/wall/video/play";
  var tiles = {};           // camera id → {el, video, state, meta, player}

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (text !== undefined) { e.textContent = text; }
    return e;
  }

  function makeTile(t) {
    var box = el("div", "wv-tile");
    box.dataset.camera = t.id;
    box.dataset.state = "connecting";
    var v = el("video", "wv-video");
    v.muted = true;
    v.autoplay = true;
    v.playsInline = true;
    v.setAttribute("muted", "");
    var state = el("div", "wv-state", "连接中");
    var name = el("div", "wv-name");
    var meta = el("div", "wv-meta");
    var label = el("div", "wv-label");
    label.appendChild(name);
    label.appendChild(meta);
    box.appendChild(v);
    box.appendChild(state);
    box.appendChild(label);
    return {el: box, video: v, state: state, name: name, meta: meta, player: null};
  }

  function stopTile(id) {
    var t = tiles[id];
    if (!t) { return; }
    if (t.player) { t.player.stop(); }
    if (t.el.parentNode) { t.el.parentNode.removeChild(t.el); }
    delete tiles[id];
  }

  function parts(box) {
    var title = box.querySelector(".wv-title"), grid = box.querySelector(".wv-grid");
    if (!title) { title = el("div", "wv-title"); box.appendChild(title); }
    if (!grid) { grid = el("div", "wv-grid"); box.appendChild(grid); }
    return {title: title, grid: grid};
  }

  function render(data) {
    var box = document.getElementById("wall-video");
    if (!box) { return 0; }
    var list = data && data.on && Array.isArray(data.tiles) ? data.tiles : [];
    var keep = {};
    list.forEach(function (t) { keep[t.id] = true; });
    Object.keys(tiles).forEach(function (id) { if (!keep[id]) { stopTile(id); } });
    if (!list.length) {
      box.className = "wall-video off";
      return 0;
    }
    box.className = "wall-video on " + (data.n > 4 ? "n9" : "n4");
    var p = parts(box);
    p.title.textContent = data.title || "现场视频";
    list.forEach(function (t) {
      var tile = tiles[t.id] || (tiles[t.id] = makeTile(t));
      tile.name.textContent = t.name;
      tile.meta.textContent = [t.kind, t.town].filter(Boolean).join(" · ");
      p.grid.appendChild(tile.el);          // in the server's order (pinned first)
    });
    if (!window.OneMapVideo) { return list.length; }     // its page script did not load
    list.forEach(function (t) {
      var tile = tiles[t.id];
      if (tile.player) { return; }
      tile.player = window.OneMapVideo.play(tile.video, t.id, {
        endpoint: ENDPOINT, "case": data["case"] || "", brief: true,
        onState: function (state, text) {
          tile.el.dataset.state = state;
          tile.state.textContent = state === "live" ? "" : text;
          tile.state.className = "wv-state " + state;
        }
      });
    });
    return list.length;
  }

  window.dash_clientside = Object.assign({}, window.dash_clientside, {wallvideo: {render: render}});
  window.addEventListener("pagehide", function () { Object.keys(tiles).forEach(stopTile); });
})();
