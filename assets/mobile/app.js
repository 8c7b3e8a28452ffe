/* OneMap mobile page for grid workers (网格员): report, my tasks, patrol log, outbox.
 * Plain JS, no framework: the whole page is a few tens of KB (one bar of signal, SPEC §1). */
(function () {
  "use strict";
  const OM = (window.OM = window.OM || {});
  const $ = (sel, root) => (root || document).querySelector(sel);
  const boot = JSON.parse($("#boot").textContent);
  OM.boot = boot;

  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") e.className = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else if (v !== null && v !== undefined) e.setAttribute(k, v);
    }
    for (const k of kids.flat()) e.append(k instanceof Node ? k : document.createTextNode(String(k)));
    return e;
  }

  function toast(msg, bad) {
    const t = $("#toast");
    t.textContent = msg;
    t.className = bad ? "toast bad show" : "toast show";
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => { t.className = "toast"; }, 3500);
  }

  function ago(ms) {
    const s = Math.round((Date.now() - ms) / 1000);
    if (s < 60) return s + " 秒前";
    if (s < 3600) return Math.round(s / 60) + " 分钟前";
    // Beijing time, as the console and the server's task deadlines show it
    return new Date(ms).toLocaleString("zh-CN", {hour12: false, timeZone: "Asia/Shanghai"});
  }

  // The status line (toast) says what really happened to a saved item: sending only while the
  // phone is online, and after the attempt either delivered or kept on the phone for later,
  // in agreement with the "n 条待发送（已保存在手机上）" banner.
  function sendSaved(key) {
    toast(navigator.onLine ? "已保存到手机，正在发送…" : "已保存到手机（离线），联网后自动发送");
    return OM.outbox.flush(true).then(() => {
      const waiting = OM.outbox.items().find((x) => x.key === key);
      if (!waiting) toast("已送达");
      else if (!waiting.attempts) return;   // not tried yet (another send was under way)
      else if (waiting.state === "failed") toast("发送失败: " + waiting.last_error, true);
      else toast("已保存在手机上，网络恢复后自动发送（" + OM.outbox.items().length + " 条待发送）");
    });
  }

  // --- tabs ------------------------------------------------------------------------------------
  function show(tab) {
    document.querySelectorAll("main > section").forEach((s) => { s.hidden = s.id !== "tab-" + tab; });
    document.querySelectorAll("nav.tabs button").forEach((b) =>
      b.classList.toggle("on", b.dataset.tab === tab));
    if (tab === "tasks") loadTasks();
    if (tab === "patrol") loadPatrol();
    if (tab === "outbox") { renderOutbox(); loadReports(); }
  }
  document.querySelectorAll("nav.tabs button").forEach((b) =>
    b.addEventListener("click", () => show(b.dataset.tab)));

  // --- photos ----------------------------------------------------------------------------------
  class PhotoPicker {
    constructor(root) {
      this.root = root;
      this.list = [];
      this.thumbs = $(".thumbs", root);
      this.input = $("input[type=file]", root);
      this.input.addEventListener("change", () => this.add(this.input.files));
    }
    async add(files) {
      for (const f of Array.from(files || [])) {
        if (this.list.length >= boot.max_photos) { toast("最多 " + boot.max_photos + " 张照片", true); break; }
        try { this.list.push(await OM.resizePhoto(f)); }
        catch (e) { toast("无法读取图片: " + e.message, true); }
      }
      this.input.value = "";
      this.render();
    }
    render() {
      this.thumbs.replaceChildren(...this.list.map((d, i) => el("span", {class: "thumb"},
        el("img", {src: d, alt: "照片 " + (i + 1)}),
        el("button", {type: "button", class: "x", "aria-label": "删除照片",
                      onclick: () => { this.list.splice(i, 1); this.render(); }}, "×"))));
    }
    take() { const out = this.list; this.list = []; this.render(); return out; }
  }

  // --- location: never wait for a fix ------------------------------------------------------------
  const loc = {lon: boot.fallback[0], lat: boot.fallback[1], source: "cell", accuracy: null};
  let map = null;
  function renderLoc() {
    const txt = {cell: "网格中心（未定位，可在地图上点选修正）", gps: "GPS 定位",
                 map: "已在地图上修正"}[loc.source];
    $("#loc-status").textContent = txt + (loc.accuracy ? " ±" + Math.round(loc.accuracy) + " m" : "") +
      " · " + loc.lon.toFixed(5) + ", " + loc.lat.toFixed(5);
    $("#loc-status").dataset.source = loc.source;
  }
  let watching = null;
  function startGeo() {
    if (!navigator.geolocation || watching !== null) return;
    // watchPosition, not getCurrentPosition: the first fix may take a minute under trees; the
    // form is usable at once with the cell centroid and improves when a fix arrives.
    watching = navigator.geolocation.watchPosition((p) => {
      if (loc.source === "map") return;  // the worker's correction wins over a later fix
      loc.lon = p.coords.longitude; loc.lat = p.coords.latitude;
      loc.accuracy = p.coords.accuracy; loc.source = "gps";
      renderLoc();
      if (map) map.setPoint(loc.lon, loc.lat, true);
    }, () => { /* denied or no fix: the cell centroid stays, the map corrects it */ },
    {enableHighAccuracy: true, timeout: 30000, maximumAge: 60000});
  }

  // --- report form -------------------------------------------------------------------------------
  const reportPhotos = new PhotoPicker($("#report-photos"));
  function renderCategories() {
    const recent = $("#recent");
    recent.replaceChildren(...boot.recent.map((c) => el("button", {type: "button", class: "chip",
      "data-code": c.code, onclick: () => { $("#category").value = c.code; markChip(); }},
    c.name)));
    markChip();
  }
  function markChip() {
    document.querySelectorAll("#recent .chip").forEach((b) =>
      b.classList.toggle("on", b.dataset.code === $("#category").value));
  }
  $("#category").addEventListener("change", markChip);

  $("#report-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const category = $("#category").value;
    if (!category) { toast("请选择类别", true); return; }
    const description = $("#description").value.trim();
    const payload = {category, description, lon: loc.lon, lat: loc.lat, located_by: loc.source,
                     accuracy_m: loc.accuracy, client_ts: Date.now()};
    const name = $("#category").selectedOptions[0].textContent.trim();
    let item;
    try {
      item = OM.outbox.add("report", "/m/api/reports", payload, reportPhotos.take(), name);
    } catch (e) { toast(e.message, true); return; }
    const hit = boot.recent.findIndex((c) => c.code === category);
    if (hit >= 0) boot.recent.splice(hit, 1);
    boot.recent.unshift({code: category, name});
    boot.recent = boot.recent.slice(0, 6);
    renderCategories();
    $("#description").value = "";
    draft.clear();
    sendSaved(item.key);
  });

  // --- the typed report is a draft on the phone (issue 17): a reload (offline too) keeps it -----
  const draft = {
    key: "om.draft.v1:" + boot.user.id,   // per user: a shared phone shows B nothing of A's
    save() {
      try {
        localStorage.setItem(draft.key, JSON.stringify({category: $("#category").value,
          description: $("#description").value, at: Date.now()}));
      } catch (e) { /* storage full: the outbox matters more */ }
    },
    restore() {
      let d = null;
      try { d = JSON.parse(localStorage.getItem(draft.key) || "null"); } catch (e) { d = null; }
      if (!d) return;
      if (d.category && $("#category").querySelector('option[value="' + d.category + '"]')) {
        $("#category").value = d.category;
      }
      if (d.description && !$("#description").value) $("#description").value = d.description;
    },
    clear() { try { localStorage.removeItem(draft.key); } catch (e) { /* ignore */ } },
  };
  $("#description").addEventListener("input", () => draft.save());
  $("#category").addEventListener("change", () => draft.save());

  // --- tasks -----------------------------------------------------------------------------------
  async function getJSON(url) {
    const r = await OM.outbox.request(url, {method: "GET"});
    if (!r.ok) throw new Error("HTTP " + r.status);
    return r.json();
  }
  async function postNow(url, body) {
    const r = await OM.outbox.request(url, {method: "POST", body: JSON.stringify(body || {}),
      headers: {"Content-Type": "application/json"}});
    if (!r.ok) throw new Error((await r.json().catch(() => ({}))).reason || "HTTP " + r.status);
    return r.json();
  }

  function taskCard(t) {
    const photos = (t.photos || []).map((u) =>
      el("a", {href: u, target: "_blank", class: "thumb-link"},
        el("img", {src: u, alt: "上报照片", loading: "lazy"})));
    const card = el("li", {class: "card task", "data-id": t.id},
      el("div", {class: "title"}, t.title),
      el("div", {class: "meta"}, t.state_name + (t.due ? " · 期限 " + t.due : "") +
        (t.reported ? " · 上报 " + t.reported : "")),
      el("div", {class: "where"}, t.place || "位置见地图",
        t.nav ? el("a", {href: t.nav, class: "nav-link"}, "导航前往") : ""),
      t.description ? el("div", {class: "desc"}, t.description) : "",
      photos.length ? el("div", {class: "task-photos"}, ...photos) : "");
    const row = el("div", {class: "row"});
    if (t.actions.includes("accept")) {
      row.append(el("button", {type: "button", class: "primary accept", onclick: async (ev) => {
        ev.target.disabled = true;
        try { await postNow("/m/api/tasks/" + encodeURIComponent(t.id) + "/accept", {});
          toast("已接收"); loadTasks(); }
        catch (e) { toast("接收失败: " + e.message + "（请稍后再试）", true); ev.target.disabled = false; }
      }}, "接收任务"));
    }
    for (const [action, label] of [["progress", "报告进展"], ["result", "处置完成"]]) {
      if (!t.actions.includes(action)) continue;
      row.append(el("button", {type: "button", class: action, onclick: () => {
        form.hidden = false; form.dataset.action = action; $(".note", form).placeholder = label;
        $("button[type=submit]", form).textContent = "提交" + label; }}, label));
    }
    const form = el("form", {class: "task-form", hidden: ""},
      el("textarea", {class: "note", rows: "3", maxlength: "500"}),
      el("div", {class: "photos"}, el("div", {class: "thumbs"}),
        el("label", {class: "big-btn"}, "＋ 拍照",
          el("input", {type: "file", accept: "image/*", capture: "environment", multiple: "",
                       hidden: ""}))),
      el("button", {type: "submit", class: "primary"}, "提交"));
    const picker = new PhotoPicker(form);
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const action = form.dataset.action;
      const note = $(".note", form).value.trim();
      if (action === "result" && note.length < 2) {   // the server asks the same (处置反馈)
        toast("请填写处置情况（至少 2 个字）", true);
        $(".note", form).focus();
        return;
      }
      let item;
      try {
        item = OM.outbox.add("task", "/m/api/tasks/" + encodeURIComponent(t.id) + "/" + action,
          {note, lon: loc.lon, lat: loc.lat},
          picker.take(), (action === "result" ? "完成: " : "进展: ") + t.title);
      } catch (e) { toast(e.message, true); return; }
      form.hidden = true;
      $(".note", form).value = "";
      if (action === "result") {   // done here: no buttons to press again while it is sent
        row.hidden = true;
        card.append(el("div", {class: "done-note"}, "已提交处置完成，等待核查"));
      }
      sendSaved(item.key).then(loadTasks);
    });
    card.append(row, form);
    return card;
  }
  let tasksAsked = 0;   // on a slow network answers can overtake each other: the newest wins
  let tasksFresh = null; // tasks waiting to be accepted, as last shown (a new one: a toast)
  async function loadTasks() {
    const list = $("#task-list");
    const asked = ++tasksAsked;
    try {
      const out = await getJSON("/m/api/tasks");
      if (asked !== tasksAsked) return;   // an older answer must not undo a newer one
      list.replaceChildren(...(out.tasks.length ? out.tasks.map(taskCard) :
        [el("li", {class: "empty"}, "暂无任务")]));
      const fresh = out.tasks.filter((t) => t.actions.includes("accept")).length;
      if (tasksFresh !== null && fresh > tasksFresh) {
        toast("收到新任务");
        // a buzz in the pocket where the phone supports it (issue 17; iOS Safari has none)
        if (navigator.vibrate) { try { navigator.vibrate([200, 100, 200]); } catch (e) { /* */ } }
        OM.buzzes = (OM.buzzes || 0) + 1;
      }
      tasksFresh = fresh;
      $("#task-count").textContent = fresh || "";
      // the home-screen icon's badge where supported (an installed app; Chrome on Android)
      if (navigator.setAppBadge) navigator.setAppBadge(fresh).catch(() => {});
    } catch (e) {
      if (asked === tasksAsked && !list.children.length) {
        list.replaceChildren(el("li", {class: "empty"}, "离线：无法加载任务"));
      }
    }
  }

  // --- patrol log (巡查) ---------------------------------------------------------------------------
  const patrolPhotos = new PhotoPicker($("#patrol-photos"));
  $("#patrol-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    try {
      OM.outbox.add("patrol", "/m/api/patrol", {note: $("#patrol-note").value.trim(),
        lon: loc.lon, lat: loc.lat, located_by: loc.source, client_ts: Date.now()},
      patrolPhotos.take(), "巡查记录");
    } catch (e) { toast(e.message, true); return; }
    $("#patrol-note").value = "";
    toast("巡查已记录");
    OM.outbox.flush(true).then(loadPatrol);
  });
  async function loadPatrol() {
    try {
      const out = await getJSON("/m/api/patrol");
      $("#patrol-list").replaceChildren(...out.entries.map((p) => el("li", {class: "card"},
        el("div", {class: "meta"}, ago(p.ts) + (p.photos ? " · " + p.photos + " 张照片" : "")),
        el("div", {}, p.note || "打卡"))));
    } catch (e) { /* offline: the outbox shows what is waiting */ }
  }

  // --- my reports: where each one is in the closed loop ------------------------------------------
  async function loadReports() {
    try {
      const out = await getJSON("/m/api/reports");
      $("#my-reports").replaceChildren(...(out.reports.length ? out.reports.map((r) =>
        el("li", {class: "card report", "data-id": r.id},
          el("div", {class: "title"}, r.title + " · " + r.id),
          el("div", {class: "meta"}, r.state_name + " · " + ago(r.created_ts * 1000))))
        : [el("li", {class: "empty"}, "还没有上报")]));
    } catch (e) { /* offline: the outbox above is what matters */ }
  }

  // --- notifications (站内消息, issue 17): shown until acknowledged (知道了) -----------------------
  let noticesAsked = 0;
  async function loadNotices() {
    const asked = ++noticesAsked;
    let out;
    try { out = await getJSON("/m/api/notifications"); } catch (e) { return; }   // offline
    if (asked !== noticesAsked) return;
    const open = out.items.filter((n) => !n.acked);
    $("#notices").hidden = !open.length;
    $("#notices").replaceChildren(...open.slice(0, 5).map((n) => el("div",
      {class: "notice" + (n.priority ? " prio" : ""), "data-chain": n.chain},
      el("div", {class: "title"}, n.subject || "通知"),
      n.body ? el("div", {class: "meta"}, n.body) : "",
      el("button", {type: "button", class: "ack", onclick: async (ev) => {
        ev.target.disabled = true;
        try { await postNow("/m/api/notifications/ack", {chain: n.chain}); toast("已确认收到"); }
        catch (e) { toast("确认失败: " + e.message, true); ev.target.disabled = false; return; }
        loadNotices();
      }}, "知道了"))));
  }

  // --- outbox -------------------------------------------------------------------------------------
  function renderOutbox() {
    const items = OM.outbox.items();
    const others = OM.outbox.othersCount();
    $("#others-note").hidden = !others;
    $("#others-note").textContent = "本机还保留 " + others + " 条其他账号未发送的记录（该账号登录后发送）";
    $("#outbox-count").textContent = items.length || "";
    $("#waiting-banner").hidden = !items.length;
    $("#waiting-banner").textContent = items.length + " 条待发送（已保存在手机上）";
    $("#outbox-list").replaceChildren(...(items.length ? items.map((x) => el("li",
      {class: "card out " + x.state, "data-key": x.key},
      el("div", {class: "title"}, x.title),
      el("div", {class: "meta"}, {waiting: "等待发送", sending: "发送中…", failed: "发送失败"}[x.state] +
        " · " + ago(x.created) + (x.attempts ? " · 已尝试 " + x.attempts + " 次" : "") +
        (x.photos.length ? " · " + x.photos.length + " 张照片" : "")),
      x.last_error ? el("div", {class: "err"}, x.last_error) : "",
      el("div", {class: "row"},
        el("button", {type: "button", onclick: () => {
          x.state = "waiting"; x.next_at = 0; OM.outbox.update(x); OM.outbox.flush(true); }},
        "立即重试"),
        x.state === "failed" ? el("button", {type: "button", class: "danger", onclick: () => {
          if (confirm("删除这条未发送的记录？")) OM.outbox.remove(x.key); }}, "删除") : "")))
      : [el("li", {class: "empty"}, "没有待发送的记录")]));
    $("#sent-list").replaceChildren(...OM.outbox.sent().map((s) => el("li", {class: "card sent"},
      el("div", {class: "title"}, s.title + (s.id ? " · " + s.id : "")),
      el("div", {class: "meta"}, "已送达 " + ago(s.at) + (s.duplicate ? "（重复提交已合并）" : "")))));
  }
  OM.outbox.onChange(renderOutbox);
  $("#waiting-banner").addEventListener("click", () => show("outbox"));

  function renderNet() {
    $("#net").textContent = navigator.onLine ? "在线" : "离线";
    $("#net").className = navigator.onLine ? "net on" : "net off";
  }
  window.addEventListener("online", renderNet);
  window.addEventListener("offline", renderNet);

  // --- start ------------------------------------------------------------------------------------
  renderCategories();
  renderLoc();
  renderNet();
  try {
    map = new OM.MiniMap($("#map"), boot.map, (lon, lat) => {
      loc.lon = lon; loc.lat = lat; loc.source = "map"; loc.accuracy = null; renderLoc();
    });
    map.setPoint(loc.lon, loc.lat, true);
    map.zoom(2);
  } catch (e) { console.error(e); }
  $("#zoom-in").addEventListener("click", () => map && map.zoom(1.6));
  $("#zoom-out").addEventListener("click", () => map && map.zoom(1 / 1.6));
  $("#use-gps").addEventListener("click", () => { loc.source = "cell"; startGeo(); toast("正在获取 GPS…"); });
  startGeo();
  OM.outbox.start(boot.user.id);      // only this user's items are shown and sent (issue 17)
  draft.restore();
  renderOutbox();
  loadTasks();
  loadNotices();
  // logout on a shared phone: unsent items stay on the phone for their author (issue 17)
  $("#logout").addEventListener("click", (ev) => {
    const n = OM.outbox.items().length;
    if (n && !confirm("还有 " + n + " 条未发送，退出后将保留在本机，下次您登录时发送")) {
      ev.preventDefault();
      return;
    }
    // the page shell cached for offline use carries this user's data: drop it
    if (window.caches) caches.keys().then((ks) => ks.forEach((k) =>
      caches.open(k).then((c) => { c.delete("/m/"); c.delete("/m"); })));
  });
  // pushed (live.js): a case of this worker changed: its tasks, and its reports if shown
  OM.refresh = () => {
    loadTasks();
    loadNotices();
    if (!$("#tab-outbox").hidden) loadReports();
  };
  // notifications come from the notifier, not from a case change: look again now and then
  setInterval(() => { if (document.visibilityState === "visible") loadNotices(); }, 30000);
  // the offline app shell (sw.js): a reload without network opens the page and its drafts
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/m/sw.js", {scope: "/m/"}).catch((e) => console.warn(e));
  }
  // helpers for the responder's dispatches (dispatch.js, issue 17)
  OM.ui = {el, toast, getJSON, postNow, sendSaved, PhotoPicker, $};
  OM.ready = true;
})();
