"""/m/: the grid worker's phone page (网格员移动端): report, my tasks, patrol log (巡查), outbox.

Not a Dash app, on purpose: a grid worker reports from a phone in the rain with one bar of
signal, and a Dash page costs ~1 MB of React and renderer before the first input shows. This
page is one HTML document with the worker's bootstrap data inlined (categories with the recent
ones first, the own cell's centroid, the town's grid cells for the small map) and five small
plain-JS files (``assets/mobile/``: the outbox, photo resizing, the SVG mini map, the page, and
``live.js``: the push stream, so the task list refreshes by itself when a task arrives;
``dispatch.js``: a responder's or crew's dispatches with 确认/出发/到场/完成 and its position while
on the way, issue 17), and
``sw.js``, the service worker at ``/m/sw.js`` that keeps the page shell for a reload without
network (issue 17).
Everything after the first load goes through the JSON endpoints of ``app.mobile_api``; scope
(own reports and tasks only) is checked there, on the server.
"""

from __future__ import annotations

import html
import json
from typing import TYPE_CHECKING

from flask import Flask, Response, send_from_directory

from app.config import ASSETS_DIR
from app.context import AppContext
from app.screens.nav import nav_html

if TYPE_CHECKING:
    from grid.model import City

MOBILE_ASSETS = ASSETS_DIR / "mobile"
SCRIPTS = ("outbox.js", "photos.js", "minimap.js", "app.js", "live.js", "dispatch.js",
           "callbacks.js",   # 回访待办 of the cell (issue 24)
           "roster.js",      # 辖区花名册 (offline) and 走访/服务记录 (issue 24, app.http.ledger_mobile)
           "minqing.js", "collect.js",   # 民情日志 and 信息采集 (under 巡查, issue 24)
           "video.js")   # 附近视频 with the 流量提示 (issue 23; app.http.video_mobile)
STYLES = ("m.css", "video.css")
"""The phone's style sheets (video.css is added by video.js when the panel opens)."""
DEFAULT_RECENT = ("0101", "0107", "0106", "0108", "0302", "0202")
"""Categories offered first before a worker has reported anything (demo default)."""
MAP_SIMPLIFY_DEG = 0.0002   # ~20 m: cell outlines for a 360 px map, a few KB per town


def mount(server: Flask, ctx: AppContext) -> None:
    """Routes of /m/ (the page and its assets); the JSON endpoints are in app.mobile_api."""

    @server.get("/m/assets/<path:name>", endpoint="mobile_asset")
    def mobile_asset(name: str):
        return send_from_directory(MOBILE_ASSETS, name, max_age=3600)

    @server.get("/m/sw.js", endpoint="mobile_service_worker")
    def mobile_service_worker():
        """The offline app shell (issue 17): served under /m/ so its scope is the phone page
        (no ``Service-Worker-Allowed`` needed); never cached by HTTP, so a new one is seen at
        once. CSP ``worker-src 'self'`` (app.security) already allows it."""
        shell = json.dumps([f"/m/assets/{a}" for a in (*STYLES, *SCRIPTS)])
        body = (MOBILE_ASSETS / "sw.js").read_text(encoding="utf-8").replace("__SHELL__", shell)
        # the shell it keeps is the page's own list (SCRIPTS): a script added to the page is
        # kept for offline use without a second list to remember
        return Response(body, headers={"Cache-Control": "no-cache",
                                       "Content-Type": "text/javascript; charset=utf-8"})

    @server.get("/m/", endpoint="mobile_page")
    def mobile_page():
        from app.auth import require_actor  # noqa: PLC0415 (auth is installed before screens)
        from app.mobile_api import bootstrap  # noqa: PLC0415

        actor = require_actor()
        boot = bootstrap(ctx, actor)
        # the user's other screens (app.screens.nav), none for a grid worker
        return Response(render(boot, nav_html(actor.role, "m", skip=("wall",))),
                        mimetype="text/html")

    @server.get("/m", endpoint="mobile_page_noslash")
    def mobile_page_noslash():
        return mobile_page()


def render(boot: dict, nav: str = "") -> str:
    """The page: static markup, the bootstrap as inline JSON (not executed, so no CSP hash);
    ``nav``: the links to the user's other screens (``app.screens.nav.nav_html``)."""
    payload = json.dumps(boot, ensure_ascii=False, separators=(",", ":")).replace("<", "\\u003c")
    options = "".join(
        f'<optgroup label="{html.escape(g["name"])}">' + "".join(
            f'<option value="{c["code"]}">{html.escape(c["name"])}</option>' for c in g["items"])
        + "</optgroup>" for g in boot["categories"])
    scripts = "".join(f'<script src="/m/assets/{s}" defer></script>' for s in SCRIPTS)
    return (_PAGE.replace("__NAV__", nav).replace("__BOOT__", payload).replace("__OPTIONS__", options)
            .replace("__SCRIPTS__", scripts).replace("__WHO__", html.escape(boot["user"]["name"]))
            .replace("__WHERE__", html.escape(boot["user"]["where"]))
            .replace("__MAXP__", str(boot["max_photos"])))


