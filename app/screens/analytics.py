"""/analytics/: assessment (考核评价, E14/E15; seed-requirements §10 item 11) and kepler.gl.

For a chosen period (whole days, UTC+8 like the KPI counters): KPIs per town/street sub-center
and per department sub-center (volumes, on-time rates per stage, closure rate, overdue now,
reopen rate, satisfaction) from ``IncidentService.kpis``; plotly charts and a ranking; CSV and
GeoJSON export of the period's incidents; a kepler.gl view of the period's incidents, alarms and
devices served fully by OneMap (``app.kepler``) and the same data as a kepler.gl map file.

Scope: the page is for city roles, supervisors and admins (``app.auth.SCREEN_ROLES``). KPIs are
aggregates: the city's roles see every center's, a town supervisor only its own center's row and
totals. Incident-level data (exports, kepler) is filtered with ``incidents.scope.can_read``, so
a town supervisor exports its own territory only and an admin exports no incidents.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import time

import pandas as pd
import plotly.graph_objects as go
from dash import Dash, Input, Output, State, dash_table, dcc, html, no_update
from flask import Flask, Response, abort, request

from app import kepler, security
from app.config import ASSETS_DIR
from app.context import AppContext
from app.screens.nav import nav_bar
from app.timefmt import CST
from incidents.roles import screen_roles

TZ = CST                                      # China Standard Time: KPI days are CST days
ANALYTICS_ROLES = tuple(sorted(screen_roles()["analytics"]))
"""Who may open /analytics (``incidents.roles``): the city's figures for city roles, a
sub-center's own row and totals for a town or department (分级控制, S2)."""
GRAPH_CONFIG = {"displaylogo": False, "displayModeBar": False}
"""Plotly's tool bar speaks English only (its locales are not bundled): the assessment's charts
go without it; figures are exported as CSV."""
DEFAULT_DAYS = 30
MAX_PERIOD_INCIDENTS = 50_000                 # export/kepler cap per request (memory bound)
MAX_PERIOD_ALARMS = 20_000
SCORE_WEIGHTS = {"handled_on_time_rate": 0.35, "closure_rate": 0.30, "satisfaction5": 0.20,
                 "no_reopen": 0.15}
"""Composite ranking score (考核得分, 0–100). Demo default/assumption: the seeds name the measures
(E14/E15, §10 item 11) but no weights; a deployment sets its own. The ranking's closure measure is
the fair one (``assessed_closure_rate``: human reports from arrival, machine cases from
acceptance, incidents.kpi.MACHINE); ``score_raw`` beside it counts every case as received."""
INCIDENT_COLS = ["id", "kind", "category", "category_name", "severity", "channel", "state",
                 "state_name", "center", "center_name", "town_code", "town_name", "lon", "lat",
                 "created", "accepted", "dispatched", "handled", "verified", "closed", "due",
                 "overdue", "handlers", "reopen_count", "satisfaction", "title", "reporter"]
"""One row per case; the stage times, the current deadline and the handlers are what an
on-time audit needs (issue 21). ``reporter`` and phone numbers in ``title`` are masked for a role
without ``sees_personal_data`` (``incidents.masking``, SEC18)."""


# --- period ----------------------------------------------------------------------------------
def _day(value: str, name: str) -> dt.date:
    """A ``YYYY-MM-DD`` day (a datetime's first 10 characters are accepted: the date picker)."""
    try:
        return dt.date.fromisoformat(value.strip()[:10])
    except ValueError:
        what = {"start": "开始日期", "end": "结束日期"}.get(name, name)
        raise ValueError(f"{what}格式应为 YYYY-MM-DD "
                         f"({name} must be a date YYYY-MM-DD, got {value[:40]!r})") from None


def add_section(app, build, after: str | None = None) -> None:  # noqa: ANN001
    """Put a section made by ``build()`` (per request) into the /analytics page: after the
    child with id ``after``, else at the end. The one way other modules add to the page (the
    12345 rates, the 报表), instead of each wrapping the layout by hand."""
    inner = app.layout

    def page():  # noqa: ANN202
        root = inner() if callable(inner) else inner
        kids = list(root.children)
        at = next((n + 1 for n, c in enumerate(kids) if after and getattr(c, "id", None) == after),
                  len(kids))
        kids.insert(at, build())
        root.children = kids
        return root

    app.layout = page


def period(start: str | None, end: str | None, now: float | None = None) -> tuple[float, float]:
    """[since, until] epoch seconds for whole CST days ``start``..``end`` (YYYY-MM-DD).

    ValueError (a clear reason) for a day that is not a date or a start after the end: an
    assessment over a silently swapped or guessed period would be wrong without anyone seeing it."""
    today = dt.datetime.fromtimestamp(now or time.time(), TZ).date()
    d0 = _day(start, "start") if start else today - dt.timedelta(days=DEFAULT_DAYS - 1)
    d1 = _day(end, "end") if end else today
    if d1 < d0:
        raise ValueError(f"开始日期 {d0.isoformat()} 晚于结束日期 {d1.isoformat()} "
                         f"(start {d0.isoformat()} is after end {d1.isoformat()})")
    since = dt.datetime.combine(d0, dt.time.min, TZ).timestamp()
    until = dt.datetime.combine(d1, dt.time.max, TZ).timestamp()
    return since, until


