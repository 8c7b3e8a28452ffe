"""The wall's data model, Dash-free (webviz's ``_business_logic.py``): what it reads and how it
shapes it. All reads; the wall never writes.

Data: ``ctx.devices`` (sensors.registry), ``om:dev:state``, ``om:alarms``, ``om:inc:feed``,
``ctx.incidents`` (open_incidents_frame, kpis, emergency_state), ``ctx.resources``,
sensors.health.summary. One ``WallSources`` per wall app holds what it reads and its device index;
a bench or test passes its own device frames as a constructor argument
(``WallSources(ctx, devices=(sensors, cameras))``), never through the context. Service errors are
not swallowed: a failing read fails the callback (the browser keeps its last picture and the server
logs the traceback), it is never turned into an empty, healthy-looking wall.

Here: the device index, active alarms, the KPIs (M1/M3), the situation in focus (态势), the
emergency state (应急模式), the map's data with its stream cursor, and the live tick's delta.

Whose wall (issue 19, "the wall is for the hall"): a role the policy lets read the whole city
(the hall's roles, the kiosk) sees the whole city; any other role that may open the wall sees
its own map (``WallScope``): the open cases ``Policy.can_read`` lets it read, the devices
``policy.visible_devices`` gives it and their alarms, in the map, the ticker, the live tick and
the charts. A bare wall (``build_app`` without a gate: the bench, a test) is the whole city.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

from app.context import AppContext
from app.timefmt import cst_day_start, fmt_cst
from grid.model import town_center_code
from incidents import feed as incident_feed

# stream and hash names come from their owners' keys.py (docs/architecture.md), never literals
from incidents import keys as ik
from incidents.actor import Actor
from incidents.incident import Incident
from incidents.policy import visible_devices
from incidents.vocab import State
from layers import alarms as alarms_layer
from layers import compose, emergency_areas, feed, hexbin, palette
from layers.themes import THEMES
from sensors import keys as sk
from sensors.health import WARM_KNOWN_SHARE
from sensors.health import summary as health_summary

ALARM_REPLAY = 5000       # stream entries folded at page load to find the active alarms
TICKER_MAX = 14           # lines in the event ticker (those that fit whole are shown)
TICKER_SCAN = 500         # entries of each stream a town's screen reads for its own lines
XREAD_COUNT = 500         # most entries one tick takes from each stream
DEVICE_KPI_S = 10.0       # online rates: recomputed on alarm ticks at most this often (one
                          # HGETALL of om:dev:state is ~75 % of a tick's cost at stress size)
DEVICE_KPI_IDLE_S = 30.0  # ... and at least this often even without alarms
INCIDENT_KPI_S = 5.0      # on-time rate: at most this often on ticks with incident changes
SITUATION_MIN_SOURCES = 3   # an open incident gathering this many sources is a situation (态势)
FOCUS_MIN_M = 1500.0        # a focused view spans at least this (a few sources on one street
                            # must not zoom the wall to one building)


# --- data sources --------------------------------------------------------------------------------
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
    _visible: dict[tuple, frozenset[str]] = field(default_factory=dict, repr=False)

    @cached_property
    def index(self) -> DeviceIndex:
        """The device index, built on first use."""
        return device_index(self.ctx, self.devices)

    def visible(self, actor: Actor) -> frozenset[str]:
        """The ids of the devices ``actor`` may see (``policy.visible_devices``: a town its
        territory, a grid worker its cell, a department its line), kept per scope (static)."""
        key = (actor.role, actor.center, actor.cell)
        if key not in self._visible:
            reg = self.index.registry
            sens, cams = (reg.sensors, reg.cameras) if reg is not None else self.devices
            self._visible[key] = frozenset(
                set(visible_devices(actor, sens, "dept")["id"].astype(str))
                | set(visible_devices(actor, cams, "share")["id"].astype(str)))
        return self._visible[key]


_NOBODYS = Incident("", "")
"""A case of no center, town, reporter or task: the policy lets only a role that reads the whole
city read it (``wall_scope`` asks it rather than restating the rule)."""


@dataclass(frozen=True)
class WallScope:
    """A wall that is not the hall's: ``actor``'s own map (issue 19). ``devices``: the ids of the
    devices it may see."""

    actor: Actor
    devices: frozenset[str]


def wall_scope(src: WallSources, actor: Actor | None) -> WallScope | None:
    """None: the whole city (a role the policy lets read every case; no actor: a bare wall).
    Otherwise the caller's own map."""
    if actor is None or src.ctx.incidents.policy.can_read(actor, _NOBODYS):
        return None
    return WallScope(actor, src.visible(actor))


