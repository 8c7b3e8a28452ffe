/* OneMap phone for responders and department crews (救援队员, issue 17; X16, T7, G21): the
 * resource dispatches (调派单) of the user's own team in the task list, each with where to go (a
 * geo: link for the phone's own map app) and one button for the next step: 确认 → 出发 → 到场 →
 * 完成 (完成 with an optional note and photo). A step is a queued item of the outbox (kept on the
 * phone, sent once with its idempotency key, bound to its author) like a grid worker's report.
 * While a dispatch is en route or on scene the phone shares its position (watchPosition,
 * throttled to one fix per POSITION_EVERY_MS) for the resource map; a position is worth nothing
 * later, so it is sent directly and a failed one is simply replaced by the next. */
(function () {
  "use strict";
  const OM = (window.OM = window.OM || {});
  const ui = OM.ui;
  if (!ui) return;
  const {el, toast, getJSON, postNow, sendSaved, PhotoPicker, $} = ui;
  const POSITION_EVERY_MS = 30000;   // one fix per 30 s: a moving team on the map, little battery
  const POLL_MS = 20000;             // dispatches are not pushed: look again while visible
  const STEP_NAMES = {acknowledged: "确认", en_route: "出发", on_scene: "到场", released: "完成"};
  const share = (OM.share = {ids: new Set(), watch: null, last: 0, sent: 0, fix: null, asking: false});
  const user = OM.boot.user;

  // a responder does not report or patrol: the phone opens on its tasks and dispatches
  if (user.responder) {
    document.querySelectorAll('nav.tabs button[data-tab="report"], nav.tabs button[data-tab="patrol"]')
      .forEach((b) => { b.hidden = true; });
    $('nav.tabs button[data-tab="tasks"]').click();
  }
  const section = $("#tab-tasks");
  const list = el("ul", {id: "dispatch-list"});
  section.prepend(el("h2", {}, "调派任务"), list);

  function sendPosition(force) {
    const now = Date.now();
    if (!share.fix || !share.ids.size || (!force && now - share.last < POSITION_EVERY_MS)) return;
    share.last = now;
    for (const id of share.ids) {
      postNow("/m/api/dispatches/" + encodeURIComponent(id) + "/position",
        {lon: share.fix.lon, lat: share.fix.lat, accuracy_m: share.fix.accuracy})
        .then(() => { share.sent += 1; })
        // offline, released, or sent before the server had the step (出发 is still in the
        // outbox): not counted as sent, so the next fix or the next look at the list tries again
        .catch(() => { share.last = 0; });
    }
  }
  function setSharing(ids) {
    share.ids = new Set(ids);
    const on = share.ids.size > 0;
    $("#share-status") && ($("#share-status").hidden = !on);
    if (on && share.watch === null && navigator.geolocation) {
      share.watch = navigator.geolocation.watchPosition((p) => {
        share.fix = {lon: p.coords.longitude, lat: p.coords.latitude, accuracy: p.coords.accuracy};
        sendPosition(false);
      }, () => { /* denied or no fix: the team's base point stays on the map */ },
      {enableHighAccuracy: true, timeout: 30000, maximumAge: 15000});
    } else if (!on && share.watch !== null) {
      navigator.geolocation.clearWatch(share.watch);
      share.watch = null;
    } else if (on) {
      sendPosition(true);          // a new step: the map learns where the team is at once
    }
    if (on && !share.fix && navigator.geolocation && !share.asking) {
      // no fix from the watch yet (it only calls back on a change, and may not have started
      // before this step): ask once directly, so the first position does not wait for a move
      share.asking = true;
      navigator.geolocation.getCurrentPosition((p) => {
        share.asking = false;
        share.fix = {lon: p.coords.longitude, lat: p.coords.latitude, accuracy: p.coords.accuracy};
        sendPosition(true);
      }, () => { share.asking = false; }, {enableHighAccuracy: true, timeout: 30000, maximumAge: 15000});
    }
  }

  function card(d) {
    const c = el("li", {class: "card dispatch", "data-id": d.id, "data-state": d.state},
      el("div", {class: "title"}, "【调派】" + (d.title || d.name)),
      el("div", {class: "meta"}, d.name + " · " + d.state_name + (d.since ? " · " + d.since : "") +
        " · " + d.id),
      el("div", {class: "where"}, d.place || "位置见导航",
        d.nav ? el("a", {href: d.nav, class: "nav-link"}, "导航前往") : ""),
      d.note ? el("div", {class: "desc"}, d.note) : "",
      d.share_position ? el("div", {class: "meta share"}, "正在共享位置（资源地图）") : "");
    if (!d.next) return c;
    const row = el("div", {class: "row"});
    const form = el("form", {class: "task-form", hidden: ""},
      el("textarea", {class: "note", rows: "2", maxlength: "500", placeholder: "处置情况（可空）"}),
      el("div", {class: "photos"}, el("div", {class: "thumbs"}),
        el("label", {class: "big-btn"}, "＋ 拍照",
          el("input", {type: "file", accept: "image/*", capture: "environment", multiple: "",
                       hidden: ""}))),
      el("button", {type: "submit", class: "primary"}, "提交完成"));
    const picker = new PhotoPicker(form);
    function queue(note, photos) {
      let item;
      try {
        item = OM.outbox.add("dispatch", "/m/api/dispatches/" + encodeURIComponent(d.id) + "/" + d.next,
          {note}, photos, STEP_NAMES[d.next] + ": " + (d.title || d.name));
      } catch (e) { toast(e.message, true); return; }
      row.hidden = true; form.hidden = true;
      c.append(el("div", {class: "done-note"}, "已提交「" + STEP_NAMES[d.next] + "」"));
      if (d.next === "en_route" || d.next === "on_scene") setSharing([...share.ids, d.id]);
      if (d.next === "released") setSharing([...share.ids].filter((x) => x !== d.id));
      sendSaved(item.key).then(load);
    }
    row.append(el("button", {type: "button", class: "primary step step-" + d.next, onclick: () => {
      if (d.next === "released") { form.hidden = false; return; }
      queue("", []);
    }}, d.next_name));
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      queue($(".note", form).value.trim(), picker.take());
    });
    c.append(row, form);
    return c;
  }

  let asked = 0;
  async function load() {
    const n = ++asked;
    let out;
    try { out = await getJSON("/m/api/dispatches"); } catch (e) { return; }   // offline: as shown
    if (n !== asked) return;
    list.replaceChildren(...(out.dispatches.length ? out.dispatches.map(card) :
      [el("li", {class: "empty"}, "暂无调派")]));
    setSharing(out.dispatches.filter((d) => d.share_position).map((d) => d.id));
    const fresh = out.dispatches.filter((d) => d.state === "requested").length;
    if (load.fresh !== undefined && fresh > load.fresh) {
      toast("收到新的调派");
      if (navigator.vibrate) { try { navigator.vibrate([200, 100, 200]); } catch (e) { /* */ } }
    }
    load.fresh = fresh;
  }
  OM.dispatches = {load};
  const refresh = OM.refresh;
  OM.refresh = (ev) => { if (refresh) refresh(ev); load(); };
  setInterval(() => { if (document.visibilityState === "visible") load(); }, POLL_MS);
  load();
})();
