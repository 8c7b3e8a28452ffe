/* OneMap phone: the task list refreshes by itself (issue 15). One EventSource on /events
 * (screen m): the server names the cases of this worker (own reports, own tasks) that changed;
 * the page reloads its tasks (and its reports' progress when that tab is open). Over a bad
 * mobile network the browser reconnects by itself with Last-Event-ID; nothing is polled.
 * A server without push (204) closes the stream: the page works as before (tabs load). */
(function () {
  "use strict";
  const OM = (window.OM = window.OM || {});
  const live = (OM.live = {state: "starting", events: 0, last: null});
  let queued = null;

  function changed(ev) {
    live.events += 1;
    live.last = JSON.parse(ev.data);
    clearTimeout(queued);                 // a burst of changes: one reload
    queued = setTimeout(() => { if (OM.refresh) OM.refresh(live.last); }, 150);
  }

  function start() {
    if (!window.EventSource) { live.state = "off"; return; }
    const es = new EventSource("/events?screen=m");
    live.state = "connecting";
    es.addEventListener("hello", () => { live.state = "open"; });
    es.addEventListener("change", changed);
    es.onerror = () => { live.state = es.readyState === EventSource.CLOSED ? "off" : "reconnecting"; };
    live.source = es;
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
