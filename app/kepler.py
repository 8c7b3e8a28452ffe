"""kepler.gl for analysts, served fully by OneMap (no CDN, no other origin; SPEC §6, E15).

keplergl 0.4.0 ships its whole UI as one ESM bundle (``keplergl/static/widget.js``, an anywidget).
``KeplerGl.save_to_html`` loads kepler from unpkg/esm.sh and is blank offline (ecosystem notes §3),
so instead OneMap serves ``widget.js`` from a Flask route and hosts it in a tiny page with a fake
anywidget model. kepler's default basemap is a cartocdn style: the page replaces ``fetch``/XHR so
that any request for another origin's style gets OneMap's own local style (a plain background with
the town outlines) and any other cross-origin request fails locally; a Content-Security-Policy
header makes the browser refuse every other origin as a second guard.

Data goes in the widget's own format (``keplergl.serializers.serialize_dataset``): point tables as
``{"id", "data": {"columns", "data"}, "format": "df"}`` with ``lat``/``lon`` columns (kepler makes
point layers from those column names by itself), polygons as GeoJSON. ``kepler_json`` writes the
same datasets as a kepler.gl map file (``datasets`` + ``config``) that kepler.gl's "Load map" opens.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from pathlib import Path

import keplergl
import pandas as pd
from flask import Flask, Response, send_from_directory

KEPLER_STATIC = Path(keplergl.__file__).resolve().parent / "static"
STATIC_ROUTE = "/analytics/kepler-static"   # widget.js / widget.css
STYLE_ROUTE = "/analytics/kepler-style.json"  # the local basemap style

# kepler shows a thumbnail per basemap; an empty icon would request "/null".
# (a 1×1 dark PNG: no URL of any kind inside the page)
_ICON = ("data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mPg"
         "TjJ6DwACwQF/Zf0JZQAAAABJRU5ErkJggg==")

# Every other origin is refused by the browser on the kepler page (belt and braces with the
# fetch override below). kepler needs blob: workers and eval-free inline module script.
CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval' blob:; "
       "worker-src 'self' blob:; child-src 'self' blob:; img-src 'self' data: blob:; "
       "style-src 'self' 'unsafe-inline'; font-src 'self' data:; connect-src 'self' data: blob:")


def local_style(town_outlines: dict | None = None, background: str = "#0b1220") -> dict:
    """A MapLibre style with no remote source: a background and (optionally) town outlines."""
    sources: dict = {}
    layers: list[dict] = [{"id": "background", "type": "background",
                           "paint": {"background-color": background}}]
    if town_outlines:
        sources["towns"] = {"type": "geojson", "data": town_outlines}
        layers.append({"id": "towns-line", "type": "line", "source": "towns",
                       "paint": {"line-color": "#3b5b8a", "line-width": 1}})
    return {"version": 8, "name": "OneMap offline", "sources": sources, "layers": layers}


def frame_dataset(name: str, df: pd.DataFrame) -> dict:
    """A point table (needs ``lat`` and ``lon`` columns) in the widget's ``df`` format."""
    from keplergl.serializers import serialize_dataframe  # noqa: PLC0415

    return serialize_dataframe(df.reset_index(drop=True), name)


def geojson_dataset(name: str, fc: dict) -> dict:
    """A GeoJSON FeatureCollection in the widget's format."""
    return {"id": name, "data": fc, "format": "geojson"}


def point_layer(data_id: str, label: str, color: tuple[int, int, int], radius: float = 4,
                opacity: float = 0.85, tooltip: tuple[str, ...] = ()) -> dict:
    """A kepler point layer on a table's ``lat``/``lon`` (plus the fields its tooltip shows)."""
    return {"id": f"layer-{abs(hash(data_id)) % 10**8}", "type": "point", "config": {
        "dataId": data_id, "label": label, "color": list(color),
        "columns": {"lat": "lat", "lng": "lon", "altitude": None}, "isVisible": True,
        "visConfig": {"radius": radius, "opacity": opacity, "filled": True, "outline": False,
                      "thickness": 1}},
        "visualChannels": {"colorField": None, "colorScale": "quantile", "sizeField": None,
                           "sizeScale": "linear"},
        "_tooltip": list(tooltip)}


def default_config(center: tuple[float, float] | None = None, zoom: float = 9.5,
                   layers: list[dict] | None = None) -> dict:
    """kepler config: OneMap's offline style, the map over the city, optional point layers."""
    cfg: dict = {"version": "v1", "config": {
        "mapStyle": {"styleType": "onemap", "mapStyles": {"onemap": {
            "id": "onemap", "label": "OneMap 离线底图", "url": STYLE_ROUTE, "icon": _ICON,
            "layerGroups": []}}},
    }}
    if layers:
        tips = {ly["config"]["dataId"]: [{"name": f, "format": None} for f in ly.pop("_tooltip")]
                for ly in layers}
        cfg["config"]["visState"] = {"filters": [], "layers": layers, "interactionConfig": {
            "tooltip": {"enabled": True, "fieldsToShow": {k: v for k, v in tips.items() if v}}}}
    if center:
        cfg["config"]["mapState"] = {"longitude": center[0], "latitude": center[1],
                                     "zoom": zoom, "pitch": 0, "bearing": 0}
    return cfg


