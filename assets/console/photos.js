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

  // the words the table, the map (MapLibre), its tool bar (Plotly) and the number fields
  // (Dash) put in titles and aria-labels
  var WORDS = {"Toggle filter case sensitivity": "区分大小写", "Sort": "排序",
               "Previous page": "上一页", "Next page": "下一页", "First page": "首页",
               "Last page": "末页", "Map": "地图", "Toggle attribution": "地图来源",
               "Download plot as a PNG": "下载为图片", "Share chart...": "分享",
               "Pan": "平移", "Box Select": "框选", "Lasso Select": "套索选择",
               "Zoom in": "放大", "Zoom out": "缩小", "Reset view": "复位视图",
               "Decrease value": "减少", "Increase value": "增加"};
  function fix(el) {
    ["title", "aria-label"].forEach(function (a) {
      var v = el.getAttribute(a);
      if (v && WORDS[v]) { el.setAttribute(a, WORDS[v]); }
    });
  }
  // only what was added or re-labelled is looked at (linear in what a re-render adds)
  new MutationObserver(function (muts) {
    for (var i = 0; i < muts.length; i++) {
      if (muts[i].type === "attributes") { fix(muts[i].target); continue; }
      var added = muts[i].addedNodes;
      for (var j = 0; j < added.length; j++) {
        var n = added[j];
        if (n.nodeType !== 1) { continue; }
        if (n.hasAttribute("title") || n.hasAttribute("aria-label")) { fix(n); }
        var inner = n.querySelectorAll("[title],[aria-label]");
        for (var k = 0; k < inner.length; k++) { fix(inner[k]); }
      }
    }
  }).observe(document.body, {childList: true, subtree: true, attributes: true,
                             attributeFilter: ["title", "aria-label"]});
})();