def town_map(city: City, town_code: str, own_cell: str) -> dict:
    """Outlines of a town's grid cells (simplified, 5 decimals) and its bbox, for the mini map.

    City-level users (no town) get the towns instead."""
    cells = city.cells[city.cells["town_code"] == town_code] if town_code else city.cells.iloc[:0]
    if cells.empty:
        cells = city.towns
    geoms = cells.geometry.simplify(MAP_SIMPLIFY_DEG, preserve_topology=True)
    feats = []
    for code, g in zip(cells["code"], geoms, strict=True):
        gj = json.loads(json.dumps(g.__geo_interface__), parse_float=lambda x: round(float(x), 5))
        feats.append({"type": "Feature", "properties": {"code": str(code),
                                                         "own": str(code) == own_cell},
                      "geometry": {"type": gj["type"], "coordinates": gj["coordinates"]}})
    minx, miny, maxx, maxy = (round(float(v), 5) for v in cells.total_bounds)
    return {"features": feats, "bbox": [minx, miny, maxx, maxy]}


_PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1, viewport-fit=cover">
<meta name="theme-color" content="#0f3d75">
<title>网格员 · OneMap</title>
<link rel="stylesheet" href="/m/assets/m.css">
<script type="application/json" id="boot">__BOOT__</script>
__SCRIPTS__
</head><body>
<header><div class="who">__WHO__<span class="cell">__WHERE__</span></div>
<span id="net" class="net on">在线</span>__NAV__<a href="/logout" id="logout">退出</a></header>
<div id="waiting-banner" hidden></div>
<div id="notices" hidden aria-live="polite"></div>
<main>
<section id="tab-report">
 <form id="report-form" autocomplete="off">
  <div class="field"><label for="category">事件类别</label>
   <div id="recent" class="chips" aria-label="最近使用"></div>
   <select id="category" required><option value="">选择类别…</option>__OPTIONS__</select></div>
  <div class="field" id="report-photos"><span class="lbl">照片（最多 __MAXP__ 张）</span>
   <div class="thumbs"></div>
   <label class="big-btn">＋ 拍照 / 选图<input id="photo-input" type="file" accept="image/*"
    capture="environment" multiple hidden></label></div>
  <div class="field"><label for="description">情况描述</label>
   <textarea id="description" rows="2" maxlength="500" placeholder="发生了什么？在哪里？"></textarea></div>
  <div class="field"><span class="lbl">位置</span><div id="loc-status"></div>
   <svg id="map" role="img" aria-label="点击地图修正位置"></svg>
   <div class="row"><button type="button" id="zoom-in" aria-label="放大">＋</button>
   <button type="button" id="zoom-out" aria-label="缩小">－</button>
   <button type="button" id="use-gps">重新定位</button></div></div>
  <button id="submit" type="submit" class="primary">上报</button>
 </form>
</section>
<section id="tab-tasks" hidden><h2>我的任务</h2><ul id="task-list"></ul></section>
<section id="tab-patrol" hidden><h2>巡查日志</h2>
 <form id="patrol-form"><div class="field"><textarea id="patrol-note" rows="2" maxlength="500"
  placeholder="巡查情况（可空：仅打卡）"></textarea></div>
 <div class="field" id="patrol-photos"><div class="thumbs"></div>
  <label class="big-btn">＋ 拍照<input type="file" accept="image/*" capture="environment"
   multiple hidden></label></div>
 <button type="submit" class="primary" id="patrol-submit" style="width:100%">巡查打卡</button></form>
 <h3>最近巡查</h3><ul id="patrol-list"></ul></section>
<section id="tab-outbox" hidden><h2>待发送</h2><ul id="outbox-list"></ul>
 <p id="others-note" class="meta" hidden></p>
 <h3>已送达</h3><ul id="sent-list"></ul>
 <h3>我的上报 · 办理进度</h3><ul id="my-reports"></ul></section>
</main>
<div id="toast" class="toast" role="status" aria-live="polite"></div>
<nav class="tabs">
 <button type="button" data-tab="report" class="on">上报</button>
 <button type="button" data-tab="tasks">任务<span id="task-count" class="badge"></span></button>
 <button type="button" data-tab="patrol">巡查</button>
 <button type="button" data-tab="outbox">待发送<span id="outbox-count" class="badge"></span></button>
</nav>
</body></html>
"""