def page(datasets: dict[str, dict], config: dict | None = None, title: str = "OneMap kepler.gl",
         height: int = 640) -> str:
    """The HTML page that runs kepler.gl with ``datasets`` (name → widget dataset) offline."""
    state = {"data": datasets, "config": config or {}, "height": height, "mapbox_token": "",
             "theme": "", "app_name": title}
    # </script> inside JSON would end the script element early: escape "<" in the payload.
    payload = json.dumps(state, ensure_ascii=False, default=str).replace("<", "\\u003c")
    return _PAGE.replace("__TITLE__", html.escape(title)).replace("__STATE__", payload) \
        .replace("__STATIC__", STATIC_ROUTE).replace("__STYLE__", STYLE_ROUTE)


def kepler_json(datasets: dict[str, pd.DataFrame], config: dict | None = None,
                title: str = "OneMap") -> dict:
    """A kepler.gl map file (kepler.gl → Load map → this JSON) with the given point tables."""
    out = []
    for name, df in datasets.items():
        fields = [{"name": c, "type": _kepler_type(df[c]), "format": ""} for c in df.columns]
        rows = json.loads(df.to_json(orient="values", date_format="iso"))
        out.append({"version": "v1", "data": {"id": name, "label": name, "color": [],
                                                "allData": rows, "fields": fields}})
    cfg = (config or default_config()).get("config", {})
    return {"datasets": out, "config": {"version": "v1", "config": cfg},
            "info": {"app": "kepler.gl", "title": title, "source": "OneMap"}}


def _kepler_type(s: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(s):
        return "boolean"
    if pd.api.types.is_integer_dtype(s):
        return "integer"
    if pd.api.types.is_float_dtype(s):
        return "real"
    if pd.api.types.is_datetime64_any_dtype(s):
        return "timestamp"
    return "string"


def install(server: Flask, style: Callable[[], dict]) -> None:
    """Routes for the bundle and the local basemap style (``style()`` → a MapLibre style)."""
    if "kepler_static" in server.view_functions:
        return

    @server.get(f"{STATIC_ROUTE}/<path:name>", endpoint="kepler_static")
    def kepler_static(name: str):
        if name not in ("widget.js", "widget.css"):
            return Response(status=404)
        # 12 MB once, then from the browser cache: the bundle changes only with the package.
        resp = send_from_directory(KEPLER_STATIC, name, max_age=86400)
        if name.endswith(".js"):
            resp.mimetype = "text/javascript"
        return resp

    @server.get(STYLE_ROUTE, endpoint="kepler_style")
    def kepler_style():
        return style()


def respond(page_html: str) -> Response:
    """The kepler page as a response with the no-other-origin policy."""
    resp = Response(page_html, mimetype="text/html")
    resp.headers["Content-Security-Policy"] = CSP
    resp.headers["Cache-Control"] = "no-store"
    return resp


_PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>__TITLE__</title>
<link rel="icon" href="data:,"><link rel="stylesheet" href="__STATIC__/widget.css">
<style>html,body{margin:0;height:100%;background:#0b1220;overflow:hidden}
#k{width:100%;height:100%}</style></head>
<body><div id="k"></div>
<script>
// Offline guard: kepler asks carto's CDN for its basemap style. Answer every style request from
// OneMap's own local style and refuse every other cross-origin request here, before the browser
// would try the network (the CSP header refuses them too).
(function () {
  const STYLE = "__STYLE__";
  const realFetch = window.fetch.bind(window);
  const foreign = (u) => { try { return new URL(u, location.href).origin !== location.origin; }
                           catch (e) { return false; } };
  window.__blocked = [];
  window.fetch = function (input, init) {
    const url = typeof input === "string" ? input : (input && input.url) || String(input);
    if (foreign(url)) {
      window.__blocked.push(url);
      if (/style\\.json|\\/styles?\\//.test(url)) return realFetch(STYLE, init);
      return Promise.reject(new TypeError("offline: " + url));
    }
    return realFetch(input, init);
  };
  const open = XMLHttpRequest.prototype.open;
  XMLHttpRequest.prototype.open = function (method, url, ...rest) {
    if (foreign(url)) { window.__blocked.push(String(url));
      url = /style\\.json/.test(url) ? STYLE : "data:application/json,{}"; }
    return open.call(this, method, url, ...rest);
  };
})();
</script>
<script type="module">
import widget from "__STATIC__/widget.js";
const state = __STATE__;
// kepler fetches a custom style only from an absolute http(s) URL (a relative one becomes
// "/null"): make OneMap's style URL absolute on this origin.
const styles = (((state.config || {}).config || {}).mapStyle || {}).mapStyles || {};
for (const s of Object.values(styles)) {
  if (s.url && !/^https?:/.test(s.url)) s.url = new URL(s.url, location.href).href;
}
const listeners = {};
const model = {
  get: (k) => state[k], set: (k, v) => { state[k] = v; },
  on: (e, cb) => { (listeners[e] = listeners[e] || []).push(cb); }, off() {},
  save_changes() {}, send() {},
};
state.height = Math.max(state.height, window.innerHeight);
const el = document.getElementById("k");
const init = widget.initialize ? widget.initialize({model}) : null;
await init;
await widget.render({model, el});
window.__keplerReady = true;
</script></body></html>
"""