def _iso(ts: float | None) -> str:
    return dt.datetime.fromtimestamp(ts, TZ).isoformat(timespec="seconds") if ts else ""


# --- KPIs ------------------------------------------------------------------------------------
def kpi_table(ctx: AppContext, tier: str, since: float, until: float) -> pd.DataFrame:
    """One row per center of a tier (``town`` | ``department``) with its KPIs and score."""
    rows = []
    for c in ctx.city.centers.values():
        if c.tier != tier:
            continue
        k = ctx.incidents.kpis(c.code, since, until)
        stage = k.get("stage_seconds", {})
        rows.append({
            "center": c.code, "name": _short_name(ctx, c),
            "received": k.get("received", 0), "closed": k.get("closed", 0),
            "received_human": k.get("received_human", 0),
            "received_machine": k.get("received_machine", 0),
            "accepted_machine": k.get("accepted_machine", 0),
            "assessed": k.get("assessed", 0),
            "assessed_closure_rate": k.get("assessed_closure_rate"),
            "handled": k.get("handled", 0), "open_now": k.get("open_now", 0),
            "overdue_now": k.get("overdue_now", 0), "urged": k.get("urged", 0),
            "escalated": k.get("escalated", 0),
            "accepted_on_time_rate": k.get("accepted_on_time_rate"),
            "dispatched_on_time_rate": k.get("dispatched_on_time_rate"),
            "handled_on_time_rate": k.get("handled_on_time_rate"),
            "closure_rate": k.get("closure_rate"), "reopen_rate": k.get("reopen_rate"),
            "satisfaction": k.get("satisfaction"),
            "handle_mean_h": _hours((stage.get("handle") or {}).get("mean")),
            "total_p90_h": _hours((stage.get("total") or {}).get("p90")),
        })
    df = pd.DataFrame(rows)
    if df.empty:
        return df
    df["score"] = score(df)                       # fair: what the ranking uses
    df["score_raw"] = score(df, fair=False)       # every case counted from arrival (beside it)
    df = df.sort_values(["score", "received"], ascending=[False, False], na_position="last")
    df["rank"] = range(1, len(df) + 1)
    return df.reset_index(drop=True)


def _short_name(ctx: AppContext, c) -> str:  # noqa: ANN001 (grid.model.Center)
    """潘州街道 / 城管: the town or department name without the center suffix."""
    if c.town_code:
        return ctx.city.town_names.get(c.town_code, c.name)
    dept = next((d for d in ctx.city.departments if d.code == c.dept_code), None)
    return dept.name if dept else c.name


def _hours(seconds: float | None) -> float | None:
    return round(seconds / 3600, 2) if seconds is not None else None


def score(df: pd.DataFrame, fair: bool = True) -> pd.Series:
    """考核得分 0–100 from the weighted measures; centers with no work in the period get none.

    ``fair``: closure is ``assessed_closure_rate`` (a machine case counts against a center only
    from the moment it accepted it), so an alarm storm nobody accepted ranks no center last;
    else ``closure_rate`` over everything received."""
    closure = "assessed_closure_rate" if fair and "assessed_closure_rate" in df else "closure_rate"
    parts = pd.DataFrame({
        "handled_on_time_rate": df["handled_on_time_rate"],
        "closure_rate": df[closure],
        "satisfaction5": df["satisfaction"].astype(float) / 5.0,
        "no_reopen": 1.0 - df["reopen_rate"].astype(float),
    }).astype(float)
    w = pd.Series(SCORE_WEIGHTS)
    have = parts.notna()
    weighted = (parts.fillna(0) * w).sum(axis=1)
    used = (have * w).sum(axis=1)
    out = (100 * weighted / used.where(used > 0)).round(1)
    return out.where(df["received"] > 0)


# --- incidents of the period -------------------------------------------------------------------
def ranking(ctx: AppContext, actor, tier: str, since: float, until: float) -> pd.DataFrame:  # noqa: ANN001
    """The ranking the caller may see: 分级控制 (S2), the city sees every center of the tier; a
    sub-center sees its own row (scored among its peers), never another center's figures."""
    df = kpi_table(ctx, tier, since, until)
    return df if actor.is_city else df[df["center"] == actor.center]


