/* OneMap console: changes by push (issue 15). The page holds one EventSource on /events; the
 * server names the cases of this console's scope that changed, and the page re-reads (sets the
 * `feed-last` store, which the queue and panel callbacks listen to) only then: the store gets
 * {f: feed id, ids: the cases named in the last WINDOW_MS, more, n: changes so far}, and the
 * queue re-reads only those cases (app/screens/console/model.py, pushed_ids/patch_queue; a
 * re-read Dash dropped for a newer one loses nothing: the ids come again). The `tick`
 * interval stays as a slow safety net (30 s). A server without push (a WSGI-only dev server
 * answers 204) closes the stream for good: the console then polls every 400 ms as before.
 * Reconnects after a drop are the browser's own, with Last-Event-ID (the server sends what
 * this console missed). State for tests and the curious: window.__omLive. */
(function () {
  "use strict";
  var SCREEN = "console", STORE = "feed-last", TICK = "tick", SLOW = "slow", WATCH = "queue";
  var PUSHED_MS = 30000, POLL_MS = 400, SLOW_MS = 5000;   // app.live.FALLBACK_POLL_MS; as before
  var WINDOW_MS = 3000;     // the ids of this long are named again with each change
  var live = (window.__omLive = {state: "starting", events: 0, last: null});
  var recent = [];           // [{t, ids, more}] of the last WINDOW_MS

  function named(d) {
    var now = Date.now(), ids = [], have = {}, more = false;
    recent.push({t: now, ids: d.ids || [], more: !!(d.more || d.em)});
    while (recent.length && now - recent[0].t > WINDOW_MS) { recent.shift(); }
    recent.forEach(function (r) {
      more = more || r.more;
      r.ids.forEach(function (i) { if (!have[i]) { have[i] = 1; ids.push(i); } });
    });
    return {f: d.f, ids: ids, more: more, n: live.events};
  }

  function setProps(id, props) {
    try { window.dash_clientside.set_props(id, props); } catch (e) { /* page not ready */ }
  }

  function unpushed() {
    live.state = "off";
    setProps(TICK, {interval: POLL_MS});
    setProps(SLOW, {interval: SLOW_MS});
  }

  function start() {
    if (!window.EventSource) { unpushed(); return; }
    var es = new EventSource("/events?screen=" + SCREEN);
    live.state = "connecting";
    es.addEventListener("hello", function () {
      live.state = "open";
      setProps(TICK, {interval: PUSHED_MS});
    });
    es.addEventListener("change", function (ev) {
      var d = JSON.parse(ev.data);
      live.events += 1;
      live.last = d;
      setProps(STORE, {data: named(d)});
      if (d.em) { live.em = (live.em || 1000000) + 1; setProps(SLOW, {n_intervals: live.em}); }  // banner
    });
    es.onerror = function () {
      if (es.readyState === EventSource.CLOSED) {   // refused or no push here: poll as before
        unpushed();
      } else {
        live.state = "reconnecting";                 // the browser retries; the slow poll covers
      }
    };
    live.source = es;
  }

  // start once the console (not the login hint) is on the page and Dash can take props
  var waited = setInterval(function () {
    if (window.dash_clientside && window.dash_clientside.set_props && document.getElementById(WATCH)) {
      clearInterval(waited);
      start();
    }
  }, 100);
})();
