// Place names over the console map (issue 21): towns always, villages once zoomed in. HTML, not
// map text: MapLibre's text needs glyph files that an offline deployment does not have. The
// names come from the figure's "labels" trace (app/screens/console/figures.py): text, and in
// customdata the zoom from which each shows. A name that would cover one already placed waits.
(function () {
  "use strict";
  var state = {map: null, sig: "", els: []};

  function graphDiv() { return document.querySelector("#map .js-plotly-plot"); }

  function labelsTrace(gd) {
    var out = null;
    (gd.data || []).forEach(function (t) { if (t.meta === "labels") { out = t; } });
    return out;
  }

  function place() {
    var map = state.map, box = document.getElementById("map-labels");
    if (!map || !box) { return; }
    var z = map.getZoom(), placed = [], shown = 0;
    var W = box.clientWidth, H = box.clientHeight;
    state.els.forEach(function (e) {
      if (z < e.min) { e.el.style.visibility = "hidden"; return; }
      var p = map.project([e.lon, e.lat]);
      var w = e.w, h = e.h;       // measured once (build): no layout forced per label per move
      var r = {x0: p.x - w / 2, x1: p.x + w / 2, y0: p.y - h / 2, y1: p.y + h / 2};
      var off = r.x1 < 0 || r.y1 < 0 || r.x0 > W || r.y0 > H;
      var hit = placed.some(function (q) {
        return r.x0 < q.x1 && q.x0 < r.x1 && r.y0 < q.y1 && q.y0 < r.y1;
      });
      if (off || hit) { e.el.style.visibility = "hidden"; return; }
      placed.push(r);
      shown += 1;
      e.el.style.visibility = "visible";
      e.el.style.transform = "translate(" + Math.round(r.x0) + "px," + Math.round(r.y0) + "px)";
    });
    box.dataset.visible = String(shown);
  }

  function build(gd, map) {
    var t = labelsTrace(gd), box = document.getElementById("map-labels");
    if (!box) { return; }
    var sig = t ? (t.text || []).join("|") : "";
    if (map === state.map && sig === state.sig) { return; }
    if (map !== state.map) { map.on("move", place); map.on("resize", place); }
    state.map = map;
    state.sig = sig;
    box.innerHTML = "";
    state.els = [];
    if (!t) { return; }
    var mins = t.customdata || [];
    for (var i = 0; i < (t.text || []).length; i++) {   // towns first: they win a crowded spot
      var el = document.createElement("div");
      el.className = "map-label " + (+mins[i] > 0 ? "village" : "town");
      el.textContent = t.text[i];
      box.appendChild(el);
      state.els.push({el: el, lon: +t.lon[i], lat: +t.lat[i], min: +mins[i] || 0});
    }
    state.els.forEach(function (e) { e.w = e.el.offsetWidth; e.h = e.el.offsetHeight; });
    box.dataset.count = String(state.els.length);
    place();
  }

  setInterval(function () {
    var gd = graphDiv(), fl = gd && gd._fullLayout;
    var sub = fl && fl.map && fl.map._subplot;
    if (sub && sub.map) { build(gd, sub.map); }
  }, 500);
})();
