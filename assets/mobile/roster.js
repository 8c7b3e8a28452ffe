/* OneMap phone: the grid worker's 辖区对象花名册 and 走访/服务记录 (issue 24; G8, E10).
 *
 * 花名册: the people, houses, units and places (shelters, warehouses) of the worker's own cell (GET /m/api/ledger/roster, masked
 * on the server: the phone never holds an ID number or a phone number in clear). The last copy
 * is kept on the phone (localStorage, per user) with the time it was fetched, so the roster opens
 * without network ("离线名册 · 更新于 HH:MM") and is searched on the phone by name or address.
 *
 * 走访/服务: from a roster card (that object) or from a patrol task's card under 任务 (no object),
 * a record linked to one of the worker's patrol tasks goes through the outbox like a report
 * (outbox.js): kept on the phone until the server has it, its outbox key is the visit's id, so a
 * replay after a lost answer inserts nothing (POST /m/api/ledger/visits). The task cards show the
 * visits recorded on them (sent and waiting).
 *
 * Hooks into the page without changing app.js: its own tab button and section, and a look at the
 * task list when app.js redraws it. */
(function () {
  "use strict";
  const OM = (window.OM = window.OM || {});
  const ui = OM.ui;
  if (!ui || OM.boot.user.responder || !OM.boot.user.cell) return;   // grid workers only
  const {el, toast, getJSON, sendSaved, $} = ui;
  const STORE = "om.roster.v1:" + OM.boot.user.id;   // per user: a shared phone shows B nothing of A's
  const SHOWN = 100;      // cards drawn at once (a cell has hundreds of people: search narrows)
  const KINDS = [["people", "person", "人员"], ["houses", "house", "房屋"], ["units", "unit", "单位"],
                 ["places", "place", "场所"]];

  let data = read();
  let visits = [];        // the server's record of my visits (GET /m/api/ledger/visits)
  let online = false;     // the roster shown is the one just fetched

  function read() {
    try { return JSON.parse(localStorage.getItem(STORE) || "null"); } catch (e) { return null; }
  }
  function save(d) {
    try { localStorage.setItem(STORE, JSON.stringify(d)); }
    catch (e) { toast("手机存储已满：名册未能离线保存", true); }
  }
  function hhmm(ms) {
    return new Date(ms).toLocaleTimeString("zh-CN", {hour: "2-digit", minute: "2-digit",
      hour12: false, timeZone: "Asia/Shanghai"});
  }

  // --- the tab ---------------------------------------------------------------------------------
  const status = el("div", {id: "roster-status", class: "meta"}, "名册加载中…");
  const search = el("input", {type: "text", id: "roster-search", placeholder: "搜索姓名 / 地址 / 单位",
                              autocomplete: "off"});
  const list = el("ul", {id: "roster-list"});
  const section = el("section", {id: "tab-roster", hidden: ""},
    el("h2", {}, "辖区花名册"), status, el("div", {class: "field"}, search), list);
  $("main").append(section);
  // two characters: six tabs share a 360-px phone's width
  const tab = el("button", {type: "button", "data-tab": "roster", "aria-label": "辖区花名册"}, "名册");
  const outboxTab = $('nav.tabs button[data-tab="outbox"]');
  $("nav.tabs").insertBefore(tab, outboxTab);
  tab.addEventListener("click", () => {   // what app.js's show() does for its own tabs
    document.querySelectorAll("main > section").forEach((s) => { s.hidden = s !== section; });
    document.querySelectorAll("nav.tabs button").forEach((b) => b.classList.toggle("on", b === tab));
    load();
  });
  search.addEventListener("input", render);

  function tasks() { return ((data && data.tasks) || []).filter((t) => t.open); }

  function objects() {
    if (!data) return [];
    const out = [];
    for (const [key, kind, cn] of KINDS) {
      for (const r of data[key] || []) {
        const title = r.name || r.address || r.code;
        const meta = kind === "person" ?
          [r.id_number, r.phone, (r.tags || []).join("、"), r.house ? "房屋 " + r.house : ""] :
          kind === "house" ? [r.kind, r.code] : kind === "place" ? [r.kind] : [r.kind, r.phone, r.code];
        out.push({kind, cn, ref: r.ref, title, meta: meta.filter(Boolean).join(" · "),
                  text: [title, r.address, r.house, r.code, (r.tags || []).join(" ")].join(" ")});
      }
    }
    return out;
  }

  function render() {
    if (!data) {
      status.textContent = "暂无名册：联网后打开本页同步";
      list.replaceChildren();
      return;
    }
    status.textContent = (online ? "名册已同步（可离线使用）" : "离线名册") + " · 更新于 " +
      hhmm(data.synced_at);
    status.dataset.offline = online ? "0" : "1";
    const q = search.value.trim().toLowerCase();
    const all = objects();
    const hits = q ? all.filter((o) => o.text.toLowerCase().includes(q)) : all;
    const cards = hits.slice(0, SHOWN).map(card);
    if (hits.length > SHOWN) cards.push(el("li", {class: "meta"}, "还有 " + (hits.length - SHOWN) +
                                            " 条，请输入姓名或地址搜索"));
    list.replaceChildren(...(cards.length ? cards : [el("li", {class: "empty"},
      q ? "没有找到「" + search.value.trim() + "」" : "本网格花名册为空")]));
  }

  function card(o) {
    const done = visits.filter((v) => v.object_ref === o.ref).length + pending(o.ref).length;
    const li = el("li", {class: "card roster " + o.kind, "data-ref": o.ref},
      el("div", {class: "title"}, o.title + " ", el("span", {class: "chip-s"}, o.cn)),
      o.meta ? el("div", {class: "meta"}, o.meta) : "",
      done ? el("div", {class: "meta visits-n"}, "已走访 " + done + " 次") : "");
    const row = el("div", {class: "row"},
      el("button", {type: "button", class: "visit", onclick: () => {
        row.hidden = true; li.append(visitForm({kind: o.kind, ref: o.ref, title: o.title},
          () => { row.hidden = false; })); }}, "走访 / 服务"));
    li.append(row);
    return li;
  }

  // --- 走访/服务 form --------------------------------------------------------------------------
  /** A form for one visit (obj: the roster object or null); ``done`` after it is sent or closed. */
  function visitForm(obj, done, taskId) {
    const open = tasks();
    const form = el("form", {class: "visit-form"});
    if (!open.length && !taskId) {
      form.append(el("div", {class: "err"}, "暂无进行中的巡查任务：走访须登记在巡查任务上"),
        el("button", {type: "button", onclick: () => { form.remove(); done(); }}, "关闭"));
      return form;
    }
    const task = el("select", {class: "visit-task", "aria-label": "巡查任务"},
      ...(taskId ? [{id: taskId, title: (open.find((t) => t.id === taskId) || {}).title || taskId}]
        : open).map((t) => el("option", {value: t.id}, t.title + " · " + t.id)));
    const kind = el("select", {class: "visit-kind", "aria-label": "记录类型"},
      el("option", {value: "走访"}, "走访"), el("option", {value: "服务"}, "服务"));
    const note = el("textarea", {class: "visit-note", rows: "2", maxlength: "500",
                                 placeholder: "走访/服务情况（可空）"});
    form.append(el("div", {class: "field"}, task), el("div", {class: "field"}, kind),
      el("div", {class: "field"}, note),
      el("div", {class: "row"},
        el("button", {type: "submit", class: "primary"}, "登记"),
        el("button", {type: "button", onclick: () => { form.remove(); done(); }}, "取消")));
    // where the visit was made: the phone's latest fix (the page's GPS watch keeps one fresh),
    // none rather than a guess when there is no fix
    const at = {lon: null, lat: null};
    if (navigator.geolocation) {
      navigator.geolocation.getCurrentPosition((pos) => {
        at.lon = pos.coords.longitude; at.lat = pos.coords.latitude;
      }, () => { /* no fix: the record has no point */ }, {maximumAge: 300000, timeout: 10000});
    }
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const payload = {task: task.value, kind: kind.value, note: note.value.trim(),
                       lon: at.lon, lat: at.lat, client_ts: Date.now()};
      if (obj) Object.assign(payload, {object_kind: obj.kind, object_ref: obj.ref});
      let item;
      try {
        item = OM.outbox.add("visit", "/m/api/ledger/visits", payload, [],
                             kind.value + (obj ? "：" + obj.title : "") + " · " + task.value);
      } catch (e) { toast(e.message, true); return; }
      form.remove();
      done();
      render();
      decorateTasks();
      sendSaved(item.key).then(loadVisits);
    });
    return form;
  }

  /** My visits still in the outbox (for one object when ``ref``). */
  function pending(ref) {
    return OM.outbox.items().filter((x) => x.kind === "visit" &&
      (ref === undefined || x.payload.object_ref === ref));
  }

  // --- the task cards (app.js draws them): the visits on each patrol task ----------------------
  function decorateTasks() {
    const mine = new Set(((data && data.tasks) || []).map((t) => t.id));
    document.querySelectorAll("#task-list li.card.task").forEach((li) => {
      const id = li.dataset.id;
      if (!mine.has(id)) return;
      let box = li.querySelector(".visits");
      if (!box) { box = el("div", {class: "visits"}); li.append(box); }
      const sent = visits.filter((v) => v.task === id);
      const waiting = pending().filter((x) => x.payload.task === id);
      const open = tasks().some((t) => t.id === id);
      const add = el("button", {type: "button", class: "visit-task-btn", onclick: () => {
        add.hidden = true; box.append(visitForm(null, () => { add.hidden = false; }, id)); }},
      "登记走访");
      box.replaceChildren(el("div", {class: "meta"}, "走访/服务记录 " + (sent.length + waiting.length) +
                                     " 条" + (waiting.length ? "（" + waiting.length + " 条待发送）" : "")),
        ...sent.slice(0, 5).map((v) => el("div", {class: "visit-line"}, v.kind +
          (v.label ? "：" + v.label : "") + (v.note ? " · " + v.note : "") + " · " + hhmm(v.ts))),
        ...(open ? [add] : []));
    });
  }
  const taskList = $("#task-list");
  if (taskList) new MutationObserver(decorateTasks).observe(taskList, {childList: true});

  // --- loading ---------------------------------------------------------------------------------
  let asked = 0;
  async function load() {
    const n = ++asked;
    try {
      const got = await getJSON("/m/api/ledger/roster");
      if (n !== asked) return;
      data = got;
      online = true;
      save(got);
    } catch (e) {
      online = false;   // offline (or the server failed): the copy kept at the last sync
      data = data || read();
      // no record database on this server (503 ledger_off): no roster to offer at all
      if (!data && /HTTP 503/.test(e.message)) { tab.hidden = true; return; }
    }
    render();
    decorateTasks();
    loadVisits();
  }
  async function loadVisits() {
    try { visits = (await getJSON("/m/api/ledger/visits")).visits || []; } catch (e) { /* offline */ }
    decorateTasks();
    if (!section.hidden) render();
  }
  let waiting = pending().length;
  OM.outbox.onChange(() => {    // a visit delivered: the server's list has it now
    const n = pending().length;
    if (n < waiting) loadVisits();
    waiting = n;
    if (!section.hidden) render();
    decorateTasks();
  });

  // logout: the roster kept for offline use is this user's; a shared phone drops it
  const logout = $("#logout");
  if (logout) logout.addEventListener("click", (ev) => {
    if (!ev.defaultPrevented) { try { localStorage.removeItem(STORE); } catch (e) { /* */ } }
  });

  OM.roster = {load, data: () => data, visits: () => visits, pending};
  load();       // at start: the roster is stored for offline use while the network is there
})();