def period_incidents(ctx: AppContext, actor, since: float, until: float) -> pd.DataFrame:  # noqa: ANN001
    """The incidents created in [since, until] that ``actor`` may read, one row each."""
    from incidents import masking  # noqa: PLC0415
    from incidents.incident import OPEN_STATES, STATE_NAMES  # noqa: PLC0415
    from incidents.scope import can_read  # noqa: PLC0415

    now = time.time()
    centers = ctx.city.centers
    towns = ctx.city.town_names
    rows = []
    masked = actor is not None and not masking.sees(actor.role)   # 脱敏 (SEC18)
    for inc in period_cases(ctx, since, until)[0]:
        if actor is None or can_read(actor, inc) is not None:
            continue
        row = {
            "id": inc.id, "kind": inc.kind, "category": inc.category,
            "category_name": inc.category_name, "severity": inc.severity, "channel": inc.channel,
            "state": inc.state, "state_name": STATE_NAMES.get(inc.state, inc.state),
            "center": inc.center, "center_name": getattr(centers.get(inc.center), "name", ""),
            "town_code": inc.town_code, "town_name": towns.get(inc.town_code, ""),
            "lon": inc.lon, "lat": inc.lat, "created": _iso(inc.created_ts),
            **{stage: _iso(inc.times.get(stage)) for stage in STAGES},
            "due": _iso(inc.due_ts) if inc.state in OPEN_STATES else "",
            "handlers": "、".join(dict.fromkeys(
                getattr(centers.get(t.center), "name", t.center) for t in inc.tasks)),
            "overdue": bool(inc.overdue(now)),
            "reopen_count": inc.reopen_count, "satisfaction": inc.satisfaction or None,
            "title": inc.title, "reporter": inc.reporter}
        rows.append(masking.view(row, actor.role) if masked else row)
    return pd.DataFrame(rows, columns=INCIDENT_COLS)


def _record_query(ctx: AppContext):  # noqa: ANN202
    """The record's ``query`` (``ArchiveReader.query``), or None when history is off."""
    return getattr(getattr(ctx.incidents, "archive", None), "query", None)


def period_cases(ctx: AppContext, since: float, until: float) -> tuple[list, str]:
    """The cases created in [since, until] (oldest first) and where they were read from:
    ``"live"`` (Redis: the period lies inside the retention, or history is off) or
    ``"record"`` (the period reaches back past the retention: the record's cases, each replaced
    by Redis's copy when that is as new or newer — the same figures where both hold)."""
    from incidents import keys as ik  # noqa: PLC0415
    from incidents.record import places  # noqa: PLC0415
    from incidents.record.rows import incident_of  # noqa: PLC0415

    ids = ctx.redis.zrangebyscore(ik.ALL, since, until, start=0, num=MAX_PERIOD_INCIDENTS)
    live = ctx.incidents.store.load_many(ids)
    query = _record_query(ctx)
    if query is None or since >= time.time() - ctx.settings.retention_days * 86400:
        return live, "live"
    recs = query(lambda c, a: places.cases(c, *a), (since, until, MAX_PERIOD_INCIDENTS), None)
    if recs is None:                       # the record unreachable: what Redis holds, said so
        return live, "live"
    by_id = {inc.id: inc for inc in map(incident_of, recs)}
    for inc in live:
        old = by_id.get(inc.id)
        if old is None or inc.version >= old.version:
            by_id[inc.id] = inc
    cases = sorted(by_id.values(), key=lambda i: (i.created_ts, i.id))[:MAX_PERIOD_INCIDENTS]
    return cases, "record"


def readable_ids(ctx: AppContext, actor, since: float, until: float) -> list[str]:  # noqa: ANN001
    """The ids of the period's cases ``actor`` may read (``scope.can_read``)."""
    from incidents.scope import can_read  # noqa: PLC0415

    return [i.id for i in period_cases(ctx, since, until)[0] if can_read(actor, i) is None]


PLACE_COLUMNS = [("name", "区域"), ("received", "事件"), ("closed", "结案"), ("voided", "作废")]


def history_breakdown(ctx: AppContext, actor, kind: str, since: float,  # noqa: ANN001
                      until: float, ids: list[str] | None = None) -> pd.DataFrame | None:
    """历史分布: the period's cases per town (``kind="town"``) or grid cell (``"cell"``) from the
    record, placed by PostGIS (``ST_Within`` on the towns'/cells' polygons), only the cases the
    caller may read (the one policy, ``scope.can_read``; ``ids``: those, when the caller has
    them already). None: history is off or unreachable."""
    from incidents.record import places  # noqa: PLC0415

    query = _record_query(ctx)
    if query is None or actor is None:
        return None
    if ids is None:
        ids = readable_ids(ctx, actor, since, until)

    def run(conn, a):  # noqa: ANN001, ANN202
        places.sync(conn, ctx.city)
        return places.breakdown(conn, *a)

    got = query(run, (kind, since, until, ids), None)
    if got is None:
        return None
    return pd.DataFrame(got, columns=["code", "name", "town_code", "received", "closed", "voided"])


STAGES = ("accepted", "dispatched", "handled", "verified", "closed")
"""The states whose first time a row carries (``Incident.times``)."""


def to_geojson(df: pd.DataFrame) -> dict:
    """Points as a GeoJSON FeatureCollection (WGS-84), every other column a property."""
    props = [c for c in df.columns if c not in ("lon", "lat")]
    records = json.loads(df[props].to_json(orient="records", force_ascii=False))
    feats = [{"type": "Feature", "geometry": {"type": "Point",
                                              "coordinates": [round(lon, 6), round(lat, 6)]},
              "properties": p}
             for lon, lat, p in zip(df["lon"], df["lat"], records, strict=True)]
    return {"type": "FeatureCollection", "features": feats}


