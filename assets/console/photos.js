// The console's photos enlarge in place (issue 21): a click on a case photo opens it in the
// lightbox (#lightbox, app/screens/console/layout.py) with its caption (上报照片 / 处置后照片);
// 关闭, a click outside or Esc closes it. Nothing is fetched from outside (offline).
// Also: the queue table's own English tooltips (Dash DataTable) in the clerk's language.
(function () {
  "use strict";
  function box() { return document.getElementById("lightbox"); }

  function close() { var b = box(); if (b) { b.hidden = true; b.querySelector("img").removeAttribute("src"); } }

  document.addEventListener("click", function (ev) {
    var t = ev.target;
    if (t && t.matches && t.matches("img.zoomable")) {
      var b = box();
      if (!b) { return; }
      b.querySelector("img").src = t.src;
      var cap = t.closest("figure") && t.closest("figure").querySelector("figcaption");
      b.querySelector(".lb-caption").textContent = cap ? cap.textContent : "";
      b.hidden = false;
      b.querySelector(".lb-close").focus();
      return;
    }
    if (t && (t.id === "lightbox" || (t.classList && t.classList.contains("lb-close")))) { close(); }
  });
  document.addEventListener("keydown", function (ev) { if (ev.key === "Escape") { close(); } });

  var WORDS = {"Toggle filter case sensitivity": "区分大小写", "Sort": "排序",
               "Previous page": "上一页", "Next page": "下一页", "First page": "首页",
               "Last page": "末页"};
  function translate(root) {
    (root.querySelectorAll ? root.querySelectorAll("[title],[aria-label]") : []).forEach(function (el) {
      ["title", "aria-label"].forEach(function (a) {
        var v = el.getAttribute(a);
        if (v && WORDS[v]) { el.setAttribute(a, WORDS[v]); }
      });
    });
  }
  new MutationObserver(function (muts) {
    muts.forEach(function (m) {
      if (m.type === "attributes") { translate(m.target.parentNode || document); }
      m.addedNodes.forEach(function (n) { if (n.nodeType === 1) { translate(n.parentNode || n); } });
    });
  }).observe(document.documentElement, {childList: true, subtree: true, attributes: true,
                                        attributeFilter: ["title", "aria-label"]});
})();
