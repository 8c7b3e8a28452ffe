/* 我的通知 as a toast (issue 17; T25, X1/X3 值班值守): a new priority notification for the operator
   on watch pops up with a short beep (Web Audio: no sound file, works offline), the browser's
   Notification where permitted, and 知道了, which acknowledges it (the escalation chain stops).
   Polls GET /console/inbox (app.screens.console.inbox): the caller's own unacknowledged
   priority items. Lives outside Dash's React tree (a re-render never removes an alarm). */
(function () {
  "use strict";
  var POLL_MS = 5000;           // an alarm within seconds; one small read per console
  var shown = {};               // chain → its toast element
  var beeped = {};              // chain → true: one beep per alarm per page
  var box = null;

  function csrf() {
    var m = document.cookie.match(/(?:^|;\s*)_csrf_token=([^;]+)/);
    return m ? decodeURIComponent(m[1]) : "";
  }

  function beep() {
    try {
      var Ctx = window.AudioContext || window.webkitAudioContext;
      if (!Ctx) { return; }
      var ctx = new Ctx(), osc = ctx.createOscillator(), gain = ctx.createGain();
      if (ctx.state === "suspended" && ctx.resume) { ctx.resume().catch(function () {}); }
      osc.type = "square"; osc.frequency.value = 988;       // two short high tones: 「有警」
      gain.gain.setValueAtTime(0.15, ctx.currentTime);
      gain.gain.setValueAtTime(0, ctx.currentTime + 0.18);
      gain.gain.setValueAtTime(0.15, ctx.currentTime + 0.3);
      gain.gain.exponentialRampToValueAtTime(0.001, ctx.currentTime + 0.6);
      osc.connect(gain); gain.connect(ctx.destination);
      osc.start(); osc.stop(ctx.currentTime + 0.62);
      window.onemapInboxBeeps = (window.onemapInboxBeeps || 0) + 1;     // for tests, ops
    } catch (e) { /* no audio device: the toast is still there */ }
  }

  function desktop(it) {
    if (!("Notification" in window) || Notification.permission !== "granted") { return; }
    try { new Notification("一网统管 · " + (it.subject || "优先通知"), {body: it.body || "", tag: it.chain}); }
    catch (e) { /* some browsers allow it only from a service worker */ }
  }

  function container() {
    if (box && document.body.contains(box)) { return box; }
    box = document.createElement("div");
    box.id = "inbox-toasts";
    box.setAttribute("role", "alert");
    box.style.cssText = "position:fixed;right:16px;bottom:16px;z-index:9999;display:flex;" +
      "flex-direction:column;gap:8px;max-width:min(420px,92vw)";
    document.body.appendChild(box);
    return box;
  }

  function ack(it, btn) {
    btn.disabled = true;
    if ("Notification" in window && Notification.permission === "default") {
      try { Notification.requestPermission(); } catch (e) { /* a click is the gesture it needs */ }
    }
    fetch("/api/notifications/ack", {method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRFToken": csrf()},
      body: JSON.stringify({chain: it.chain})})
      .then(function (r) {
        if (!r.ok) { throw new Error("HTTP " + r.status); }
        var t = shown[it.chain];
        if (t) { t.remove(); }
        delete shown[it.chain];
      })
      .catch(function (e) { btn.disabled = false; btn.textContent = "知道了（重试: " + e.message + "）"; });
  }

  function toast(it) {
    var t = document.createElement("div");
    t.className = "inbox-toast";
    t.dataset.chain = it.chain;
    t.style.cssText = "background:#7a1010;color:#fff;padding:10px 12px;border-radius:6px;" +
      "box-shadow:0 4px 14px rgba(0,0,0,.4);font-size:14px";
    var h = document.createElement("div");
    h.style.fontWeight = "700";
    h.textContent = it.subject || "优先通知";
    var b = document.createElement("div");
    b.style.cssText = "margin:4px 0 8px;opacity:.9";
    b.textContent = it.body || "";
    var btn = document.createElement("button");
    btn.type = "button";
    btn.className = "inbox-ack";
    btn.textContent = "知道了";
    btn.style.cssText = "background:#fff;color:#7a1010;border:0;border-radius:4px;padding:4px 14px;" +
      "font-weight:700;cursor:pointer";
    btn.addEventListener("click", function () { ack(it, btn); });
    t.append(h, b, btn);
    return t;
  }

  function poll() {
    fetch("/console/inbox", {credentials: "same-origin", cache: "no-store"})
      .then(function (r) { return r.ok ? r.json() : {items: []}; })
      .then(function (out) {
        var live = {}, fresh = false;
        (out.items || []).forEach(function (it) {
          live[it.chain] = true;
          if (shown[it.chain]) { return; }
          shown[it.chain] = toast(it);
          container().appendChild(shown[it.chain]);
          if (!beeped[it.chain]) { beeped[it.chain] = true; fresh = true; desktop(it); }
        });
        // acknowledged elsewhere (the phone, another console): the toast goes
        Object.keys(shown).forEach(function (c) {
          if (!live[c]) { shown[c].remove(); delete shown[c]; }
        });
        if (fresh) { beep(); }
      })
      .catch(function () { /* offline: the next poll tries again */ });
  }

  function start() {
    poll();
    setInterval(function () { if (document.visibilityState !== "hidden") { poll(); } }, POLL_MS);
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); }
  else { start(); }
})();