def period_alarms(ctx: AppContext, since: float, until: float) -> pd.DataFrame:
    """Alarm-episode events of the period (``om:alarms``, by stream id time)."""
    from incidents import keys as ik  # noqa: PLC0415 (ALARMS is named there for the incidents side)

    entries = ctx.redis.xrange(ik.ALARMS, min=f"{int(since * 1000)}-0",
                               max=f"{int(until * 1000)}-99999", count=MAX_PERIOD_ALARMS)
    rows = []
    for eid, f in entries:
        try:
            lon, lat = float(f.get("lon", "")), float(f.get("lat", ""))
        except ValueError:
            continue
        rows.append({"id": eid, "episode": f.get("episode", ""), "event": f.get("event", ""),
                     "source": f.get("source", ""), "device_id": f.get("device_id", ""),
                     "device_type": f.get("device_type", ""), "level": f.get("level", ""),
                     "message": f.get("message", ""), "lon": lon, "lat": lat,
                     "time": _iso(int(eid.split("-")[0]) / 1000)})
    return pd.DataFrame(rows, columns=["id", "episode", "event", "source", "device_id",
                                       "device_type", "level", "message", "lon", "lat", "time"])


def devices_frame(ctx: AppContext) -> pd.DataFrame:
    """Sensors and cameras with their state now (om:dev:state)."""
    from sensors import keys as sk  # noqa: PLC0415

    reg = ctx.devices
    state = ctx.redis.hgetall(sk.DEV_STATE)
    s = reg.sensors
    c = reg.cameras
    df = pd.concat([
        pd.DataFrame({"id": s["id"], "kind": "sensor", "type": s["type"], "name": s["name"],
                      "lon": s["lon"], "lat": s["lat"]}),
        pd.DataFrame({"id": c["id"], "kind": "camera", "type": "camera", "name": c["name"],
                      "lon": c["lon"], "lat": c["lat"]}),
    ], ignore_index=True)
    df["state"] = [state.get(i, "normal") for i in df["id"]]
    return df[["id", "kind", "type", "name", "state", "lon", "lat"]]


def kepler_datasets(ctx: AppContext, actor, since: float, until: float  # noqa: ANN001
                    ) -> dict[str, pd.DataFrame]:
    """The three point tables of the kepler view (columns ``lat``/``lon`` for kepler)."""
    out = {}
    if actor is not None and actor.role in ("city_commander", "city_operator", "admin") \
            or (actor is not None and actor.role == "supervisor" and actor.is_city):
        out["devices 设备"] = devices_frame(ctx)
        out["alarms 告警"] = period_alarms(ctx, since, until)
    out["incidents 事件"] = period_incidents(ctx, actor, since, until)
    return out


# --- charts ----------------------------------------------------------------------------------
PALETTE = {"received": "#60a5fa", "closed": "#34d399", "overdue": "#f87171",
           "accept": "#a78bfa", "dispatch": "#fbbf24", "handle": "#34d399"}


def _layout(fig: go.Figure, title: str, height: int = 340) -> go.Figure:
    fig.update_layout(title={"text": title, "x": 0.01, "font": {"size": 15}}, height=height,
                      margin={"l": 48, "r": 12, "t": 44, "b": 90}, template="plotly_dark",
                      paper_bgcolor="#111a2e", plot_bgcolor="#111a2e",
                      legend={"orientation": "h", "y": 1.12, "x": 1, "xanchor": "right"},
                      font={"family": "Noto Sans CJK SC, Microsoft YaHei, sans-serif"})
    return fig


def volume_figure(df: pd.DataFrame, title: str) -> go.Figure:
    d = df.sort_values("received", ascending=False)
    fig = go.Figure([
        go.Bar(name="受理量", x=d["name"], y=d["received"], marker_color=PALETTE["received"]),
        go.Bar(name="结案", x=d["name"], y=d["closed"], marker_color=PALETTE["closed"]),
        go.Bar(name="当前超期", x=d["name"], y=d["overdue_now"],
               marker_color=PALETTE["overdue"]),
    ])
    fig.update_layout(barmode="group")
    return _layout(fig, title)


def ontime_figure(df: pd.DataFrame, title: str) -> go.Figure:
    d = df[df["received"] > 0].sort_values("score", ascending=False)
    # a stage a tier never does (towns do not handle: departments do) gets no empty series
    fig = go.Figure([
        go.Bar(name=f"{label}按时率", x=d["name"], y=d[col], marker_color=PALETTE[key])
        for key, col, label in (("accept", "accepted_on_time_rate", "受理"),
                                ("dispatch", "dispatched_on_time_rate", "派遣"),
                                ("handle", "handled_on_time_rate", "处置"))
        if d[col].notna().any()])
    fig.update_layout(barmode="group", yaxis={"tickformat": ".0%", "range": [0, 1.05]})
    return _layout(fig, title)


