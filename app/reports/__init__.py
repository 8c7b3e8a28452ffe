"""Leaders' reports (日报/周报/月报, issue 24; E14/E15, E36/E52, S5; SEC9 audit, S2 分级控制).

- ``figures.compute``: a period's figures for a scope, by the code /analytics calls;
- ``render.pdf`` / ``render.xlsx``: the PDF (Chinese font embedded) and the workbook;
- ``generate``: computes and stores both as files under ``<data_dir>/reports/<scope>/``
  (``<kind>-<first day>.pdf|.xlsx``, written atomically; a JSON note beside them);
- ``Scheduler``: what the ``[reports]`` table asks for, made once each (the deadline worker's
  tick runs it: ``DeadlineWorker.periodic``);
- HTTP (``bp``): ``GET /analytics/reports`` the caller's reports, ``POST /analytics/reports``
  ``{"kind", "day"}`` one now, ``GET /analytics/reports/<scope>/<file>`` a download — every
  download audited (``security.audit`` event ``report_download``); another scope's: 403, audited;
  ``GET /analytics/reports/case/<id>.pdf`` an incident's 专报 (``special``), the case's read
  scope enforced;
- ``register_section``: the /analytics 报表 section (the caller's reports — title, kind, period,
  when made — with download links, and a button to make the 日报/周报/月报 of the chosen end day), 指标与目标
  (each KPI of the chosen period beside its target, 约束性/预期性, 达标) and 设备在线率与鲜活率
  (now, by device type and by town: the reports' tables, S5); a case number opens its 专报.

Configuration ``[reports]``: ``daily_at = "07:00"`` (Beijing time; the previous day's 日报, the
previous week's 周报 and month's 月报 are made after it), ``kinds = ["daily", "weekly",
"monthly"]``, ``scopes = ["CITY", "towns"]`` (``towns``: every town/street center),
``targets.<kpi> = {target, binding}`` (KPI targets, ``figures.KPI_TARGETS``).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import time
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, abort, current_app, request

from app import security
from app.hotline import MET_WORDS
from app.reports import figures, render
from app.timefmt import CST

log = logging.getLogger(__name__)
bp = Blueprint("reports", __name__)
FILE_RE = re.compile(r"^(daily|weekly|monthly)-(\d{4}-\d{2}-\d{2})\.(pdf|xlsx)$")
SCOPE_RE = re.compile(r"^(CITY|[TD][0-9A-Za-z]{1,20})$")
MIME = {"pdf": "application/pdf",
        "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
DEFAULTS: dict[str, Any] = {"daily_at": "07:00", "kinds": ["daily", "weekly", "monthly"],
                            "scopes": ["CITY", "towns"], "targets": {}}
"""Demo defaults of ``[reports]``."""


def check(table: dict[str, Any]) -> dict[str, Any]:
    """``[reports]`` validated (ValueError naming the key): a typo is refused at start, not
    found by a scheduler failing every pass."""
    cfg = DEFAULTS | dict(table or {})
    unknown = set(cfg) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"[reports]: unknown key(s) {sorted(unknown)}")
    if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", str(cfg["daily_at"])):
        raise ValueError(f"[reports] daily_at must be HH:MM, got {cfg['daily_at']!r}")
    bad = [k for k in cfg["kinds"] if k not in figures.KINDS]
    if bad:
        raise ValueError(f"[reports] kinds: unknown {bad} (daily, weekly, monthly)")
    bad = [x for x in cfg["scopes"] if x != "towns" and not SCOPE_RE.match(str(x))]
    if bad:
        raise ValueError(f"[reports] scopes: {bad} (CITY, towns or a center code)")
    for k, t in (cfg["targets"] or {}).items():
        if k not in figures.KPI_TARGETS or not isinstance(t, dict) \
                or not 0 <= float(t.get("target", 0)) <= 1:
            raise ValueError(f"[reports.targets.{k}]: a KPI of {sorted(figures.KPI_TARGETS)} "
                             "with target 0–1 and binding true/false")
    return cfg


def config(ctx) -> dict[str, Any]:  # noqa: ANN001 (AppContext)
    """``[reports]`` over ``DEFAULTS``."""
    return DEFAULTS | dict(getattr(ctx.settings, "reports", None) or {})


def root(ctx) -> Path:  # noqa: ANN001
    return Path(ctx.settings.data_dir) / "reports"


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def generate(ctx, kind: str, day: dt.date, scope: str = "CITY") -> dict:  # noqa: ANN001
    """Compute and store the ``kind`` report containing ``day`` for ``scope``; its listing."""
    f = figures.compute(ctx, kind, day, scope, config(ctx).get("targets") or {})
    d = root(ctx) / scope
    d.mkdir(parents=True, exist_ok=True)
    stem = f"{kind}-{f.start.isoformat()}"
    _write(d / f"{stem}.pdf", render.pdf(f))
    _write(d / f"{stem}.xlsx", render.xlsx(f))
    note = {"kind": kind, "scope": scope, "title": f.title, "start": f.start.isoformat(),
            "end": f.end.isoformat(), "generated": f.generated}
    _write(d / f"{stem}.json", json.dumps(note, ensure_ascii=False).encode())
    return _entry(scope, stem, note)


def _entry(scope: str, stem: str, note: dict) -> dict:
    base = f"/analytics/reports/{scope}/{stem}"
    return dict(note, scope=scope, pdf=f"{base}.pdf", xlsx=f"{base}.xlsx")


def listing(ctx, actor) -> list[dict]:  # noqa: ANN001
    """The reports ``actor`` may read, newest period first: the city every scope's, a center
    its own only (S2)."""
    base = root(ctx)
    if not base.is_dir():
        return []
    scopes = [p.name for p in base.iterdir() if p.is_dir()] if actor.is_city else [actor.center]
    out = []
    for s in scopes:
        for p in (base / s).glob("*.json") if SCOPE_RE.match(s) else ():
            try:
                out.append(_entry(s, p.stem, json.loads(p.read_text())))
            except (OSError, ValueError):
                log.warning("report note unreadable: %s", p)
    return sorted(out, key=lambda e: (e["start"], e["scope"] != "CITY", e["scope"]), reverse=True)


def scopes(ctx, cfg: dict) -> list[str]:  # noqa: ANN001
    out: list[str] = []
    for s in cfg.get("scopes") or ["CITY"]:
        if s == "towns":
            out += sorted(c.code for c in ctx.city.centers.values() if c.tier == "town")
        else:
            out.append(s)
    return list(dict.fromkeys(out))


def due(now: float, cfg: dict) -> list[tuple[str, dt.date]]:
    """The (kind, a day of its period) the schedule wants made by ``now``: the last complete
    day, week and month, once it is past ``daily_at`` (Beijing time)."""
    t = dt.datetime.fromtimestamp(now, CST)
    hh, mm = (int(x) for x in str(cfg.get("daily_at", "07:00")).split(":"))
    today = t.date() if (t.hour, t.minute) >= (hh, mm) else t.date() - dt.timedelta(days=1)
    yesterday = today - dt.timedelta(days=1)
    want = {"daily": yesterday, "weekly": today - dt.timedelta(days=today.weekday() + 1),
            "monthly": today.replace(day=1) - dt.timedelta(days=1)}
    return [(k, want[k]) for k in cfg.get("kinds") or () if k in want]


class Scheduler:
    """Makes each scheduled report once (a stored one is never made again): at most one report
    per ``every_s`` (30 s; the first after ``every_s``), the city's first, so the deadline
    worker's tick that runs it (``DeadlineWorker.periodic``) stays short and a short-lived
    process makes none. A failure is logged, counted (``report_failed``) and not retried by
    this process (the others go on); it never stops the worker."""

    def __init__(self, ctx, clock=time.time, every_s: float = 30.0) -> None:  # noqa: ANN001
        self.ctx, self.clock, self.every_s = ctx, clock, every_s
        self._next = clock() + every_s
        self._failed: set[tuple[str, str, str]] = set()
        self.stats: dict[str, int] = {"made": 0, "failed": 0}

    def pending(self, now: float) -> list[tuple[str, dt.date, str]]:
        """(kind, day, scope) the schedule wants and the store lacks, the city's first."""
        cfg = config(self.ctx)
        out = []
        for scope in scopes(self.ctx, cfg):
            for kind, day in due(now, cfg):
                start = figures.span(kind, day)[0].isoformat()
                if (kind, start, scope) in self._failed or \
                        (root(self.ctx) / scope / f"{kind}-{start}.json").exists():
                    continue
                out.append((kind, day, scope))
        return out

    def tick(self) -> dict[str, int]:
        now = self.clock()
        if now < self._next:
            return {}
        self._next = now + self.every_s
        todo = self.pending(now)
        if not todo:
            return {}
        kind, day, scope = todo[0]
        try:
            generate(self.ctx, kind, day, scope)
        except Exception:   # logged, counted, skipped by this process; the others go on
            log.exception("report %s %s %s failed", kind, day, scope)
            self._failed.add((kind, figures.span(kind, day)[0].isoformat(), scope))
            self.stats["failed"] += 1
            return {"report_failed": 1}
        self.stats["made"] += 1
        return {"report_made": 1}