def readable_ids(ctx: AppContext, scope: WallScope | None, ids) -> set[str]:  # noqa: ANN001
    """Of ``ids``, the incidents the scope's actor may read (``Policy.can_read``, the case as it
    is now); every one of them for the whole city."""
    ids = [str(i) for i in dict.fromkeys(ids) if i]
    if scope is None:
        return set(ids)
    can_read = ctx.incidents.policy.can_read
    return {inc.id for inc in ctx.incidents.store.load_many(ids) if can_read(scope.actor, inc)}


def scoped_incidents(ctx: AppContext, frame: pd.DataFrame, scope: WallScope | None) -> pd.DataFrame:
    """The open-incidents frame cut to what the scope may read."""
    if scope is None or frame.empty:
        return frame
    return frame[frame["id"].isin(readable_ids(ctx, scope, frame["id"]))].reset_index(drop=True)


def scoped_devices(frame: pd.DataFrame, scope: WallScope | None, col: str = "id") -> pd.DataFrame:
    """Devices (or alarms, ``col="device_id"``) cut to the scope's devices."""
    if scope is None:
        return frame
    return frame[frame[col].astype(str).isin(scope.devices)].reset_index(drop=True)


def kpi_center(scope: WallScope | None, town: str | None = None) -> str | None:
    """Whose KPIs the on-time tile shows: the city's, the scoped actor's own center's, or on a
    town's screen (``?town=``) that town's center's (issue 21)."""
    if scope is not None:
        return scope.actor.center
    return town_center_code(town) if town else None


def town_cut(frame: pd.DataFrame, town: str | None, col: str = "town_code") -> pd.DataFrame:
    """A town's screen (``?town=<code>``, issue 21): the rows of that town only (incidents,
    devices, alarms by their ``town_code``); every row without one."""
    if not town or frame is None or col not in frame:
        return frame
    return frame[frame[col].astype(str) == town].reset_index(drop=True)


def town_incidents(frame: pd.DataFrame, town: object) -> pd.DataFrame:
    """The open incidents of ``town`` (as the page's theme store carries it: a code or None)."""
    return town_cut(frame, town if isinstance(town, str) else None)


_WITH_HANDLERS = (State.DISPATCHED, State.IN_PROGRESS)
"""The states in which a case is out with its handlers (sub-tasks open)."""


def department_cases(ctx: AppContext, frame: pd.DataFrame) -> set[str]:
    """部门 (issue 21): the open cases in a department's hands now: owned by a department
    (its line, e.g. 12345 诉求), or out with an open sub-task at a department center (派遣到
    部门). Owner tiers alone left the tile at 0 for ever: routing gives a case to its town or the
    city, and the departments (业务分中心, the "N") get their work by dispatch."""
    if frame is None or frame.empty:
        return set()
    centers = ctx.city.centers
    dept = {c for c, v in centers.items() if v.tier == "department"}
    owned = set(frame.loc[frame["center"].astype(str).isin(dept), "id"].astype(str))
    out = frame.loc[frame["state"].astype(str).isin(_WITH_HANDLERS)
                    & ~frame["id"].astype(str).isin(owned), "id"].astype(str).tolist()
    return owned | {i.id for i in ctx.incidents.store.load_many(out) if _at_department(i, dept)}