def score_figure(df: pd.DataFrame, title: str) -> go.Figure:
    d = df.dropna(subset=["score"]).sort_values("score")
    fig = go.Figure(go.Bar(x=d["score"], y=d["name"], orientation="h",
                           marker={"color": d["score"], "colorscale": "RdYlGn", "cmin": 40,
                                   "cmax": 100},
                           text=[f"{s:.1f}" for s in d["score"]], textposition="outside",
                           cliponaxis=False))
    fig.update_xaxes(range=[0, 112])
    return _layout(fig, title, height=max(260, 26 * len(d) + 80))


def _pct(v: float | None) -> str:
    return "–" if v is None or pd.isna(v) else f"{v:.0%}"


def kpi_cards(k: dict) -> list:
    items = [("受理量", f"{k.get('received', 0):,}"),
             ("人工上报 / 机器生成", f"{k.get('received_human', 0):,} / "
                                   f"{k.get('received_machine', 0):,}"),
             ("考核结案率 (机器件自受理起)", _pct(k.get("assessed_closure_rate"))),
             ("结案率", _pct(k.get("closure_rate"))),
             ("处置按时率", _pct(k.get("handled_on_time_rate"))),
             ("当前超期", f"{k.get('overdue_now', 0):,}"), ("返工率", _pct(k.get("reopen_rate"))),
             ("满意度", "–" if k.get("satisfaction") is None else f"{k['satisfaction']:.2f} / 5")]
    return [html.Div([html.Div(v, className="v"), html.Div(label, className="l")],
                     className="kpi", id=f"kpi-{i}") for i, (label, v) in enumerate(items)]


RANK_COLUMNS = [("rank", "名次"), ("name", "中心"), ("score", "得分"),
                ("score_raw", "得分(含未受理机器件)"), ("received", "受理"),
                ("received_human", "人工上报"), ("received_machine", "机器生成"),
                ("accepted_machine", "机器件已受理"), ("closed", "结案"),
                ("assessed_closure_rate", "考核结案率"), ("closure_rate", "结案率"),
                ("accepted_on_time_rate", "受理按时"), ("dispatched_on_time_rate", "派遣按时"),
                ("handled_on_time_rate", "处置按时"), ("overdue_now", "超期"),
                ("reopen_rate", "返工率"), ("satisfaction", "满意度"), ("handle_mean_h", "处置均时 h")]


def rank_columns(df: pd.DataFrame) -> list[dict]:
    """Ranking columns, without the measures a tier never has (towns do not handle cases)."""
    keep = [(k, n) for k, n in RANK_COLUMNS
            if df.empty or k not in df or k in ("rank", "name") or df[k].notna().any()]
    return [{"name": n, "id": k} for k, n in keep]


def rank_rows(df: pd.DataFrame) -> list[dict]:
    out = []
    for r in df.to_dict("records"):
        row = {"center": r.get("center")}
        for k, _ in RANK_COLUMNS:
            v = r.get(k)
            if k.endswith("_rate"):
                v = _pct(v)
            elif isinstance(v, float) and pd.isna(v):
                v = "–"
            row[k] = v
        out.append(row)
    return out


DRILL_COLUMNS = [("id", "编号"), ("title", "标题"), ("state_name", "状态"), ("severity", "等级"),
                 ("created", "上报"), ("due", "时限"), ("overdue", "超期"), ("handlers", "处置单位")]


def drill_table(df: pd.DataFrame, name: str | None) -> list:
    """The drill-down under the ranking: one center's cases of the period, newest first."""
    head = html.H3(f"{name or ''} 本期事件 {len(df)} 件")
    if df.empty:
        return [head, html.P("本期无事件", className="hint")]
    rows = df.sort_values("created", ascending=False).head(200)
    data = [{k: ("是" if v is True else "否" if v is False else (v or "")) for k, v in r.items()}
            for r in rows[[k for k, _ in DRILL_COLUMNS]].to_dict("records")]
    return [head, dash_table.DataTable(
        id="an-drill-table", columns=[{"name": n, "id": k} for k, n in DRILL_COLUMNS], data=data,
        page_size=20, style_header={"backgroundColor": "#1f2a44", "color": "#e5e7eb"},
        style_cell={"backgroundColor": "#111a2e", "color": "#e5e7eb", "border": "1px solid #1f2a44",
                    "padding": "4px 8px", "fontFamily": "inherit", "textAlign": "left"})]