# --- HTTP ------------------------------------------------------------------------------------
def _ctx():  # noqa: ANN202
    return current_app.extensions["onemap"]


def _actor():  # noqa: ANN202
    from app.auth import require_role  # noqa: PLC0415
    from app.screens.analytics import ANALYTICS_ROLES  # noqa: PLC0415

    return require_role(*ANALYTICS_ROLES)


@bp.get("/analytics/reports", endpoint="reports_list")
def reports_list():
    return security.no_store(Response(json.dumps(listing(_ctx(), _actor()), ensure_ascii=False),
                                      mimetype="application/json"))


@bp.post("/analytics/reports", endpoint="reports_make")
def reports_make():
    """Make one report now for the caller's scope (the city: ``scope`` may name a center)."""
    actor, ctx = _actor(), _ctx()
    body = request.get_json(silent=True) or {}
    kind = str(body.get("kind", "daily"))
    scope = str(body.get("scope") or actor.center)
    if kind not in figures.KINDS:
        abort(security.json_error(400, "bad_request", reason="报表类型应为 日报/周报/月报"))
    try:
        day = dt.date.fromisoformat(str(body.get("day", ""))[:10])
    except ValueError:
        abort(security.json_error(400, "bad_request", reason="日期格式应为 YYYY-MM-DD"))
    if not SCOPE_RE.match(scope) or (not actor.is_city and scope != actor.center) \
            or (scope != "CITY" and scope not in ctx.city.centers):
        abort(security.json_error(403, "forbidden", reason="无权生成该范围的报表"))
    return security.no_store(Response(json.dumps(generate(ctx, kind, day, scope),
                                                 ensure_ascii=False),
                                      status=201, mimetype="application/json"))


