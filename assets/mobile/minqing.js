/* OneMap phone: 民情日志 (issue 24, G7): what residents say, kept through the offline outbox (the
 * phone's key: a replay records nothing twice). 记录 keeps an entry; 记录并上报 keeps it and turns
 * it into an incident report in the same request (offline too: it goes when the network does);
 * an entry already sent has 转为上报, one tap (the server's incident service, linked both ways).
 * Shown under 巡查 (the patrol tab); collect.js (信息采集) adds its form below. */
(function () {
  "use strict";
  const OM = (window.OM = window.OM || {});
  const ui = OM.ui;
  if (!ui || !OM.boot || OM.boot.user.responder || !OM.boot.user.cell) return;
  const {el, toast, getJSON, postNow, sendSaved, $} = ui;
  const CATS = "om.minqing.categories";

  // --- where it lives: the 巡查 tab (the day's round: patrol, what residents say, collecting);
  // not a tab of its own: the phone's tab bar is full at 360 px ------------------------------
  const section = el("div", {id: "minqing"});
  $("#tab-patrol").append(section);
  const tab = $('nav.tabs button[data-tab="patrol"]');
  if (tab) tab.addEventListener("click", () => {
    locate();
    load();
    if (OM.collect) OM.collect.load();
  });
  OM.minqingTab = section;

  // --- where: the phone's position when it has one (else the server takes the cell's) -----------
  const here = {lon: null, lat: null};
  function locate() {
    if (!navigator.geolocation) return;
    navigator.geolocation.getCurrentPosition((p) => {
      here.lon = +p.coords.longitude.toFixed(6);
      here.lat = +p.coords.latitude.toFixed(6);
    }, () => {}, {enableHighAccuracy: true, timeout: 8000, maximumAge: 60000});
  }
  OM.here = here;

  // --- the form --------------------------------------------------------------------------------
  const category = el("select", {id: "mq-category", required: ""});
  const tags = el("input", {type: "text", id: "mq-tags", maxlength: "120",
                            placeholder: "标签（可空，用；分隔，如 独居老人；夏季）"});
  const place = el("input", {type: "text", id: "mq-place", maxlength: "100",
                             placeholder: "地点（如 幸福小区 3 栋）"});
  const text = el("textarea", {id: "mq-text", rows: "3", maxlength: "1000",
                               placeholder: "群众反映了什么？"});
  function renderCategories(names) {
    const keep = category.value;
    category.replaceChildren(el("option", {value: ""}, "选择民情类别…"),
      ...names.map((n) => el("option", {value: n}, n)));
    if (keep) category.value = keep;
  }
  try { renderCategories(JSON.parse(localStorage.getItem(CATS) || "[]")); } catch (e) { renderCategories([]); }

  function save(report) {
    if (!category.value) { toast("请选择民情类别", true); return; }
    if (!text.value.trim()) { toast("请填写民情内容", true); return; }
    let item;
    try {
      item = OM.outbox.add("minqing", "/m/api/minqing", {category: category.value,
        tags: tags.value.trim(), place: place.value.trim(), text: text.value.trim(),
        lon: here.lon, lat: here.lat, report: !!report, client_ts: Date.now()}, [],
        report ? "民情日志（并上报）" : "民情日志");
    } catch (e) { toast(e.message, true); return; }
    text.value = ""; tags.value = "";
    sendSaved(item.key).then(load);
  }
  const form = el("form", {id: "minqing-form", autocomplete: "off", onsubmit: (ev) => {
    ev.preventDefault(); save(false); }},
    el("div", {class: "field"}, el("label", {for: "mq-category"}, "民情类别"), category),
    el("div", {class: "field"}, tags),
    el("div", {class: "field"}, place),
    el("div", {class: "field"}, el("label", {for: "mq-text"}, "群众反映"), text),
    el("div", {class: "row"},
      el("button", {type: "submit", class: "primary", id: "mq-save"}, "记录"),
      el("button", {type: "button", id: "mq-save-report", onclick: () => save(true)}, "记录并上报")));
  const list = el("ul", {id: "minqing-list"});
  section.append(el("h2", {}, "民情日志"), form, el("h3", {}, "最近民情"), list);

  // --- my entries, with the one tap --------------------------------------------------------------
  async function report(e, btn) {
    btn.disabled = true;
    try {
      const r = await postNow("/m/api/minqing/" + e.id + "/report", {});
      toast("已转为上报：" + r.incident);
      load();
    } catch (err) { toast("上报未成功：" + err.message, true); btn.disabled = false; }
  }
  function card(e) {
    const btn = el("button", {type: "button", class: "primary mq-report"}, "转为上报");
    btn.addEventListener("click", () => report(e, btn));
    return el("li", {class: "card minqing", "data-id": e.id},
      el("div", {class: "title"}, e.category + (e.tags.length ? " · " + e.tags.join("、") : "")),
      el("div", {class: "meta"}, (e.place ? e.place + " · " : "") + (e.created_at || "").replace("T", " ").slice(0, 16)),
      el("div", {class: "desc"}, e.body),
      e.incident_id ? el("div", {class: "done-note"}, "已上报 " + e.incident_id) : el("div", {class: "row"}, btn));
  }
  async function load() {
    try {
      const out = await getJSON("/m/api/minqing");
      if (out.categories && out.categories.length) {
        try { localStorage.setItem(CATS, JSON.stringify(out.categories)); } catch (e) { /* full */ }
        renderCategories(out.categories);
      }
      list.replaceChildren(...(out.entries.length ? out.entries.map(card)
        : [el("li", {class: "empty"}, "还没有民情日志")]));
    } catch (e) { /* offline: what was recorded waits in the outbox */ }
  }
  OM.minqing = {load};
  load();
})();
