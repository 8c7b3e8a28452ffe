/* OneMap wall: changes by push (issue 15). One EventSource on /events; each `change` (alarms,
 * incident changes, the emergency switch) asks for a tick: this script sets the `wall-push`
 * store, and the wall's live callback reads what came after its cursor (a small delta).
 * One tick in flight (issue 21): Dash drops an executing callback's result when the callback is
 * triggered again, so a tick slower than the ticks' period would never be applied and the wall
 * would freeze. The next tick is therefore sent only once the last one's echo (`wall-done`) has
 * been applied; what arrives meanwhile is one tick after it. The script owns the period too (it
 * disables `wall-poll`, the layout's safety net until it starts): 30 s with push, 500 ms
 * without (a server without push, 204, closes the stream). State: window.__omLive. */
(function () {
  "use strict";
  var STORE = "wall-push", POLL = "wall-poll", WATCH = "wall-map";
  var PUSHED_MS = 30000, POLL_MS = 500;   // app.live.FALLBACK_POLL_MS; wall.TICK_MS
  var LOST_MS = 30000;                    // no echo this long: the answer was lost (network), resend
  var live = (window.__omLive = {state: "starting", events: 0, last: null, ticks: 0, done: null});
  var seq = 0, sentAt = 0, busy = false, again = false, period = PUSHED_MS, timer = null;

  function setProps(id, props) {
    try { window.dash_clientside.set_props(id, props); return true; } catch (e) { return false; }
  }
  function send() {
    seq += 1;
    again = false;
    if (!setProps(STORE, {data: (live.last || "poll") + "#" + seq})) { return; }
    busy = true;
    sentAt = Date.now();
  }
  function want() {                       // a push or the period: a tick now, or after the one out
    if (busy && Date.now() - sentAt < LOST_MS) { again = true; return; }
    send();
  }
  function schedule(ms) {
    period = ms;
    if (timer) { clearInterval(timer); }
    timer = setInterval(function () { if (!busy || Date.now() - sentAt >= LOST_MS) { send(); } }, ms);
  }
  live.done = function () {               // the wall's clientside callback on wall-done
    busy = false;
    live.ticks += 1;
    if (again) { send(); }
  };
  function unpushed() { live.state = "off"; schedule(POLL_MS); }

  function start() {
    setProps(POLL, {disabled: true});
    schedule(PUSHED_MS);
    if (!window.EventSource) { unpushed(); return; }
    var es = new EventSource("/events?screen=wall");
    live.state = "connecting";
    es.addEventListener("hello", function () {
      live.state = "open";
      if (period !== PUSHED_MS) { schedule(PUSHED_MS); }
    });
    es.addEventListener("change", function (ev) {
      live.events += 1;
      live.last = ev.lastEventId;
      want();
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