@bp.get("/analytics/reports/<scope>/<name>", endpoint="reports_download")
def reports_download(scope: str, name: str):
    """One report's PDF or XLSX: the city any scope's, a center its own (else 403); every
    download and every refusal audited (SEC9)."""
    actor, ctx = _actor(), _ctx()
    m = FILE_RE.match(name)
    if not m or not SCOPE_RE.match(scope):
        abort(security.json_error(404, "not_found", reason="无此报表"))
    if not actor.is_city and scope != actor.center:
        security.audit(ctx.redis, "denied", user=actor.user_id, role=actor.role,
                       center=actor.center, path=request.path, target=f"report {scope}/{name}",
                       reason="report of another scope")
        abort(security.json_error(403, "forbidden", reason="无权下载其他范围的报表"))
    path = root(ctx) / scope / name
    if not path.is_file():
        abort(security.json_error(404, "not_found", reason="无此报表"))
    security.audit(ctx.redis, "report_download", user=actor.user_id, role=actor.role,
                   center=actor.center, path=request.path, target=f"report {scope}/{name}",
                   reason=f"{path.stat().st_size} bytes")
    resp = Response(path.read_bytes(), mimetype=MIME[m.group(3)], headers={
        "Content-Disposition": f"attachment; filename=onemap-{scope}-{name}"})
    return security.no_store(resp)