# --- routes: exports and kepler --------------------------------------------------------------
def _install_routes(server: Flask, ctx: AppContext) -> None:
    def who():  # noqa: ANN202
        from app.auth import require_role  # noqa: PLC0415

        return require_role(*ANALYTICS_ROLES)

    def span() -> tuple[float, float]:
        try:
            return period(request.args.get("start"), request.args.get("end"))
        except ValueError as exc:   # ?start=foo, or a reversed range: say why, never a 500
            abort(security.json_error(400, "bad_request", reason=str(exc)))

    def fname(ext: str) -> str:
        a, b = request.args.get("start", ""), request.args.get("end", "")
        return f"onemap-incidents-{a or 'start'}-{b or 'today'}.{ext}"

    def exported(kind: str, actor, n: int, resp: Response) -> Response:  # noqa: ANN001
        """Every export is audited (who took what, SEC9) and never cached."""
        a, b = request.args.get("start", ""), request.args.get("end", "")
        security.audit(ctx.redis, "export", user=actor.user_id, role=actor.role,
                       center=actor.center, path=request.path,
                       target=f"{kind} {a or 'start'}..{b or 'today'}", reason=f"{n} incidents")
        return security.no_store(resp)

    @server.get("/analytics/export.csv", endpoint="analytics_csv")
    def export_csv():
        actor = who()
        df = period_incidents(ctx, actor, *span())
        text = [c for c in df.columns if not pd.api.types.is_numeric_dtype(df[c])]
        df[text] = df[text].map(security.csv_cell)  # titles are free text: no formulas
        buf = io.StringIO()
        df.to_csv(buf, index=False)
        # UTF-8 BOM: Excel (what assessors open it with) then reads the Chinese correctly
        return exported("csv", actor, len(df), Response(
            "\ufeff" + buf.getvalue(), mimetype="text/csv",
            headers={"Content-Disposition": f"attachment; filename={fname('csv')}"}))

    @server.get("/analytics/ranking.csv", endpoint="analytics_ranking_csv")
    def export_ranking():
        actor = who()
        tier = request.args.get("tier", "town")
        if tier not in ("town", "department"):
            abort(security.json_error(400, "bad_request", reason="层级应为 town 或 department"))
        df = ranking(ctx, actor, tier, *span())
        cols = rank_columns(df)
        rows = rank_rows(df)
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow([c["name"] for c in cols])
        for row in rows:
            w.writerow([security.csv_cell(row.get(c["id"], "")) for c in cols])
        resp = Response("\ufeff" + buf.getvalue(), mimetype="text/csv; charset=utf-8", headers={
            "Content-Disposition": f"attachment; filename={fname('csv').replace('incidents', 'ranking')}"})
        return exported("ranking.csv", actor, len(rows), resp)

    @server.get("/analytics/export.geojson", endpoint="analytics_geojson")
    def export_geojson():
        actor = who()
        df = period_incidents(ctx, actor, *span())
        return exported("geojson", actor, len(df), Response(
            json.dumps(to_geojson(df), ensure_ascii=False), mimetype="application/geo+json",
            headers={"Content-Disposition": f"attachment; filename={fname('geojson')}"}))

    @server.get("/analytics/kepler.json", endpoint="analytics_kepler_json")
    def export_kepler():
        actor = who()
        data = kepler_datasets(ctx, actor, *span())
        doc = kepler.kepler_json(data, _kepler_config(ctx, list(data)), title="OneMap 考核")
        n = len(data.get("incidents 事件", ()))
        return exported("kepler.json", actor, n, Response(
            json.dumps(doc, ensure_ascii=False, default=str), mimetype="application/json",
            headers={"Content-Disposition": f"attachment; filename={fname('kepler.json')}"}))

    @server.get("/analytics/kepler", endpoint="analytics_kepler")
    def kepler_page():
        actor = who()
        # empty tables are left out: kepler invents a time filter for an empty dataset
        data = {k: v for k, v in kepler_datasets(ctx, actor, *span()).items() if len(v)}
        sets = {name: kepler.frame_dataset(name, df) for name, df in data.items()}
        return kepler.respond(kepler.page(sets, _kepler_config(ctx, list(data)),
                                          title="OneMap 考核分析"))


LAYER_STYLE = {   # dataset → (label, colour, radius px, tooltip fields); devices under the rest
    "devices 设备": ("设备 devices", (100, 116, 139), 1.5, ("id", "type", "name", "state")),
    "alarms 告警": ("告警 alarms", (249, 115, 22), 7, ("device_id", "level", "message", "time")),
    "incidents 事件": ("事件 incidents", (239, 68, 68), 10,
                     ("id", "category_name", "state_name", "center_name", "created", "overdue")),
}


def _kepler_config(ctx: AppContext, names: list[str] | None = None) -> dict:
    b = ctx.city.boundary.bounds
    names = names if names is not None else list(LAYER_STYLE)
    layers = [kepler.point_layer(n, *LAYER_STYLE[n][:3], tooltip=LAYER_STYLE[n][3])
              for n in reversed(LAYER_STYLE) if n in names]   # kepler draws the first on top
    return kepler.default_config(((b[0] + b[2]) / 2, (b[1] + b[3]) / 2), zoom=9.2, layers=layers)


def _town_outlines(ctx: AppContext) -> dict:
    towns = ctx.city.towns[["code", "name", "geometry"]].copy()
    towns["geometry"] = towns.geometry.boundary.simplify(0.0005)
    return json.loads(towns.to_json())