def _at_department(inc: Incident, dept: set[str]) -> bool:
    return inc.center in dept or any(t.open and t.center in dept for t in inc.tasks)


def department_flags(ctx: AppContext, ids: list[str]) -> dict[str, bool]:
    """Of the incidents a live tick names, which are in a department's hands now
    (``department_cases``): the browser keeps its 部门 set current from these."""
    ids = [i for i in dict.fromkeys(ids) if i]
    if not ids:
        return {}
    dept = {c for c, v in ctx.city.centers.items() if v.tier == "department"}
    got = {i.id: _at_department(i, dept) for i in ctx.incidents.store.load_many(ids)}
    return {i: got.get(i, False) for i in ids}


_STREAM_ID = re.compile(r"^\d{1,20}-\d{1,20}$")
_TOWN_CODE = re.compile(r"^[0-9A-Za-z]{0,24}$")


def clean_cursor(cursor: object) -> dict | None:
    """The browser's stream cursor (``wall-cursor``), checked: stream ids, numbers and the
    theme as the wall wrote them; None when it is not one (a crafted request: nothing is read,
    never a 500)."""
    if not isinstance(cursor, dict):
        return None
    out = dict(cursor)
    for k in ("a", "f"):
        if k in out and not (isinstance(out[k], str) and _STREAM_ID.match(out[k])):
            return None
    try:
        for k in ("kt", "ki"):
            out[k] = float(out.get(k) or 0)
        out["seq"], out["n"] = int(out.get("seq") or 0), int(out.get("n") or 0)
        out["hres"] = int(out.get("hres") or hexbin.DEFAULT_RES)
    except (TypeError, ValueError, OverflowError):
        return None
    if out["hres"] not in hexbin.RES_CHOICES:
        out["hres"] = hexbin.DEFAULT_RES
    out["theme"] = out.get("theme") if out.get("theme") in THEMES else "overview"
    town = out.get("town")
    out["town"] = town if isinstance(town, str) and _TOWN_CODE.match(town) else ""
    return out


def open_incidents(ctx: AppContext) -> pd.DataFrame:
    """Open incidents (IncidentService.open_incidents_frame)."""
    return ctx.incidents.open_incidents_frame()


def last_id(r, stream: str) -> str:  # noqa: ANN001
    """The newest entry id of a stream ('0-0' when empty): where a new page starts reading."""
    got = r.xrevrange(stream, count=1)
    return got[0][0] if got else "0-0"


def active_alarms(r) -> pd.DataFrame:  # noqa: ANN001
    """Active episodes: the last ALARM_REPLAY entries of om:alarms folded in order."""
    entries = r.xrevrange(sk.ALARMS, count=ALARM_REPLAY)
    return alarms_layer.fold(reversed(entries))


# --- KPIs (M1/M3) --------------------------------------------------------------------------------
def device_kpis(r, idx: DeviceIndex, town: str | None = None) -> dict:  # noqa: ANN001
    """Online rates (在线率) of sensors and cameras: sensors.health.summary (heard from and not
    offline) for the real registry, else from om:dev:state alone; of one town's devices on a
    town's screen (``town``, issue 21).

    While too few devices are known yet (after a restart: heard from, or declared offline by the
    health sweep; sensors.health.WARM_KNOWN_SHARE) a rate is None and ``*_warming`` is True: the
    tile says 统计中 (warming up), never a false outage."""
    if idx.registry is not None:
        h = health_summary(r, idx.registry)
        warm = h.get("warming_up", {})
        sens, cams = h["sensors"], h["cameras"]
        if town:
            mine = h.get("by_town", {}).get(town) or {"online_rate": None,
                                                      "cameras": {"online_rate": None}}
            sens, cams = mine, mine["cameras"]
        return {"device_online": None if warm.get("sensors") else sens["online_rate"],
                "camera_online": None if warm.get("cameras") else cams["online_rate"],
                "device_warming": bool(warm.get("sensors")),
                "camera_warming": bool(warm.get("cameras"))}
    states = r.hgetall(sk.DEV_STATE)
    sensors, cameras = town_cut(idx.sensors, town), town_cut(idx.cameras, town)
    mine = set(sensors["id"]) | set(cameras["id"]) if town else idx.pos
    off_cam = off_sens = known_cam = known_sens = 0
    for k, v in states.items():
        if k not in mine:                            # only devices of this registry (town) count
            continue
        cam = k.startswith("cam-")
        known_cam += cam
        known_sens += not cam
        if v == "offline":
            if cam:
                off_cam += 1
            else:
                off_sens += 1
    n_s, n_c = max(len(sensors), 1), max(len(cameras), 1)
    warm_s = known_sens < WARM_KNOWN_SHARE * len(sensors)
    warm_c = known_cam < WARM_KNOWN_SHARE * len(cameras)
    return {"device_online": None if warm_s else round(1 - off_sens / n_s, 4),
            "camera_online": None if warm_c else round(1 - off_cam / n_c, 4),
            "device_warming": warm_s, "camera_warming": warm_c}