@bp.get("/analytics/reports/case/<incident_id>.pdf", endpoint="reports_case")
def reports_case(incident_id: str):
    """An incident's 专报 (facts, tasks, timeline) for a reader who may read the case (else 403,
    audited by the incident service); every download audited."""
    from app.reports import special  # noqa: PLC0415
    from incidents.errors import Forbidden, NotFound  # noqa: PLC0415

    actor, ctx = _actor(), _ctx()
    try:
        inc = ctx.incidents.get(incident_id, actor)
        trail = ctx.incidents.timeline(incident_id, actor)
    except NotFound:
        abort(security.json_error(404, "not_found", reason="无此事件"))
    except Forbidden:
        abort(security.json_error(403, "forbidden", reason="无权查看该事件"))
    data = special.pdf(ctx, inc, trail, actor.role)
    security.audit(ctx.redis, "report_download", user=actor.user_id, role=actor.role,
                   center=actor.center, path=request.path, target=f"special {incident_id}",
                   reason=f"{len(data)} bytes")
    return security.no_store(Response(data, mimetype=MIME["pdf"], headers={
        "Content-Disposition": f"attachment; filename=onemap-special-{incident_id}.pdf"}))


# --- /analytics 报表 section --------------------------------------------------------------
LIST_HEADER = ("报表", "类型", "时间段", "生成时间", "下载")


def _made(ts: float | None) -> str:
    return dt.datetime.fromtimestamp(float(ts), CST).strftime("%Y-%m-%d %H:%M") if ts else "—"


def _links(entries: list[dict]) -> list:
    """The leader's list: each report's title, kind, period and when it was made, with its
    打印版 (PDF) and 表格版 (XLSX) links (each download audited)."""
    from dash import html  # noqa: PLC0415

    if not entries:
        return [html.P("暂无报表", className="hint")]
    head = html.Thead(html.Tr([html.Th(h) for h in LIST_HEADER]))
    rows = [html.Tr([
        html.Td(e["title"], className="report-title"),
        html.Td(figures.KINDS.get(e.get("kind", ""), e.get("kind", "")), className="report-kind"),
        html.Td(e["start"] if e["start"] == e["end"] else f"{e['start']} 至 {e['end']}",
                className="report-period"),
        html.Td(_made(e.get("generated")), className="report-made"),
        html.Td([html.A("打印版", href=e["pdf"], className="btn report-pdf"), " ",
                 html.A("表格版", href=e["xlsx"], className="btn report-xlsx")])],
        className="report-row") for e in entries[:60]]
    return [html.Table([head, html.Tbody(rows)], className="report-list")]


def device_tables(ctx, actor) -> tuple[list[dict], list[dict]]:  # noqa: ANN001
    """The /analytics device tables of ``actor``'s scope now, as text (the reports' rows,
    ``figures.devices_for``; 鲜活率, S5)."""
    by_type, by_town = figures.devices_for(ctx, "CITY" if actor.is_city else actor.center)
    return ([{k: render.cell(k, r.get(k)) for k, _ in render.DEVICE_COLS} for r in by_type],
            [{k: render.cell(k, r.get(k)) for k, _ in render.TOWN_DEVICE_COLS} for r in by_town])


CASE_RE = re.compile(r"^[A-Za-z0-9_-]{1,40}$")


def special_href(case_id: str | None) -> str:
    """An incident's 专报 download path, or "" for what cannot be a case number."""
    case_id = (case_id or "").strip()
    return f"/analytics/reports/case/{case_id}.pdf" if CASE_RE.match(case_id) else ""


TARGET_COLUMNS = (("name", "指标"), ("value", "实际"), ("target", "目标"), ("kind", "性质"),
                  ("met", "是否达标"))


def target_rows(rows: list[dict]) -> list[dict]:
    """KPI-beside-target rows as the screen shows them (Chinese only)."""
    return [{"name": r["name"], "value": render.pct(r["value"]), "target": render.pct(r["target"]),
             "kind": r["kind"], "met": MET_WORDS[r["met"]]}
            for r in rows]