# --- the Dash app ----------------------------------------------------------------------------
def mount(server: Flask, ctx: AppContext) -> Dash:
    """The /analytics/ Dash app, its export routes and the kepler routes."""
    style: dict = {}

    def basemap() -> dict:   # built on first use, then kept: the town outlines never change
        if not style:
            style.update(kepler.local_style(_town_outlines(ctx)))
        return style

    kepler.install(server, basemap)
    _install_routes(server, ctx)
    app = Dash("onemap_analytics", server=server, url_base_pathname="/analytics/",
               assets_folder=str(ASSETS_DIR / "analytics"), title="考核评价 · OneMap",
               update_title=None, serve_locally=True)
    def page() -> html.Div:
        """Per request: the default period ends today (a server running past midnight must not
        default to yesterday), and the links are to the caller's other screens."""
        from app.auth import current_actor  # noqa: PLC0415

        actor = current_actor()
        links = nav_bar(actor.role if actor else None, "analytics").children   # app.screens.nav
        return _page(dt.datetime.now(TZ).date(), links)

    app.layout = page
    @app.callback(
        Output("an-cards", "children"), Output("an-volume", "figure"),
        Output("an-ontime", "figure"), Output("an-score", "figure"), Output("an-rank", "data"),
        Output("an-rank", "columns"),
        Output("an-csv", "href"), Output("an-geojson", "href"), Output("an-kjson", "href"),
        Output("an-rank-csv", "href"),
        Input("an-period", "start_date"), Input("an-period", "end_date"),
        Input("an-tier", "value"))
    def refresh(start, end, tier):  # noqa: ANN001
        from app.auth import require_role  # noqa: PLC0415

        actor = require_role(*ANALYTICS_ROLES)
        q = f"?start={(start or '')[:10]}&end={(end or '')[:10]}"
        try:
            since, until = period(start, end)
        except ValueError as exc:    # a typed, reversed range: told, nothing computed
            empty = _layout(go.Figure(), "无数据")
            return (html.Div(f"✗ 时间段有误: {exc}", className="kpi err"), empty, empty, empty,
                    [], [], *_links(q, tier))
        df = ranking(ctx, actor, tier, since, until)
        own = None if actor.is_city else actor.center
        city = ctx.incidents.kpis(own, since, until)
        label = "镇街" if tier == "town" else "部门"
        if df.empty:
            empty = _layout(go.Figure(), "无数据")
            return kpi_cards(city), empty, empty, empty, [], rank_columns(df), *_links(q, tier)
        return (kpi_cards(city), volume_figure(df, f"{label}事件量"),
                ontime_figure(df, f"{label}各环节按时率"), score_figure(df, f"{label}考核得分"),
                rank_rows(df), rank_columns(df), *_links(q, tier))

    from app.hotline import register_rates  # noqa: PLC0415 (12345 rates beside targets, issue 24)

    register_rates(app, ctx, ANALYTICS_ROLES, period)
    from app.reports import register_section  # noqa: PLC0415 (报表: 日报/周报/月报, issue 24)

    register_section(app, ctx, ANALYTICS_ROLES)
    from app.minqing import register_section as register_minqing  # noqa: PLC0415 (民情, issue 24)

    register_minqing(app, ctx, ANALYTICS_ROLES, period)

    @app.callback(Output("an-drill", "children"), Input("an-rank", "active_cell"),
                  State("an-rank", "derived_viewport_data"), State("an-period", "start_date"),
                  State("an-period", "end_date"), prevent_initial_call=True)
    def drill(cell, rows, start, end):  # noqa: ANN001
        """钻取: the period's cases of the center clicked in the ranking (what the caller may read)."""
        from app.auth import require_role  # noqa: PLC0415

        actor = require_role(*ANALYTICS_ROLES)
        if not cell or not rows or not 0 <= cell.get("row", -1) < len(rows):
            return no_update
        center, name = rows[cell["row"]].get("center"), rows[cell["row"]].get("name")
        try:
            since, until = period(start, end)
        except ValueError:
            return no_update
        df = period_incidents(ctx, actor, since, until)
        mine = df[(df["center"] == center) | df["handlers"].str.contains(str(name or "-"), regex=False)]
        return drill_table(mine, name)

    @app.callback(Output("an-hist-town", "data"), Output("an-hist-cell", "data"),
                  Output("an-hist-note", "children"), Input("an-tabs", "value"),
                  Input("an-period", "start_date"), Input("an-period", "end_date"))
    def history(tab, start, end):  # noqa: ANN001
        """历史分布: the period's cases by town and grid cell from the record (PostGIS)."""
        from app.auth import require_role  # noqa: PLC0415

        actor = require_role(*ANALYTICS_ROLES)
        if tab != "history":
            return no_update, no_update, no_update
        try:
            since, until = period(start, end)
        except ValueError as exc:
            return [], [], f"✗ 时间段有误: {exc}"
        if _record_query(ctx) is None:
            return [], [], "历史档案库未启用：无法按区域统计历史"
        ids = readable_ids(ctx, actor, since, until)
        towns = history_breakdown(ctx, actor, "town", since, until, ids)
        cells = history_breakdown(ctx, actor, "cell", since, until, ids)
        if towns is None or cells is None:
            return [], [], "历史档案库暂不可达：无法按区域统计历史"
        cols = [k for k, _ in PLACE_COLUMNS]
        note = (f"档案库按镇街、网格边界空间统计：{int(towns['received'].sum()):,} 件"
                f"落在 {len(towns)} 个镇街")
        return (towns[cols].to_dict("records"), cells[cols].head(100).to_dict("records"), note)

    @app.callback(Output("an-kepler", "src"), Input("an-tabs", "value"),
                  Input("an-period", "start_date"), Input("an-period", "end_date"),
                  State("an-kepler", "src"))
    def kepler_src(tab, start, end, current):  # noqa: ANN001
        # the kepler bundle is 12 MB: load it only when the analyst opens the tab
        if tab != "kepler":
            return current
        return f"/analytics/kepler?start={(start or '')[:10]}&end={(end or '')[:10]}"

    return app