def incident_kpis(ctx: AppContext, frame: pd.DataFrame | None = None, now: float | None = None,
                  counts: bool = True, center: str | None = None) -> dict:
    """Open incidents by tier and overdue now (from the open-incidents frame, when ``counts``),
    on-time rate today (China Standard Time day, from IncidentService.kpis; ``on_time_rate``:
    the overdue-now cases count as late, so the two tiles tell one story).

    A live tick asks only for the rate: the tier and overdue tiles are then counted in the
    browser from the map's own incident traces (assets/wall/wall.js), which the tick keeps
    current, so no tick reads every open incident. ``center``: a scoped wall's own center
    (``kpi_center``); None: the city.

    The tier cells split the open cases, each counted once: 部门 those in a department's hands
    (``department_cases``; ``dept_ids`` tells the browser which, ``dept_rev`` when: the page
    keeps them apart from the KPI store), 市级 and 镇街 the others by their owner's tier."""
    from layers.incidents import normalise  # noqa: PLC0415

    now = time.time() if now is None else now
    out: dict = {"on_time": None}
    if counts:
        f = normalise(open_incidents(ctx) if frame is None else frame, now=now)
        dept = department_cases(ctx, f)
        in_dept = f["id"].astype(str).isin(dept)
        tiers = f.loc[~in_dept, "tier"].value_counts()
        # one case, one cell: in a department's hands (部门), else its owner's tier (市级/镇街)
        out.update({"tier_city": int(tiers.get("city", 0)), "tier_town": int(tiers.get("town", 0)),
                    "tier_department": int(in_dept.sum()), "dept_ids": sorted(dept),
                    "dept_rev": now, "overdue": int(f["overdue"].sum())})
    day0 = cst_day_start(now)                        # today in China Standard Time
    k = ctx.incidents.kpis(center, day0, now)
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


def new_incidents_per_hour(r, start_s: float, hours: int = 24) -> list[int]:  # noqa: ANN001
    """Incidents created in each hour from ``start_s`` (M1/M25 the situation as it is), by each
    incident's own ``created_ts``
    (the ``om:inc:all`` index), in one round trip. Not by when their feed entry was written:
    an import or the demo's history writes weeks of past incidents in one minute."""
    pipe = r.pipeline(transaction=False)
    for h in range(hours):
        lo = int(start_s) + h * 3600
        pipe.zcount(ik.ALL, lo, f"({lo + 3600}" if h < hours - 1 else "+inf")
    return [int(n) for n in pipe.execute()]