def register_section(app, ctx, roles: tuple[str, ...]) -> None:  # noqa: ANN001
    """/analytics: the 报表 section (the caller's reports, newest first, with download links;
    a button makes the 日报/周报/月报 containing the chosen end day now, for the caller's own
    scope), 指标与目标 and 设备在线率与鲜活率. Added through ``analytics.add_section``."""
    from dash import Input, Output, State, dash_table, dcc, html  # noqa: PLC0415

    from app.screens.analytics import add_section  # noqa: PLC0415

    def section():  # noqa: ANN202
        from app.auth import current_actor  # noqa: PLC0415

        actor = current_actor()
        entries = listing(ctx, actor) if actor is not None and actor.role in roles else []
        return html.Section(id="an-reports-box", className="reports", children=[
            html.H3("报表（日报、周报、月报）"),
            dcc.RadioItems(id="an-report-kind", value="daily", inline=True,
                           options=[{"label": n, "value": k} for k, n in figures.KINDS.items()]),
            html.Button("生成（含所选结束日）", id="an-report-make", n_clicks=0, className="btn"),
            html.Span(id="an-report-note", className="hint"),
            html.Div(id="an-reports", children=_links(entries)),
            html.Div(className="report-special", children=[
                html.Label("事件专报：事件编号 ", htmlFor="an-special-id"),
                dcc.Input(id="an-special-id", type="text", debounce=True, maxLength=40),
                " ", html.A("下载专报", id="an-special-link", className="btn report-special-pdf",
                            href="", hidden=True)]),
            html.H3("指标与目标（所选时间段）"),
            dash_table.DataTable(id="an-targets", data=[], style_cell={"textAlign": "center"},
                                 columns=[{"name": n, "id": k} for k, n in TARGET_COLUMNS])])

    add_section(app, section)

    def devices():  # noqa: ANN202
        from app.auth import current_actor  # noqa: PLC0415

        actor = current_actor()
        by_type, by_town = device_tables(ctx, actor) \
            if actor is not None and actor.role in roles else ([], [])
        return html.Section(id="an-devices-box", className="devices", children=[
            html.H3("设备在线率与鲜活率（当前，按类型）"),
            dash_table.DataTable(id="an-devices-type", data=by_type,
                                 style_cell={"textAlign": "center"},
                                 columns=[{"name": n, "id": k} for k, n in render.DEVICE_COLS]),
            html.H3("设备鲜活率（当前，按镇街）"),
            dash_table.DataTable(id="an-devices-town", data=by_town, page_size=40,
                                 style_cell={"textAlign": "center"},
                                 columns=[{"name": n, "id": k}
                                          for k, n in render.TOWN_DEVICE_COLS])])

    add_section(app, devices)

    @app.callback(Output("an-targets", "data"), Input("an-period", "start_date"),
                  Input("an-period", "end_date"))
    def targets(start, end):  # noqa: ANN001, ANN202
        from app.auth import require_role  # noqa: PLC0415
        from app.screens.analytics import period  # noqa: PLC0415

        actor = require_role(*roles)
        try:
            since, until = period(start, end)
        except ValueError:
            return []
        return target_rows(figures.targets_for(ctx, actor, since, until,
                                               config(ctx).get("targets")))

    @app.callback(Output("an-special-link", "href"), Output("an-special-link", "hidden"),
                  Input("an-special-id", "value"), prevent_initial_call=True)
    def special_link(value):  # noqa: ANN001, ANN202
        """The 专报 link of a case number (the download checks the case's read scope)."""
        from app.auth import require_role  # noqa: PLC0415

        require_role(*roles)
        return (special_href(value), False) if special_href(value) else ("", True)

    @app.callback(Output("an-reports", "children"), Output("an-report-note", "children"),
                  Input("an-report-make", "n_clicks"), State("an-period", "end_date"),
                  State("an-report-kind", "value"), prevent_initial_call=True)
    def make(n, end, kind):  # noqa: ANN001, ANN202
        from app.auth import require_role  # noqa: PLC0415

        actor = require_role(*roles)
        try:
            day = dt.date.fromisoformat((end or "")[:10])
        except ValueError:
            return _links(listing(ctx, actor)), "✗ 请先选择结束日期"
        e = generate(ctx, kind if kind in figures.KINDS else "daily", day, actor.center)
        return _links(listing(ctx, actor)), f"已生成：{e['title']}"


__all__ = ["Scheduler", "bp", "config", "device_tables", "due", "generate", "listing",
           "register_section"]
