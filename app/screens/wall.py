"""/wall: the command-hall video wall (指挥大厅大屏, M1/M3), read-only, live, offline.

Layout for 3840×2160 (sizes in vh so 1920×1080 keeps the same proportions): KPI tiles on the left,
the one map in the middle (layers.compose), the event ticker and charts on the right, the theme
(专题) and the emergency banner (应急模式) on top. No inputs, no hover-only information.

Live without reloads (docs/architecture.md "Live screens"): the browser keeps the last stream ids
it has seen in ``wall-cursor``; every second ``tick`` XREADs ``om:alarms`` and ``om:inc:feed``
after them and returns only a small delta (or nothing: HTTP 204). A clientside function
(assets/wall/wall.js) turns the delta into a ``Patch`` of the map figure by id, so the figure is
never resent on a tick. The page is built once per theme; themes rotate on a timer or are pinned
with ``?theme=<code|名称>``; ``?town=<code|名称>`` focuses one town/street (raw points and
cameras' fields of view). Opened with ``/wall/?kiosk=<token>`` (app.auth).

Data: ``ctx.devices`` (sensors.registry), ``om:dev:state``, ``om:alarms``, ``om:inc:feed``,
``ctx.incidents`` (open_incidents_frame, kpis, emergency_state), ``ctx.resources``,
sensors.health.summary; read only. One ``WallSources`` per wall app holds what it reads and its
device index; a bench or test passes its own device frames as a constructor argument
(``WallSources(ctx, devices=(sensors, cameras))``), never through the context. Service errors are
not swallowed: a failing read fails the callback (the browser keeps its last picture and the
server logs the traceback), it is never turned into an empty, healthy-looking wall.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from functools import cached_property
from urllib.parse import parse_qs

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from dash import (
    ClientsideFunction,
    Dash,
    Input,
    Output,
    Patch,
    State,
    dcc,
    html,
    no_update,
)
from dash.exceptions import PreventUpdate
from flask import Flask

from app.config import ASSETS_DIR
from app.context import AppContext
from app.live import FALLBACK_POLL_MS
from app.timefmt import cst_day_start, fmt_cst

# stream and hash names come from their owners' keys.py (docs/architecture.md), never literals
from incidents.keys import ALL as INCIDENTS_ALL
from incidents.keys import FEED
from layers import alarms as alarms_layer
from layers import basemap, compose, emergency_areas, feed, hexbin, palette
from layers.themes import KPI_KEYS, THEMES, get_theme, next_theme
from sensors.health import WARM_KNOWN_SHARE
from sensors.health import summary as health_summary
from sensors.keys import ALARMS, DEV_STATE

log = logging.getLogger(__name__)

TICK_MS = 500             # live poll period: an alarm shows within ~0.5–1 s (promise: < 2 s, even on a
                          # busy server); an idle poll is an HTTP 204 of ~2 ms
ROTATE_S = 60             # theme rotation period on the wall (轮播), seconds; demo default
CHART_S = 30              # trend/category charts refresh period, seconds
ALARM_REPLAY = 5000       # stream entries folded at page load to find the active alarms
TICKER_MAX = 14           # lines in the event ticker
XREAD_COUNT = 500         # most entries one tick takes from each stream
DEVICE_KPI_S = 10.0       # online rates: recomputed on alarm ticks at most this often (one
                          # HGETALL of om:dev:state is ~75 % of a tick's cost at stress size)
DEVICE_KPI_IDLE_S = 30.0  # ... and at least this often even without alarms
INCIDENT_KPI_S = 5.0      # on-time rate: at most this often on ticks with incident changes
MAP_W, MAP_H = 0.55, 0.72   # share of the viewport the map box gets, when not measured
SITUATION_MIN_SOURCES = 3   # an open incident gathering this many sources is a situation (态势)
FOCUS_MIN_M = 1500.0        # a focused view spans at least this (a few sources on one street
                            # must not zoom the wall to one building)


# --- data sources (all reads; the wall never writes) -------------------------------------------
@dataclass
class DeviceIndex:
    """Registry frames for the map (static per process), each device's H3 cell and position, and
    per theme the devices it shows grouped by hexagon (for the worst state of a hexagon)."""

    sensors: pd.DataFrame
    cameras: pd.DataFrame
    hex_of: dict[int, dict[str, str]] = field(default_factory=dict)      # res → id → h3 cell
    pos: dict[str, tuple[float, float]] = field(default_factory=dict)    # device id → lon, lat
    registry: object | None = None     # sensors.registry.DeviceRegistry when read from it
    _themes: dict[str, tuple[set, dict]] = field(default_factory=dict)

    def theme(self, code: str, res: int = hexbin.DEFAULT_RES) -> tuple[set[str], dict[str, list[str]]]:
        """(ids the theme shows, h3 cell at ``res`` → those ids)."""
        if (code, res) not in self._themes:
            t = THEMES.get(code, THEMES["overview"])
            data = compose.MapData(None, self.sensors, self.cameras, {}, None, None, None)
            sens, cams = compose.theme_devices(data, t)
            ids = set(sens["id"]) | set(cams["id"])
            members: dict[str, list[str]] = {}
            for d in ids:
                members.setdefault(self.hex_of[res][d], []).append(d)
            self._themes[(code, res)] = (ids, members)
        return self._themes[(code, res)]


def _frame(gdf, cols: tuple[str, ...]) -> pd.DataFrame:  # noqa: ANN001 (GeoDataFrame or frame)
    out = pd.DataFrame({c: gdf[c].to_numpy() for c in cols if c in gdf.columns})
    out["id"] = out["id"].astype(str)
    return out


def device_index(ctx: AppContext,
                 devices: tuple[pd.DataFrame, pd.DataFrame] | None = None) -> DeviceIndex:
    """Sensors and cameras as plain frames plus their H3 cells: the context's registry
    (``ctx.devices``), or the ``(sensors, cameras)`` frames a caller gives (bench, tests)."""
    reg = None
    if devices is not None:
        sensors, cameras = devices
    else:
        reg = ctx.devices
        sensors, cameras = reg.sensors, reg.cameras
    s = _frame(sensors, ("id", "type", "lon", "lat", "town_code"))
    c = _frame(cameras, ("id", "cls", "lon", "lat", "heading_deg", "fov_deg", "range_m",
                         "town_code"))
    c["cls"] = pd.to_numeric(c["cls"], errors="coerce").fillna(3).astype(int)
    for res in hexbin.RES_CHOICES:
        s[f"h3_{res}"] = hexbin.cells_of(s["lon"], s["lat"], res) if len(s) else []
        c[f"h3_{res}"] = hexbin.cells_of(c["lon"], c["lat"], res) if len(c) else []
    idx = DeviceIndex(s, c, registry=reg)
    for frame in (s, c):
        for res in hexbin.RES_CHOICES:
            idx.hex_of.setdefault(res, {}).update(zip(frame["id"], frame[f"h3_{res}"], strict=True))
        for dev, lo, la in zip(frame["id"], frame["lon"], frame["lat"], strict=True):
            idx.pos[dev] = (round(float(lo), 5), round(float(la), 5))
    return idx


@dataclass
class WallSources:
    """What one wall app reads: the context, and the device frames when a caller (the bench's
    stress registry, a test's stand-in frames) gives its own instead of ``ctx.devices``.

    Owns the wall's one cache, the device index (static per process)."""

    ctx: AppContext
    devices: tuple[pd.DataFrame, pd.DataFrame] | None = None

    @cached_property
    def index(self) -> DeviceIndex:
        """The device index, built on first use."""
        return device_index(self.ctx, self.devices)


def open_incidents(ctx: AppContext) -> pd.DataFrame:
    """Open incidents (IncidentService.open_incidents_frame)."""
    return ctx.incidents.open_incidents_frame()


def last_id(r, stream: str) -> str:  # noqa: ANN001
    """The newest entry id of a stream ('0-0' when empty): where a new page starts reading."""
    got = r.xrevrange(stream, count=1)
    return got[0][0] if got else "0-0"


def active_alarms(r) -> pd.DataFrame:  # noqa: ANN001
    """Active episodes: the last ALARM_REPLAY entries of om:alarms folded in order."""
    entries = r.xrevrange(ALARMS, count=ALARM_REPLAY)
    return alarms_layer.fold(reversed(entries))


def device_kpis(r, idx: DeviceIndex) -> dict:  # noqa: ANN001
    """Online rates (在线率) of sensors and cameras: sensors.health.summary (heard from and not
    offline) for the real registry, else from om:dev:state alone.

    While too few devices are known yet (after a restart: heard from, or declared offline by the
    health sweep; sensors.health.WARM_KNOWN_SHARE) a rate is None and ``*_warming`` is True: the
    tile says 统计中 (warming up), never a false outage."""
    if idx.registry is not None:
        h = health_summary(r, idx.registry)
        warm = h.get("warming_up", {})
        return {"device_online": None if warm.get("sensors") else h["sensors"]["online_rate"],
                "camera_online": None if warm.get("cameras") else h["cameras"]["online_rate"],
                "device_warming": bool(warm.get("sensors")),
                "camera_warming": bool(warm.get("cameras"))}
    states = r.hgetall(DEV_STATE)
    off_cam = off_sens = known_cam = known_sens = 0
    for k, v in states.items():
        if k not in idx.pos:                         # only devices of this registry count
            continue
        cam = k.startswith("cam-")
        known_cam += cam
        known_sens += not cam
        if v == "offline":
            if cam:
                off_cam += 1
            else:
                off_sens += 1
    n_s, n_c = max(len(idx.sensors), 1), max(len(idx.cameras), 1)
    warm_s = known_sens < WARM_KNOWN_SHARE * len(idx.sensors)
    warm_c = known_cam < WARM_KNOWN_SHARE * len(idx.cameras)
    return {"device_online": None if warm_s else round(1 - off_sens / n_s, 4),
            "camera_online": None if warm_c else round(1 - off_cam / n_c, 4),
            "device_warming": warm_s, "camera_warming": warm_c}


def incident_kpis(ctx: AppContext, frame: pd.DataFrame | None = None, now: float | None = None,
                  counts: bool = True) -> dict:
    """Open incidents by tier and overdue now (from the open-incidents frame, when ``counts``),
    on-time rate today (China Standard Time day, from IncidentService.kpis; ``on_time_rate``:
    the overdue-now cases count as late, so the two tiles tell one story).

    A live tick asks only for the rate: the tier and overdue tiles are then counted in the
    browser from the map's own incident traces (assets/wall/wall.js), which the tick keeps
    current, so no tick reads every open incident."""
    from layers.incidents import normalise  # noqa: PLC0415

    now = time.time() if now is None else now
    out: dict = {"on_time": None}
    if counts:
        f = normalise(open_incidents(ctx) if frame is None else frame, now=now)
        tiers = f["tier"].value_counts()
        out.update({"tier_city": int(tiers.get("city", 0)), "tier_town": int(tiers.get("town", 0)),
                    "tier_department": int(tiers.get("department", 0)),
                    "overdue": int(f["overdue"].sum())})
    day0 = cst_day_start(now)                        # today in China Standard Time
    k = ctx.incidents.kpis(None, day0, now)
    out.update(on_time_rate(k))
    return out


def on_time_rate(k: dict) -> dict:
    """按时率 (today) that agrees with 当前超期: of the steps (受理, 派遣, 处置) finished today and
    the cases overdue now (late and not done yet), the share done in time. Finished steps alone
    read 95.5 % beside 187 overdue cases: the late ones had simply not finished. ``on_time_done``
    is the old measure (finished steps only), kept for the record."""
    num = sum(k.get(c, 0) for c in ("accepted_on_time", "dispatched_on_time", "handled_on_time"))
    den = sum(k.get(c, 0) for c in ("accepted", "dispatched", "handled"))
    late = int(k.get("overdue_now", 0))
    return {"on_time": round(num / (den + late), 4) if den + late else None,
            "on_time_done": round(num / den, 4) if den else None, "overdue_total": late}


def emergency(ctx: AppContext) -> dict:
    """应急模式 as switched on by the city commander (IncidentService.emergency_state): {on, note}."""
    st = ctx.incidents.emergency_state()
    if not st:
        return {"on": False, "note": ""}
    until = fmt_cst(float(st.get("until", 0)), "%H:%M")
    return {"on": True, "note": f"{st.get('reason') or '应急处置'} · 至 {until}"}


def focus_situation(ctx: AppContext, frame: pd.DataFrame | None) -> dict | None:
    """态势 in focus: the largest open incident with many sources (``SITUATION_MIN_SOURCES``):
    a situation incident first (a ``situation`` family, when the frame carries it), then
    the most sources, the gravest severity, the newest. ``{id, title, lon, lat, severity,
    sources: [{lon, lat, channel}]}`` for ``layers.situation``, or None."""
    if frame is None or frame.empty or "n_sources" not in frame:
        return None
    f = frame[frame["n_sources"] >= SITUATION_MIN_SOURCES].copy()
    if f.empty:
        return None
    # the intake's situation family (incidents.situations), when the frame carries it
    f["_sit"] = (f["situation"].astype(str) != "").astype(int) if "situation" in f else 0
    f["_sev"] = f["severity"].map({s: i for i, s in enumerate(palette.SEVERITY_ORDER)}).fillna(0)
    row = f.sort_values(["_sit", "n_sources", "_sev", "created_ts"], ascending=False).iloc[0]
    got = ctx.incidents.store.load_many([str(row["id"])])
    if not got:
        return None
    inc = got[0]
    return {"id": inc.id, "title": inc.title, "lon": inc.lon, "lat": inc.lat,
            "severity": inc.severity,
            "sources": [{"lon": s.get("lon"), "lat": s.get("lat"), "channel": s.get("channel", "")}
                        for s in inc.sources]}


def focus_bounds(situation: dict | None, em_state: dict | None
                 ) -> tuple[float, float, float, float] | None:
    """What a focused wall shows: the situation and its sources, else the emergency area; at
    least ``FOCUS_MIN_M`` across. None: nothing to focus (the wall shows the city)."""
    pts: list[tuple[float, float]] = []
    if situation:
        pts = [(float(s["lon"]), float(s["lat"])) for s in situation.get("sources", [])
               if s.get("lon") is not None and s.get("lat") is not None]
        pts.append((float(situation["lon"]), float(situation["lat"])))
    elif em_state:
        for ring in emergency_areas.rings(em_state.get("area")):
            pts += ring
    if not pts:
        return None
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    cx, cy = (min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2
    half_lat = FOCUS_MIN_M / 2 / emergency_areas.M_PER_DEG_LAT
    half_lon = half_lat / max(np.cos(np.radians(cy)), 1e-6)
    return (min(min(xs), cx - half_lon), min(min(ys), cy - half_lat),
            max(max(xs), cx + half_lon), max(max(ys), cy + half_lat))


def focus_from(search: str | None) -> bool:
    """``?focus=situation`` (or ``?focus=1``): the wall zooms to the active situation."""
    asked = (parse_qs((search or "").lstrip("?")).get("focus") or [""])[0]
    return asked.lower() in ("situation", "1", "true", "态势")


# --- the figure --------------------------------------------------------------------------------
def town_code_from(ctx: AppContext, search: str | None) -> str | None:
    """``?town=<code or name>``: a wall screen focused on one town/street (镇街), else None."""
    asked = (parse_qs((search or "").lstrip("?")).get("town") or [""])[0]
    if not asked:
        return None
    towns = ctx.city.towns
    hit = towns[(towns["code"] == asked) | (towns["name"] == asked)]
    return str(hit["code"].iloc[0]) if len(hit) else None


def view_for(ctx: AppContext, screen: dict | None, town: str | None = None,
             focus: tuple[float, float, float, float] | None = None) -> compose.View:
    """Fit the city (or one town, or the ``focus`` bounds: a situation) into the map area of
    this screen; dots scale with the height. Zoomed in on a town or a situation the map draws
    raw points and cameras' fields of view."""
    screen = screen or {}
    w = int(screen.get("w") or 1920)
    h = int(screen.get("h") or 1080)
    mw = int(screen.get("mw") or w * MAP_W)    # the map box as measured in the browser
    mh = int(screen.get("mh") or h * MAP_H)
    bounds = ctx.city.boundary.bounds
    if town is not None:
        bounds = ctx.city.towns.loc[ctx.city.towns["code"] == town].total_bounds
    if focus is not None:
        bounds = focus
    zoomed = town is not None or focus is not None
    center, zoom = basemap.fit_view(tuple(bounds), mw, mh, padding=0.08 if focus else 0.03)
    return compose.View(center, zoom, ctx.settings.tile_url, ctx.settings.tile_crs,
                        size_scale=max(1.0, h / 1080),
                        bbox=tuple(float(b) for b in bounds) if zoomed else None)


def map_data(src: WallSources) -> tuple[compose.MapData, dict]:
    """Everything the map draws, plus the stream cursor taken BEFORE the reads (nothing lost)."""
    ctx = src.ctx
    r = ctx.redis
    cursor = {"a": last_id(r, ALARMS), "f": last_id(r, FEED), "seq": 0, "n": 0,
              "kt": time.time(), "ki": time.time()}
    idx = src.index
    states = r.hgetall(DEV_STATE)
    frame = open_incidents(ctx)
    data = compose.MapData(ctx.city, idx.sensors, idx.cameras, states, frame,
                           active_alarms(r), ctx.resources,
                           emergency=ctx.incidents.emergency_state(),
                           situation=focus_situation(ctx, frame))
    return data, cursor


def legend_children(legends) -> list:  # noqa: ANN001
    out = []
    for lg in legends:
        items = [html.Span([html.Span(className=f"sw sw-{it.shape}",
                                      style={"--c": it.color}), it.label], className="lg-item")
                 for it in lg.items]
        out.append(html.Div([html.Span(lg.title, className="lg-title"), *items],
                            className="lg-block"))
    return out


def _dark_layout(**kw) -> dict:
    base = {"paper_bgcolor": "rgba(0,0,0,0)", "plot_bgcolor": "rgba(0,0,0,0)",
            "font": {"color": palette.TEXT, "size": 14}, "margin": {"l": 8, "r": 8, "t": 8, "b": 8},
            "showlegend": False}
    base.update(kw)
    return base


def new_incidents_per_hour(r, start_s: float, hours: int = 24) -> list[int]:  # noqa: ANN001
    """Incidents created in each hour from ``start_s`` (M1/M25 the situation as it is), by each
    incident's own ``created_ts``
    (the ``om:inc:all`` index), in one round trip. Not by when their feed entry was written:
    an import or the demo's history writes weeks of past incidents in one minute."""
    pipe = r.pipeline(transaction=False)
    for h in range(hours):
        lo = int(start_s) + h * 3600
        pipe.zcount(INCIDENTS_ALL, lo, f"({lo + 3600}" if h < hours - 1 else "+inf")
    return [int(n) for n in pipe.execute()]


def trend_figure(r, now: float | None = None, font: float = 14) -> go.Figure:  # noqa: ANN001
    """Alarms and new incidents per hour over the last 24 h: alarms from the alarm stream's
    time-ordered ids (raised live), incidents by their own creation time."""
    now = time.time() if now is None else now
    start = int((now - 24 * 3600) * 1000)
    hours = np.arange(24)
    a = np.zeros(24, int)
    for eid, f in r.xrange(ALARMS, min=f"{start}-0", count=20000):
        if f.get("event") == "raise":
            a[min(23, (int(eid.split("-")[0]) - start) // 3_600_000)] += 1
    i = np.array(new_incidents_per_hour(r, start / 1000), int)
    labels = [fmt_cst(start / 1000 + (h + 1) * 3600, "%H时") for h in hours]
    fig = go.Figure([
        go.Bar(x=labels, y=a.tolist(), name="告警", marker_color=palette.LEVEL_COLORS["orange"]),
        go.Scatter(x=labels, y=i.tolist(), name="新事件", mode="lines+markers",
                   line={"color": palette.ACCENT, "width": 3}),
    ], layout=_dark_layout(
        font={"color": palette.TEXT, "size": font}, showlegend=True,
        legend={"orientation": "h", "x": 0, "y": 1.18, "font": {"size": font}},
        xaxis={"tickfont": {"size": font * 0.8}, "gridcolor": "#173454", "nticks": 8},
        yaxis={"tickfont": {"size": font * 0.8}, "gridcolor": "#173454"},
        margin={"l": 3 * font, "r": font, "t": 2.6 * font, "b": 2.2 * font}, bargap=0.25))
    return fig


def category_figure(frame: pd.DataFrame, categories: tuple[str, ...] | None,
                    font: float = 14) -> go.Figure:
    """Open incidents by top-level category (事件分类), largest first."""
    from grid.categories import CATEGORIES  # noqa: PLC0415
    from layers.incidents import normalise  # noqa: PLC0415

    f = normalise(frame, categories)
    top = f["category"].astype(str).str[:2].map(lambda c: CATEGORIES[c].name if c in CATEGORIES else c)
    counts = top.value_counts().head(8).sort_values()
    fig = go.Figure(go.Bar(x=counts.to_numpy().tolist(), y=counts.index.tolist(), orientation="h",
                           marker_color=palette.ACCENT, text=counts.to_numpy().tolist(),
                           textposition="outside", textfont={"size": font, "color": palette.TEXT},
                           cliponaxis=False),
                    layout=_dark_layout(font={"color": palette.TEXT, "size": font},
                                        xaxis={"visible": False},
                                        yaxis={"tickfont": {"size": font}},
                                        margin={"l": 110 * font / 14, "r": 50, "t": 6, "b": 6}))
    return fig


# --- the live tick -----------------------------------------------------------------------------
def tick(src: WallSources, cursor: dict, theme: str = "overview", hexes_on: bool = False,
         res: int = hexbin.DEFAULT_RES) -> dict | None:
    """One poll: what came after ``cursor`` in both streams, as a small delta (None: nothing).

    Returns {"cursor", "delta", "kpi", "ticker"}; ``delta`` holds alarm events, incident changes,
    device states of the devices named in the alarms, and recoloured hexagons (worst state).
    """
    ctx = src.ctx
    r = ctx.redis
    now = time.time()
    got = r.xread({ALARMS: cursor.get("a", "$"), FEED: cursor.get("f", "$")}, count=XREAD_COUNT)
    stale = now - float(cursor.get("kt") or 0) >= DEVICE_KPI_IDLE_S
    if not got and not stale:
        return None
    new_cursor = dict(cursor)
    towns = ctx.city.town_names
    alarms, incs, ticker = [], [], []
    for stream, entries in got or []:
        if not entries:
            continue
        if stream == ALARMS:
            new_cursor["a"] = entries[-1][0]
            for eid, f in entries:
                a = feed.alarm_item(eid, f)
                alarms.append(a)
                if a["ev"] != "clear" or len(entries) < 50:
                    ticker.append(feed.alarm_text(a, towns))
        else:
            new_cursor["f"] = entries[-1][0]
            cats = THEMES.get(theme, THEMES["overview"]).categories
            for eid, f in entries:
                i = feed.incident_item(eid, f)
                i["in"] = not cats or i["cat"].startswith(tuple(cats))   # the theme's filter
                incs.append(i)
                ticker.append(feed.incident_text(i, towns))
    delta: dict = {"alarms": alarms, "incidents": incs}
    kpi: dict = {}
    if alarms:
        idx = src.index
        devs = sorted({a["dev"] for a in alarms if a["dev"]})
        states = dict(zip(devs, r.hmget(DEV_STATE, devs), strict=True)) if devs else {}
        shown, members = idx.theme(theme, res)
        delta["devices"] = {d: {"state": s or "normal",
                                "color": palette.STATE_COLORS.get(s or "normal"),
                                "size": _state_size(s or "normal", d),
                                "lon": idx.pos.get(d, (None, None))[0],
                                "lat": idx.pos.get(d, (None, None))[1],
                                "in": d in shown, "cam": d.startswith("cam-")}
                            for d, s in states.items()}
        hexes: dict[str, dict[str, int]] = {}
        if hexes_on:
            for h in sorted({idx.hex_of[res][d] for d in devs if d in shown}):
                worst = palette.worst_state(s for s in r.hmget(DEV_STATE, members[h]) if s)
                hexes.setdefault("hex_devices", {})[h] = palette.STATE_RANK[worst]
        delta["hex"] = hexes
    if (alarms and now - float(cursor.get("kt") or 0) >= DEVICE_KPI_S) or stale:
        kpi.update(device_kpis(r, src.index))
        new_cursor["kt"] = now
    if incs and now - float(cursor.get("ki") or 0) >= INCIDENT_KPI_S:
        kpi.update(incident_kpis(ctx, counts=False))
        new_cursor["ki"] = now
    new_cursor["seq"] = int(cursor.get("seq", 0)) + 1
    delta["seq"] = new_cursor["seq"]
    delta["ts"] = int(time.time() * 1000)
    return {"cursor": new_cursor, "delta": delta, "kpi": kpi, "ticker": ticker[-TICKER_MAX:]}


def _state_size(state: str, dev: str) -> float:
    from layers.points import STATE_SIZES  # noqa: PLC0415

    return STATE_SIZES.get(state, 5) * (1.25 if dev.startswith("cam-") else 1.0)


def ticker_line(t: dict, fresh: bool) -> html.Div:
    return html.Div([html.Span(t["time"], className="tk-time"),
                     html.Span(t["tag"], className="tk-tag", style={"--c": t["color"]}),
                     html.Span(t["text"], className="tk-text")],
                    className="tk-line fresh" if fresh else "tk-line",
                    **{"data-dev": t["dev"]})


def initial_ticker(ctx: AppContext) -> list:
    r = ctx.redis
    towns = ctx.city.town_names
    lines = [(eid, feed.alarm_text(feed.alarm_item(eid, f), towns))
             for eid, f in r.xrevrange(ALARMS, count=TICKER_MAX)]
    lines += [(eid, feed.incident_text(feed.incident_item(eid, f), towns))
              for eid, f in r.xrevrange(FEED, count=TICKER_MAX)]
    lines.sort(key=lambda x: tuple(int(p) for p in x[0].split("-")), reverse=True)
    return [ticker_line(t, False) for _, t in lines[:TICKER_MAX]]


# --- page ----------------------------------------------------------------------------------------
KPI_TILES: dict[str, tuple[str, list[tuple[str, str, str]]]] = {
    # kpi key → (title, [(element id suffix, label, colour)])
    # each title says its period: 当前 = now (open work), 今日 = since 00:00 China Standard Time
    "open_by_tier": ("在办事件 · 当前", [("tier_city", "市级", palette.ACCENT),
                                   ("tier_town", "镇街", palette.ACCENT),
                                   ("tier_department", "部门", palette.ACCENT)]),
    "overdue": ("超期 · 当前在办", [("overdue", "件", palette.OVERDUE_COLOR)]),
    "on_time": ("按时率 · 今日(超期在办计为超时)", [("on_time", "", "#00e676")]),
    "alarms_by_level": ("告警 · 当前未解除", [(f"alarm_{lv}", palette.LEVEL_NAMES[lv],
                                      palette.LEVEL_COLORS[lv])
                                     for lv in reversed(palette.LEVEL_ORDER)]),
    "device_online": ("物联设备在线率 · 当前", [("device_online", "", palette.STATE_COLORS["normal"])]),
    "camera_online": ("视频在线率 · 当前", [("camera_online", "", palette.STATE_COLORS["normal"])]),
}


def _tile(key: str) -> html.Div:
    title, cells = KPI_TILES[key]
    return html.Div([html.Div(title, className="kpi-title"),
                     html.Div([html.Div([html.Div("–", id=f"wall-kpi-{cid}", className="kpi-value",
                                                  style={"color": color}),
                                         html.Div(label, className="kpi-label")],
                                        className="kpi-cell") for cid, label, color in cells],
                              className="kpi-row")],
                    id=f"wall-tile-{key}", className="kpi-tile")


def placeholder_figure() -> dict:
    """An empty map in the final style: MapLibre and its workers start while the server builds
    the real figure (the map is created only once a map trace exists)."""
    return {"data": [{"type": "scattermap", "lon": [], "lat": [], "mode": "markers",
                      "hoverinfo": "skip", "meta": "placeholder"}],
            "layout": basemap.map_layout({"lon": 110.95, "lat": 22.0}, 8, basemap.map_style())}


def layout() -> html.Div:
    """The page shell; the map and every number arrive through callbacks (no reloads)."""
    return html.Div([
        dcc.Location(id="wall-url", refresh=False),
        dcc.Store(id="wall-screen"), dcc.Store(id="wall-cursor"), dcc.Store(id="wall-delta"),
        dcc.Store(id="wall-kpi"), dcc.Store(id="wall-theme"), dcc.Store(id="wall-ready"),
        dcc.Interval(id="wall-tick", interval=TICK_MS),     # the clock and highlights (browser)
        # changes by push (assets/wall/live.js sets wall-push); the poll is the safety net
        dcc.Store(id="wall-push"), dcc.Interval(id="wall-poll", interval=FALLBACK_POLL_MS),
        dcc.Interval(id="wall-rotate", interval=ROTATE_S * 1000),
        dcc.Interval(id="wall-slow", interval=CHART_S * 1000),
        html.Div([
            html.Div([html.Span("一网统管", className="hd-brand"),
                      html.Span(id="wall-city", className="hd-city")], className="hd-left"),
            html.Div([html.Span("专题 ", className="hd-dim"),
                      html.Span(id="wall-theme-name", className="hd-theme"),
                      html.Span(id="wall-theme-blurb", className="hd-blurb")], className="hd-mid"),
            html.Div(id="wall-clock", className="hd-clock"),
        ], className="wall-header"),
        html.Div(id="wall-emergency", className="wall-emergency off"),
        html.Div([
            html.Div([_tile(k) for k in KPI_KEYS], className="wall-left", id="wall-kpis"),
            html.Div([
                html.Div([
                    dcc.Graph(id="wall-map", className="wall-map",
                              config={"displayModeBar": False, "scrollZoom": False,
                                      "staticPlot": False, "responsive": True},
                              figure=placeholder_figure()),
                    html.Div(id="wall-labels", className="wall-labels"),
                    html.Div(id="wall-attribution", className="wall-attr"),
                ], className="wall-mapbox", id="wall-mapbox"),
                html.Div(id="wall-legend", className="wall-legend"),
            ], className="wall-center"),
            html.Div([
                html.Div("实时动态", className="panel-title"),
                html.Div(id="wall-ticker", className="wall-ticker"),
                html.Div("24小时告警与事件", className="panel-title"),
                dcc.Graph(id="wall-trend", className="wall-chart",
                          config={"displayModeBar": False, "staticPlot": True}),
                html.Div("在办事件分类", className="panel-title"),
                dcc.Graph(id="wall-cats", className="wall-chart",
                          config={"displayModeBar": False, "staticPlot": True}),
            ], className="wall-right"),
        ], className="wall-body"),
    ], className="wall")


def theme_from(search: str | None, n_rotate: int | None) -> tuple[str, bool]:
    """(theme code, pinned): ``?theme=`` pins a theme; otherwise rotate every ROTATE_S."""
    q = parse_qs((search or "").lstrip("?"))
    asked = (q.get("theme") or [""])[0]
    if asked:
        return get_theme(asked).code, True
    code = "overview"
    for _ in range(int(n_rotate or 0) % len(THEMES)):
        code = next_theme(code).code
    return code, False


def build_app(server: Flask, src: WallSources, url_base: str = "/wall/", naive: bool = False,
              name: str = "wall") -> Dash:
    """The wall's Dash app reading ``src``. ``naive=True`` is the bench's baseline: raw points,
    whole figure per tick (never used by the product)."""
    ctx = src.ctx
    app = Dash(name, server=server, url_base_pathname=url_base,
               assets_folder=str(ASSETS_DIR / "wall"), title="一网统管 · 城市运行一张图",
               update_title=None, serve_locally=True, compress=False)
    app.layout = layout
    # fetch plotly.js (4.8 MB) alongside Dash's own bundles instead of after the layout arrives
    app.index_string = app.index_string.replace(
        "{%css%}", f'{{%css%}}<link rel="preload" as="script" href="{url_base}'
        '_dash-component-suites/plotly/package_data/plotly.min.js">')

    app.clientside_callback(ClientsideFunction("wall", "screen"), Output("wall-screen", "data"),
                            Input("wall-url", "search"))
    app.clientside_callback(ClientsideFunction("wall", "clock"), Output("wall-clock", "children"),
                            Input("wall-tick", "n_intervals"))

    @app.callback(Output("wall-rotate", "disabled"), Input("wall-url", "search"))
    def pin(search):  # noqa: ANN001, ANN202
        return theme_from(search, 0)[1]

    @app.callback(
        Output("wall-map", "figure"), Output("wall-legend", "children"),
        Output("wall-theme-name", "children"), Output("wall-theme-blurb", "children"),
        Output("wall-theme", "data"), Output("wall-cursor", "data"),
        Output("wall-kpi", "data"), Output("wall-ticker", "children"),
        Output("wall-city", "children"), Output("wall-attribution", "children"),
        *[Output(f"wall-tile-{k}", "className") for k in KPI_KEYS],
        Input("wall-screen", "data"), Input("wall-rotate", "n_intervals"),
        State("wall-url", "search"))
    def render(screen, n_rotate, search):  # noqa: ANN001, ANN202
        code, _ = theme_from(search, n_rotate)
        theme = THEMES[code]
        data, cursor = map_data(src)
        focus = focus_bounds(data.situation, data.emergency) if focus_from(search) else None
        view = view_for(ctx, screen, town_code_from(ctx, search), focus)
        view.force_raw = naive
        mf = compose.compose(data, theme, view)
        cursor["hx"] = "hex_devices" in mf.layers
        cursor["hres"] = compose.hex_res(view)
        cursor["theme"] = code
        kpi = {**incident_kpis(ctx, data.incidents), **device_kpis(ctx.redis, src.index)}
        tiles = ["kpi-tile" if k in theme.kpis else "kpi-tile hidden" for k in KPI_KEYS]
        attribution = (ctx.city.attribution or "") + " · 底图: OneMap 自有边界数据(离线)"
        return (mf.figure, legend_children(mf.legends), theme.name, theme.blurb,
                {"code": code, "layers": mf.layers, "naive": naive, "screen": screen,
                 "em_trace": mf.index.get(emergency_areas.KEY),
                 "tile_crs": view.tile_crs},
                cursor, kpi, initial_ticker(ctx), f"{ctx.city.name}城市运行管理中心",
                attribution, *tiles)

    @app.callback(
        Output("wall-delta", "data"), Output("wall-cursor", "data", allow_duplicate=True),
        Output("wall-kpi", "data", allow_duplicate=True),
        Output("wall-ticker", "children", allow_duplicate=True),
        Output("wall-emergency", "children"), Output("wall-emergency", "className"),
        Output("wall-map", "figure", allow_duplicate=True),
        Input("wall-push", "data"), Input("wall-poll", "n_intervals"), State("wall-cursor", "data"),
        State("wall-theme", "data"), State("wall-kpi", "data"),
        prevent_initial_call=True)
    def live(_pushed, _n, cursor, theme, kpi_prev):  # noqa: ANN001, ANN202
        if not cursor:
            raise PreventUpdate
        em = emergency(ctx)
        em_sig = "1" + em["note"] if em["on"] else "0"
        em_out = (no_update, no_update)
        if cursor.get("em") != em_sig:
            em_out = ((f"应急模式 · {em['note']}" if em["on"] else ""),
                      "wall-emergency on" if em["on"] else "wall-emergency off")
        out = tick(src, cursor, cursor.get("theme") or "overview", bool(cursor.get("hx")),
                   int(cursor.get("hres") or hexbin.DEFAULT_RES))
        if out is None:
            if em_out[0] is no_update:
                raise PreventUpdate            # an idle tick: HTTP 204, no body
            return (no_update, {**cursor, "em": em_sig}, no_update, no_update, *em_out, no_update)
        out["cursor"]["em"] = em_sig
        kpi = {**(kpi_prev or {}), **out["kpi"]} if out["kpi"] else no_update
        lines = Patch()
        shown = int(cursor.get("n") or 0)
        for t in out["ticker"]:
            lines.prepend(ticker_line(t, True))
        total = shown + len(out["ticker"])
        for _ in range(max(0, total - TICKER_MAX)):
            del lines[-1]
        out["cursor"]["n"] = min(total, TICKER_MAX)
        fig = no_update
        if naive and (out["delta"]["alarms"] or out["delta"]["incidents"]):
            # baseline: rebuild and resend the whole figure on every tick with events
            view = view_for(ctx, (theme or {}).get("screen"))
            view.force_raw = True
            data, _ = map_data(src)
            fig = compose.compose(data, THEMES[(theme or {}).get("code", "overview")], view).figure
            return (no_update, out["cursor"], kpi, lines, *em_out, fig)
        return (out["delta"], out["cursor"], kpi, lines, *em_out, fig)

    @app.callback(Output("wall-map", "figure", allow_duplicate=True),
                  Input("wall-emergency", "className"), State("wall-theme", "data"),
                  prevent_initial_call=True)
    def emergency_area(_cls, theme):  # noqa: ANN001, ANN202
        """The commander switched 应急模式: fill (or empty) the area trace of the figure on show,
        found by index (``layers.emergency_areas``), without rebuilding the map."""
        i = (theme or {}).get("em_trace")
        if i is None:
            raise PreventUpdate
        lon, lat = emergency_areas.trace_coords((ctx.incidents.emergency_state() or {}).get("area"),
                                                (theme or {}).get("tile_crs") or "wgs84")
        fig = Patch()
        fig["data"][i]["lon"] = lon
        fig["data"][i]["lat"] = lat
        return fig

    app.clientside_callback(
        ClientsideFunction("wall", "apply"),
        Output("wall-map", "figure", allow_duplicate=True),
        Input("wall-delta", "data"), Input("wall-tick", "n_intervals"), State("wall-map", "figure"),
        prevent_initial_call=True)

    app.clientside_callback(
        ClientsideFunction("wall", "kpis"),
        [Output(f"wall-kpi-{cid}", "children") for _k, (_t, cells) in KPI_TILES.items()
         for cid, _l, _c in cells],
        Input("wall-kpi", "data"), Input("wall-map", "figure"))

    @app.callback(Output("wall-trend", "figure"), Output("wall-cats", "figure"),
                  Input("wall-slow", "n_intervals"), Input("wall-ready", "data"),
                  Input("wall-theme", "data"))
    def charts(_n, ready, theme):  # noqa: ANN001, ANN202
        if not theme or not ready:
            raise PreventUpdate
        screen = theme.get("screen") or {}
        font = 16 * max(1.0, int(screen.get("h") or 1080) / 1080)
        t = THEMES.get(theme.get("code"), THEMES["overview"])
        return (trend_figure(ctx.redis, font=font),
                category_figure(open_incidents(ctx), t.categories, font=font))

    return app


def mount(server: Flask, ctx: AppContext) -> None:
    """Mount /wall/ on the OneMap server (app.server.create_server)."""
    build_app(server, WallSources(ctx))