def alarms_raised_per_hour(r, start_ms: int, hours: int = 24) -> list[int]:  # noqa: ANN001
    """Alarms raised in each hour from ``start_ms`` (epoch ms), from the alarm stream's
    time-ordered ids (raised live); the last hour takes everything after it."""
    a = np.zeros(hours, int)
    for eid, f in r.xrange(sk.ALARMS, min=f"{start_ms}-0", count=20000):
        if f.get("event") == "raise":
            a[min(hours - 1, (int(eid.split("-")[0]) - start_ms) // 3_600_000)] += 1
    return a.tolist()


# --- emergency and situation -------------------------------------------------------------------
def emergency(ctx: AppContext) -> dict:
    """应急模式 as switched on by the city commander (IncidentService.emergency_state): {on, note}."""
    st = ctx.incidents.emergency_state()
    if not st:
        return {"on": False, "note": ""}
    until = fmt_cst(float(st.get("until", 0)), "%H:%M")
    return {"on": True, "note": f"{st.get('reason') or '应急处置'} · 至 {until}"}


def emergency_area(ctx: AppContext) -> object | None:
    """The area of 应急模式 now (``layers.emergency_areas``), None when it is off."""
    return (ctx.incidents.emergency_state() or {}).get("area")


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


# --- the map's data and the live tick ------------------------------------------------------------
def map_data(src: WallSources, scope: WallScope | None = None,
             town: str | None = None) -> tuple[compose.MapData, dict]:
    """Everything the map draws, plus the stream cursor taken BEFORE the reads (nothing lost);
    cut to ``scope`` (a role's own map) when given, and to one town on a town's screen
    (``town``, ``?town=``: its incidents, devices and alarms; the tiles count the map's)."""
    ctx = src.ctx
    r = ctx.redis
    cursor = {"a": last_id(r, sk.ALARMS), "f": last_id(r, ik.FEED), "seq": 0, "n": 0,
              "kt": time.time(), "ki": time.time(), "town": town or ""}
    idx = src.index
    states = r.hgetall(sk.DEV_STATE)
    frame = town_cut(scoped_incidents(ctx, open_incidents(ctx), scope), town)
    data = compose.MapData(ctx.city, town_cut(scoped_devices(idx.sensors, scope), town),
                           town_cut(scoped_devices(idx.cameras, scope), town), states, frame,
                           town_cut(scoped_devices(active_alarms(r), scope, "device_id"), town),
                           ctx.resources,
                           emergency=ctx.incidents.emergency_state(),
                           situation=focus_situation(ctx, frame))
    return data, cursor


def recent_ticker(ctx: AppContext, scope: WallScope | None = None,
                  town: str | None = None) -> list[dict]:
    """The ticker's lines at page load: the newest ``TICKER_MAX`` alarms and incident changes
    together, newest first (``layers.feed`` texts); those of ``scope`` only when given, of one
    town on a town's screen (read further back: ``TICKER_SCAN`` entries of each stream)."""
    r = ctx.redis
    towns = ctx.city.town_names
    n = TICKER_SCAN if town else TICKER_MAX
    alarms = [(eid, feed.alarm_item(eid, f)) for eid, f in r.xrevrange(sk.ALARMS, count=n)]
    incs = [(eid, feed.incident_item(eid, f)) for eid, f in r.xrevrange(ik.FEED, count=n)]
    if town:
        alarms = [(e, a) for e, a in alarms if a["town"] == town][:TICKER_MAX]
        incs = [(e, i) for e, i in incs if i["town"] == town][:TICKER_MAX]
    mine = readable_ids(ctx, scope, [i["id"] for _, i in incs])
    lines = [(eid, feed.alarm_text(a, towns)) for eid, a in alarms
             if scope is None or a["dev"] in scope.devices]
    lines += [(eid, feed.incident_text(i, towns)) for eid, i in incs if i["id"] in mine]
    lines.sort(key=lambda x: tuple(int(p) for p in x[0].split("-")), reverse=True)
    return [t for _, t in lines[:TICKER_MAX]]


def tick(src: WallSources, cursor: dict, theme: str = "overview", hexes_on: bool = False,
         res: int = hexbin.DEFAULT_RES, scope: WallScope | None = None) -> dict | None:
    """One poll: what came after ``cursor`` in both streams, as a small delta (None: nothing);
    of ``scope`` only when given (a role's own map: its cases, its devices' alarms).

    Returns {"cursor", "delta", "kpi", "ticker"}; ``delta`` holds alarm events, incident changes,
    device states of the devices named in the alarms, and recoloured hexagons (worst state).
    """
    ctx = src.ctx
    r = ctx.redis
    now = time.time()
    town = str(cursor.get("town") or "") or None     # a town's screen (map_data's cursor)
    got = r.xread({sk.ALARMS: cursor.get("a", "$"), ik.FEED: cursor.get("f", "$")}, count=XREAD_COUNT)
    stale = now - float(cursor.get("kt") or 0) >= DEVICE_KPI_IDLE_S
    if not got and not stale:
        return None
    new_cursor = dict(cursor)
    towns = ctx.city.town_names
    alarms, incs, ticker = [], [], []
    mine: set[str] | None = None
    if scope is not None:
        mine = readable_ids(ctx, scope, [incident_feed_id(f) for s, es in got or [] if s == ik.FEED
                                         for _e, f in es])
    for stream, entries in got or []:
        if not entries:
            continue
        if stream == sk.ALARMS:
            new_cursor["a"] = entries[-1][0]
            for eid, f in entries:
                a = feed.alarm_item(eid, f)
                if (scope is not None and a["dev"] not in scope.devices) or \
                        (town and a["town"] != town):
                    continue
                alarms.append(a)
                if a["ev"] != "clear" or len(entries) < 50:
                    ticker.append(feed.alarm_text(a, towns))
        else:
            new_cursor["f"] = entries[-1][0]
            cats = THEMES.get(theme, THEMES["overview"]).categories
            for eid, f in entries:
                i = feed.incident_item(eid, f)
                if (mine is not None and i["id"] not in mine) or (town and i["town"] != town):
                    continue
                i["in"] = not cats or i["cat"].startswith(tuple(cats))   # the theme's filter
                incs.append(i)
                ticker.append(feed.incident_text(i, towns))
    if incs:            # the browser's 部门 set follows each case (incident_kpis)
        flags = department_flags(ctx, [i["id"] for i in incs])
        for i in incs:
            i["dept"] = flags.get(i["id"], False)
    delta: dict = {"alarms": alarms, "incidents": incs}
    kpi: dict = {}
    if alarms:
        idx = src.index
        devs = sorted({a["dev"] for a in alarms if a["dev"]})
        states = dict(zip(devs, r.hmget(sk.DEV_STATE, devs), strict=True)) if devs else {}
        shown, members = idx.theme(theme, res)
        if scope is not None:
            shown = shown & scope.devices
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
                ids = [d for d in members[h] if d in shown]
                worst = palette.worst_state(s for s in r.hmget(sk.DEV_STATE, ids) if s)
                hexes.setdefault("hex_devices", {})[h] = palette.STATE_RANK[worst]
        delta["hex"] = hexes
    if (alarms and now - float(cursor.get("kt") or 0) >= DEVICE_KPI_S) or stale:
        kpi.update(device_kpis(r, src.index, town))
        new_cursor["kt"] = now
    if incs and now - float(cursor.get("ki") or 0) >= INCIDENT_KPI_S:
        kpi.update(incident_kpis(ctx, counts=False, center=kpi_center(scope, town)))
        new_cursor["ki"] = now
    new_cursor["seq"] = int(cursor.get("seq", 0)) + 1
    delta["seq"] = new_cursor["seq"]
    delta["ts"] = int(time.time() * 1000)
    return {"cursor": new_cursor, "delta": delta, "kpi": kpi, "ticker": ticker[-TICKER_MAX:]}


def incident_feed_id(f: dict) -> str:
    """The incident id of one ``om:inc:feed`` entry."""
    return incident_feed.fields(f).get("id", "")


def _state_size(state: str, dev: str) -> float:
    from layers.points import STATE_SIZES  # noqa: PLC0415

    return STATE_SIZES.get(state, 5) * (1.25 if dev.startswith("cam-") else 1.0)
