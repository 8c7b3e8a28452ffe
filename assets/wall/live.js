/* OneMap wall: changes by push (issue 15). One EventSource on /events; each `change` (alarms,
 * incident changes, the emergency switch) sets the `wall-push` store, and the wall's live
 * callback reads what came after its cursor (a small delta, as before). `wall-poll` is the
 * 30 s safety net. A server without push (204) closes the stream: the wall then polls every
 * 500 ms as before. State: window.__omLive. */
(function () {
  "use strict";
  var STORE = "wall-push", POLL = "wall-poll", WATCH = "wall-map";
  var PUSHED_MS = 30000, POLL_MS = 500;   // app.live.FALLBACK_POLL_MS; wall.TICK_MS
  var live = (window.__omLive = {state: "starting", events: 0, last: null});

  function setProps(id, props) {
    try { window.dash_clientside.set_props(id, props); } catch (e) { /* page not ready */ }
  }
  function unpushed() { live.state = "off"; setProps(POLL, {interval: POLL_MS}); }

  function start() {
    if (!window.EventSource) { unpushed(); return; }
    var es = new EventSource("/events?screen=wall");
    live.state = "connecting";
    es.addEventListener("hello", function () {
      live.state = "open";
      setProps(POLL, {interval: PUSHED_MS});
    });
    es.addEventListener("change", function (ev) {
      live.events += 1;
      live.last = ev.lastEventId;
      setProps(STORE, {data: ev.lastEventId + "#" + live.events});
    });
    es.onerror = function () {
      if (es.readyState === EventSource.CLOSED) { unpushed(); } else { live.state = "reconnecting"; }
    };
    live.source = es;
  }

  var waited = setInterval(function () {
    if (window.dash_clientside && window.dash_clientside.set_props && document.getElementById(WATCH)) {
      clearInterval(waited);
      start();
    }
  }, 100);
})();