def _page(today: dt.date, links: list) -> html.Div:
    """The /analytics page for a period ending ``today``."""
    return html.Div(className="an", children=[
        html.Header([
            html.H1("考核评价"),
            dcc.DatePickerRange(id="an-period", display_format="YYYY-MM-DD",
                                start_date=str(today - dt.timedelta(days=DEFAULT_DAYS - 1)),
                                end_date=str(today), first_day_of_week=1,
                            start_date_placeholder_text="开始日期", end_date_placeholder_text="结束日期"),
            dcc.RadioItems(id="an-tier", value="town", inline=True, className="tier",
                           options=[{"label": "镇街分中心", "value": "town"},
                                    {"label": "部门分中心", "value": "department"}]),
            html.Nav([html.A("CSV", id="an-csv", href="#", className="btn"),
                      html.A("GeoJSON", id="an-geojson", href="#", className="btn"),
                      html.A("kepler.gl 文件", id="an-kjson", href="#", className="btn"),
                      html.A("排名 CSV", id="an-rank-csv", href="#", className="btn"),
                      *links, html.A("退出", href="/logout")]),
        ]),
        html.Section(id="an-cards", className="cards"),
        dcc.Tabs(id="an-tabs", value="kpi", className="tabs", children=[
            dcc.Tab(label="指标与排名", value="kpi", style=TAB, selected_style=TAB_ON,
                    children=[
                html.Div(className="charts", children=[
                    dcc.Graph(id="an-volume", config=GRAPH_CONFIG),
                    dcc.Graph(id="an-ontime", config=GRAPH_CONFIG),
                ]),
                html.Div(className="rank", children=[
                    dcc.Graph(id="an-score", config=GRAPH_CONFIG),
                    dash_table.DataTable(
                        id="an-rank", columns=[{"name": n, "id": k} for k, n in RANK_COLUMNS],
                        sort_action="native", page_size=30,
                        style_table={"overflowX": "auto"},
                        style_header={"backgroundColor": "#1f2a44", "color": "#e5e7eb",
                                      "fontWeight": 600},
                        style_cell={"backgroundColor": "#111a2e", "color": "#e5e7eb",
                                    "border": "1px solid #1f2a44", "padding": "4px 8px",
                                    "fontFamily": "inherit", "textAlign": "left"}),
                ]),
                html.Div(id="an-drill", className="drill",
                         children=html.P("点排名中的一个中心，列出它本期的事件", className="hint")),
            ]),
            dcc.Tab(label="历史分布（档案库）", value="history", style=TAB, selected_style=TAB_ON,
                    children=[
                html.P(id="an-hist-note", className="hint"),
                html.Div(className="charts", children=[
                    html.Div([html.H3("按镇街"), _place_table("an-hist-town")]),
                    html.Div([html.H3("按网格（前100）"), _place_table("an-hist-cell")]),
                ]),
            ]),
            dcc.Tab(label="kepler.gl 空间分析", value="kepler", style=TAB, selected_style=TAB_ON,
                    children=[
                html.Iframe(id="an-kepler", className="kepler", title="kepler.gl"),
            ]),
        ]),
    ])


def _place_table(id_: str) -> dash_table.DataTable:
    return dash_table.DataTable(
        id=id_, columns=[{"name": n, "id": k} for k, n in PLACE_COLUMNS], data=[], page_size=30,
        style_header={"backgroundColor": "#1f2a44", "color": "#e5e7eb", "fontWeight": 600},
        style_cell={"backgroundColor": "#111a2e", "color": "#e5e7eb", "border": "1px solid #1f2a44",
                    "padding": "4px 8px", "fontFamily": "inherit", "textAlign": "left"})


TAB = {"backgroundColor": "#111a2e", "color": "#9ca3af", "border": "1px solid #1f2a44",
       "padding": "8px 14px", "height": "auto"}
TAB_ON = dict(TAB, color="#f8fafc", backgroundColor="#16233d", borderTop="3px solid #60a5fa",
              fontWeight=600)


def _links(q: str, tier: str) -> tuple[str, str, str, str]:
    return (f"/analytics/export.csv{q}", f"/analytics/export.geojson{q}",
            f"/analytics/kepler.json{q}", f"/analytics/ranking.csv{q}&tier={tier}")
