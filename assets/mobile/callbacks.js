/* OneMap phone: 回访待办 of the grid worker's own cell (issue 24, E10 事件回访). Each closed case
 * of the public in the cell that is due a callback, with its deadline (逾期 when past), and three
 * answers: 满意 / 基本满意 keep the case closed with the score; 不满意 asks the reason and sends
 * the case back to its handlers (the server's follow_up, through the incident service). Online
 * only: a callback is a conversation happening now. */
(function () {
  "use strict";
  const OM = (window.OM = window.OM || {});
  const ui = OM.ui;
  if (!ui || OM.boot.user.responder) return;
  const {el, toast, getJSON, postNow, $} = ui;
  const section = $("#tab-tasks");
  const list = el("ul", {id: "callback-list"});
  section.append(el("h2", {}, "回访待办"), list);

  async function answer(id, satisfaction, reason) {
    try {
      const r = await postNow("/m/api/callbacks/" + encodeURIComponent(id), {satisfaction, reason});
      toast(r.state === "closed" ? "已回访：" + id : "不满意，已重新办理：" + id);
      load();
    } catch (e) { toast("回访未提交：" + e.message, true); }
  }

  function card(c) {
    const reason = el("textarea", {rows: "2", maxlength: "500", placeholder: "不满意的原因（必填）",
                                   hidden: ""});
    const no = el("button", {type: "button", class: "danger", onclick: () => {
      if (reason.hidden) { reason.hidden = false; reason.focus(); return; }
      if (!reason.value.trim()) { toast("请填写不满意的原因", true); return; }
      answer(c.id, 1, reason.value.trim());
    }}, "不满意");
    return el("li", {class: "card callback" + (c.overdue ? " overdue" : ""), "data-id": c.id},
      el("div", {class: "title"}, c.title || c.id),
      el("div", {class: "meta"}, c.id + " · 回访期限 " + (c.due || "") + (c.overdue ? " · 已逾期" : "") +
        (c.phone ? " · 来电 " + c.phone : "")),
      reason,
      el("div", {class: "row"},
        el("button", {type: "button", class: "primary", onclick: () => answer(c.id, 5, "")}, "满意"),
        el("button", {type: "button", onclick: () => answer(c.id, 3, "")}, "基本满意"), no));
  }

  async function load() {
    try {
      const items = (await getJSON("/m/api/callbacks")).callbacks || [];
      list.replaceChildren(...(items.length ? items.map(card) : [el("li", {class: "meta"}, "暂无回访")]));
    } catch (e) { /* offline: the list stays as it was */ }
  }
  OM.callbacks = {load};
  const tab = $('nav.tabs button[data-tab="tasks"]');
  if (tab) tab.addEventListener("click", load);
  load();
})();
