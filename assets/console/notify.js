/* New priority items (issue 15): an optional sound and browser notification when a row marked
   新 with 人工 / 新派 / 应急 appears in the queue (app.screens.console.model.PRIORITY_MARKS).
   Off unless the operator ticks 「声音/桌面提醒」 (kept in this browser: it is this machine's
   speaker). Offline: the tone is made with Web Audio, no sound file, no CDN. */
(function () {
  "use strict";
  var MARKS = ["人工", "新派", "应急"];
  var told = {};            // case id → true: each item announced once per page

  function enabled() {
    var box = document.querySelector("#notify input[type=checkbox]");
    return !!(box && box.checked);
  }

  function beep() {
    try {
      var Ctx = window.AudioContext || window.webkitAudioContext;
      if (!Ctx) { return; }
      var ctx = new Ctx(), osc = ctx.createOscillator(), gain = ctx.createGain();
      osc.type = "sine"; osc.frequency.value = 880;
      gain.gain.setValueAtTime(0.18, ctx.currentTime);
      gain.gain.exponentialRampToValueAtTime(0.001, ctx.currentTime + 0.6);
      osc.connect(gain); gain.connect(ctx.destination);
      osc.start(); osc.stop(ctx.currentTime + 0.6);
    } catch (e) { /* no audio device: the row's mark is still there */ }
  }

  function notify(ids) {
    if (!("Notification" in window)) { return; }
    var text = ids.length === 1 ? ids[0] : ids.length + " 件";
    if (Notification.permission === "granted") {
      new Notification("一网统管 · 新的优先事件", { body: text, tag: "onemap-priority" });
    }
  }

  function scan() {
    var fresh = [];
    document.querySelectorAll("#queue tr").forEach(function (tr) {
      var id = tr.querySelector("td[data-dash-column=id]");
      var flag = tr.querySelector("td[data-dash-column=flag]");
      if (!id || !flag) { return; }
      var f = flag.textContent || "", key = (id.textContent || "").trim();
      if (f.indexOf("新") !== 0 || told[key]) { return; }
      if (MARKS.some(function (m) { return f.indexOf(m) >= 0; })) {
        told[key] = true;
        fresh.push(key);
      }
    });
    if (fresh.length && enabled()) {
      window.onemapAnnounced = (window.onemapAnnounced || []).concat(fresh);  // for tests, ops
      beep();
      notify(fresh);
    }
  }

  document.addEventListener("change", function (ev) {
    // ticking the box asks the browser for permission (a user gesture, as browsers require)
    if (ev.target && ev.target.closest && ev.target.closest("#notify") && ev.target.checked &&
        "Notification" in window && Notification.permission === "default") {
      Notification.requestPermission();
    }
  });

  var timer = null;
  new MutationObserver(function () {
    if (timer) { return; }
    timer = setTimeout(function () { timer = null; scan(); }, 250);
  }).observe(document.documentElement, { childList: true, subtree: true, characterData: true });
})();
