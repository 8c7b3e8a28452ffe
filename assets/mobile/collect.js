/* OneMap phone: 信息采集 (issue 24, E10): a new or changed person, house or unit of the worker's own
 * cell, sent through the offline outbox to the town's review (it enters the register only when
 * the town approves). The server checks it as an import's row; a refused one stays in 待发送 with
 * the reasons. My submissions show their state and, when returned (已退回), the town's reason.
 * Lives under 巡查, below 民情日志 (minqing.js). */
(function () {
  "use strict";
  const OM = (window.OM = window.OM || {});
  const ui = OM.ui;
  if (!ui || !OM.minqingTab) return;
  const {el, toast, getJSON, sendSaved} = ui;

  const FIELDS = {
    people: [["name", "姓名"], ["id_number", "身份证号（18 位）"], ["phone", "电话"],
             ["tags", "重点人群（可空，用；分隔）"], ["house", "房屋编码"]],
    houses: [["code", "房屋编码"], ["address", "地址"], ["kind", "类型（住宅/楼栋/自建房/商住/厂房/其他）"],
             ["lon", "经度"], ["lat", "纬度"]],
    units: [["code", "统一社会信用代码"], ["name", "单位名称"],
            ["kind", "类型（企业/商铺/学校/医院/幼儿园/养老机构/机关/社会组织/其他）"], ["phone", "电话"],
            ["lon", "经度"], ["lat", "纬度"]],
  };
  const NAMES = {people: "人员", houses: "房屋", units: "单位"};

  const kind = el("select", {id: "co-kind"},
    ...Object.keys(FIELDS).map((k) => el("option", {value: k}, NAMES[k])));
  const inputs = el("div", {id: "co-fields"});
  function renderFields() {
    inputs.replaceChildren(...FIELDS[kind.value].map(([name, label]) => el("div", {class: "field"},
      el("input", {type: "text", "data-name": name, maxlength: "100", placeholder: label,
                   "aria-label": label}))));
    if (FIELDS[kind.value].some(([n]) => n === "lon")) {
      const here = OM.here && OM.here.lon !== null ? [OM.here.lon, OM.here.lat] : OM.boot.fallback;
      inputs.querySelector('[data-name="lon"]').value = here[0];
      inputs.querySelector('[data-name="lat"]').value = here[1];
    }
  }
  kind.addEventListener("change", renderFields);
  renderFields();

  const form = el("form", {id: "collect-form", autocomplete: "off", onsubmit: (ev) => {
    ev.preventDefault();
    const row = {cell: OM.boot.user.cell};
    inputs.querySelectorAll("input").forEach((i) => { row[i.dataset.name] = i.value.trim(); });
    let item;
    try {
      item = OM.outbox.add("collect", "/m/api/ledger/collect", {kind: kind.value, row}, [],
                           "信息采集（" + NAMES[kind.value] + "）");
    } catch (e) { toast(e.message, true); return; }
    renderFields();
    sendSaved(item.key).then(load);
  }},
    el("div", {class: "field"}, el("label", {for: "co-kind"}, "采集对象（本网格）"), kind),
    inputs,
    el("button", {type: "submit", class: "primary", id: "co-submit", style: "width:100%"}, "提交镇街审核"));
  const list = el("ul", {id: "collect-list"});
  OM.minqingTab.append(el("h2", {}, "信息采集"), form, el("h3", {}, "我的采集 · 审核状态"), list);

  function card(s) {
    const d = s.data || {};
    return el("li", {class: "card collect " + s.status, "data-id": s.id},
      el("div", {class: "title"}, s.op_name + s.kind_name + " · " + (d.name || d.address || s.obj_key)),
      el("div", {class: "meta"}, s.status_name + " · " + (s.created_at || "").replace("T", " ").slice(0, 16)),
      s.reason ? el("div", {class: "err"}, "退回原因：" + s.reason) : "");
  }
  async function load() {
    try {
      const out = await getJSON("/m/api/ledger/collect");
      list.replaceChildren(...(out.submissions.length ? out.submissions.map(card)
        : [el("li", {class: "empty"}, "还没有采集记录")]));
    } catch (e) { /* offline or no record database: the outbox keeps what waits */ }
  }
  OM.collect = {load};
  load();
})();
