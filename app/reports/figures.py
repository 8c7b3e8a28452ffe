"""The figures of a leader's report (日报/周报/月报, issue 24; E14/E15 考核, E36/E52 rates, S5
鲜活率): one period (whole Beijing days) seen from one scope (the city: everything; a town or
department center: its own), computed by the SAME code /analytics calls, so the daily report's
figures equal /analytics for the same day and caller:

- ``kpis``: ``IncidentService.kpis(own, since, until)`` (the /analytics cards);
- ``rates``: ``app.hotline.rates_for`` (the 12345 rates beside their targets);
- ``ranking``: ``app.screens.analytics.ranking`` for towns and departments (what the scope sees);
- ``cases``: ``app.screens.analytics.period_incidents`` (what the scope may read), counted by
  channel, category, town and state; ``notable``: those overdue or of a severity in
  ``NOTABLE_SEVERITIES``;
- ``devices`` / ``devices_by_town``: ``sensors.health.summary`` now (online rate and 鲜活率 by
  device type and by town; a town: its own; a department: its types), the same tables as the
  /analytics 设备 section (``devices_for``);
- ``targets``: each KPI beside its target and whether it binds (约束性/预期性).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from app.timefmt import CST
from incidents.actor import Actor
from incidents.incident import CHANNELS
from incidents.rates import BINDING_NAMES

KINDS = {"daily": "日报", "weekly": "周报", "monthly": "月报"}
"""Report kinds and their Chinese names."""
NOTABLE_SEVERITIES = ("重大", "特别重大", "较大")
"""Severities every report lists case by case (with every case overdue now)."""
KPI_TARGETS: dict[str, tuple[str, float, bool]] = {
    "handled_on_time_rate": ("处置按时率", 0.90, True),
    "closure_rate": ("结案率", 0.85, False),
    "accepted_on_time_rate": ("受理按时率", 0.95, True),
}
"""Demo defaults (assumption: the seeds name the measures, not the values): KPI → (name,
target, binding). ``[reports.targets.<kpi>] target, binding`` overrides them."""


def span(kind: str, day: dt.date) -> tuple[dt.date, dt.date]:
    """The whole days of the ``kind`` report containing ``day``: the day, its ISO week
    (Monday–Sunday) or its calendar month."""
    if kind == "daily":
        return day, day
    if kind == "weekly":
        start = day - dt.timedelta(days=day.weekday())
        return start, start + dt.timedelta(days=6)
    if kind == "monthly":
        start = day.replace(day=1)
        nxt = (start + dt.timedelta(days=32)).replace(day=1)
        return start, nxt - dt.timedelta(days=1)
    raise ValueError(f"报表类型应为 daily/weekly/monthly (kind {kind!r})")


def epoch_span(d0: dt.date, d1: dt.date) -> tuple[float, float]:
    """[since, until] epoch seconds of whole CST days, as /analytics' ``period``."""
    return (dt.datetime.combine(d0, dt.time.min, CST).timestamp(),
            dt.datetime.combine(d1, dt.time.max, CST).timestamp())


def title(city_name: str, scope_name: str, kind: str, d0: dt.date, d1: dt.date) -> str:
    """高州市城市运行日报 2026年12月7日 (a town: 高州市潘州街道城市运行日报 …)."""
    who = city_name if not scope_name or scope_name == city_name else f"{city_name}{scope_name}"

    def cn(d: dt.date) -> str:
        return f"{d.year}年{d.month}月{d.day}日"

    when = cn(d0) if d0 == d1 else f"{cn(d0)}至{cn(d1)}"
    return f"{who}城市运行{KINDS[kind]} {when}"


def scope_actor(scope: str) -> Actor:
    """The reader a report is computed for: the city's commander, or a center's supervisor
    (sees its own territory through ``incidents.scope``, like a town leader on /analytics)."""
    if scope == "CITY":
        return Actor("reports", "city_commander", "CITY", "报表")
    return Actor("reports", "supervisor", scope, "报表")


@dataclass
class Figures:
    """What one report says (plain data: rendered to PDF and XLSX by ``app.reports.render``)."""

    kind: str
    scope: str
    scope_name: str
    start: dt.date
    end: dt.date
    title: str
    kpis: dict[str, Any]
    rates: list[dict]
    targets: list[dict]
    ranking: dict[str, pd.DataFrame]
    by: dict[str, pd.DataFrame]
    devices: list[dict]
    notable: pd.DataFrame
    generated: float = 0.0
    notes: list[str] = field(default_factory=list)
    points: list[tuple[float, float, bool]] = field(default_factory=list)
    """The period's cases (lon, lat, overdue now): the hot-spot map."""
    outlines: list[tuple[str, list[list[tuple[float, float]]]]] = field(default_factory=list)
    """The scope's towns (name, rings of lon/lat), simplified: the map's base."""
    devices_by_town: list[dict] = field(default_factory=list)
    """Online rate and 鲜活率 by town (sensors, and cameras as ``cam_*``)."""


def _outlines(ctx, scope: str) -> list[tuple[str, list[list[tuple[float, float]]]]]:  # noqa: ANN001
    towns = ctx.city.towns
    if scope.startswith("T"):
        towns = towns[towns["code"] == scope[1:]]
    out = []
    for name, geom in zip(towns["name"], towns.geometry.simplify(0.002), strict=True):
        polys = getattr(geom, "geoms", [geom])
        out.append((name, [list(p.exterior.coords) for p in polys if hasattr(p, "exterior")]))
    return out


def _count(df: pd.DataFrame, col: str, label: str) -> pd.DataFrame:
    if df.empty:
        return pd.DataFrame(columns=[label, "事件数"])
    out = df[col].replace("", "（未知）").value_counts().rename_axis(label).reset_index(name="事件数")
    return out.sort_values(["事件数", label], ascending=[False, True]).reset_index(drop=True)


def _targets(kpis: dict, rates: list[dict], table: dict) -> list[dict]:
    rows = []
    for key, (name, target, binding) in KPI_TARGETS.items():
        t = table.get(key) or {}
        target, binding = float(t.get("target", target)), bool(t.get("binding", binding))
        v = kpis.get(key)
        rows.append({"key": key, "name": name, "value": v, "target": target,
                     "kind": BINDING_NAMES[binding],
                     "met": None if v is None else v >= target - 1e-9})
    rows += [{"key": r["key"], "name": r["name"], "value": r["value"], "target": r["target"],
              "kind": r["kind"], "met": r["met"]} for r in rates]
    return rows


def targets_for(ctx, actor, since: float, until: float,  # noqa: ANN001
                table: dict | None = None) -> list[dict]:
    """Each KPI of ``actor``'s scope in [since, until] beside its target (约束性/预期性): the
    /analytics 指标与目标 table, the same rows as a report's."""
    from app.hotline import rates_for  # noqa: PLC0415

    kpis = ctx.incidents.kpis(None if actor.is_city else actor.center, since, until)
    return _targets(kpis, rates_for(ctx, actor, since, until), table or {})


DEVICE_TOTALS = {"sensors": "传感器（合计）", "cameras": "摄像机（合计）"}
RATE_FIELDS = ("total", "online", "online_rate", "fresh", "fresh_rate")


def type_label(kind: str) -> str:
    """A device type as people read it (``Kind.label``: 水位监测, 视频监控 …)."""
    from sensors.kinds import CAMERA, KINDS  # noqa: PLC0415

    return CAMERA.label if kind == CAMERA.name else getattr(KINDS.get(kind), "label", kind)


def device_rows(h: dict, scope: str) -> list[dict]:
    """Online rate and 鲜活率 by device type (S5) from ``sensors.health.summary`` ``h``: the
    city its totals then every type; a town its own sensors and cameras; a department center
    the types it answers for (``Kind.dept``)."""
    from sensors.kinds import CAMERA, KINDS  # noqa: PLC0415

    if scope == "CITY":
        rows = [dict(h[k], type=DEVICE_TOTALS[k]) for k in ("sensors", "cameras")]
        return rows + [dict(v, type=type_label(t)) for t, v in h["by_type"].items()]
    if scope.startswith("D"):
        dept = {k.name: k.dept for k in (*KINDS.values(), CAMERA)}
        return [dict(v, type=type_label(t)) for t, v in h["by_type"].items()
                if dept.get(t) == scope[1:]]
    got = h["by_town"].get(scope[1:] if scope.startswith("T") else "")
    if not got:
        return []
    rows = [dict({k: got[k] for k in RATE_FIELDS}, type=DEVICE_TOTALS["sensors"])]
    if (got.get("cameras") or {}).get("total"):
        rows.append(dict(got["cameras"], type=DEVICE_TOTALS["cameras"]))
    return rows


def device_town_rows(h: dict, scope: str, town_names: dict[str, str]) -> list[dict]:
    """Online rate and 鲜活率 by town (S5): sensors and cameras side by side (``cam_*``), the
    city every town, a town its own row, a department none (its devices span towns)."""
    if scope.startswith("D"):
        return []
    towns = h["by_town"] if scope == "CITY" else \
        {k: v for k, v in h["by_town"].items() if scope == f"T{k}"}
    out = []
    for code, v in sorted(towns.items(), key=lambda kv: town_names.get(kv[0], kv[0])):
        cams = v.get("cameras") or {}
        out.append({"town": town_names.get(code, code) or "（未知）",
                    **{k: v[k] for k in RATE_FIELDS},
                    **{f"cam_{k}": cams.get(k) for k in RATE_FIELDS}})
    return out


def devices_for(ctx, scope: str) -> tuple[list[dict], list[dict]]:  # noqa: ANN001 (AppContext)
    """(by type, by town) of ``scope`` now: the reports' and /analytics' device tables."""
    from sensors.health import summary  # noqa: PLC0415

    h = summary(ctx.redis, ctx.devices)
    return device_rows(h, scope), device_town_rows(h, scope, ctx.city.town_names)


def compute(ctx, kind: str, day: dt.date, scope: str = "CITY",  # noqa: ANN001 (AppContext)
            targets: dict | None = None) -> Figures:
    """The figures of the ``kind`` report containing ``day`` for ``scope`` (``CITY`` or a
    center code), by the code /analytics uses."""
    import time  # noqa: PLC0415

    from app.hotline import rates_for  # noqa: PLC0415
    from app.screens.analytics import period_incidents, ranking  # noqa: PLC0415

    d0, d1 = span(kind, day)
    since, until = epoch_span(d0, d1)
    actor = scope_actor(scope)
    own = None if actor.is_city else actor.center
    kpis = ctx.incidents.kpis(own, since, until)
    rates = rates_for(ctx, actor, since, until)
    ranks = {tier: ranking(ctx, actor, tier, since, until) for tier in ("town", "department")}
    cases = period_incidents(ctx, actor, since, until)
    channels = cases["channel"].map(lambda c: CHANNELS.get(c, c)) if len(cases) else cases["channel"]
    by = {"渠道": _count(cases.assign(channel=channels), "channel", "渠道"),
          "类别": _count(cases, "category_name", "类别"),
          "镇街": _count(cases, "town_name", "镇街"), "状态": _count(cases, "state_name", "状态")}
    notable = cases[cases["overdue"].astype(bool) | cases["severity"].isin(NOTABLE_SEVERITIES)] \
        if not cases.empty else cases
    center = ctx.city.centers.get(scope)
    scope_name = "" if scope == "CITY" else (
        ctx.city.town_names.get(scope[1:], getattr(center, "name", scope))
        if scope.startswith("T") else getattr(center, "name", scope))
    city_name = getattr(ctx.city, "name", "") or "高州市"
    by_type, by_town = devices_for(ctx, scope)
    return Figures(kind=kind, scope=scope, scope_name=scope_name, start=d0, end=d1,
                   title=title(city_name, scope_name, kind, d0, d1), kpis=kpis, rates=rates,
                   targets=_targets(kpis, rates, targets or {}), ranking=ranks, by=by,
                   devices=by_type, devices_by_town=by_town,
                   notable=notable.reset_index(drop=True),
                   generated=time.time(),
                   points=list(zip(cases["lon"].astype(float), cases["lat"].astype(float),
                                   cases["overdue"].astype(bool), strict=True)),
                   outlines=_outlines(ctx, scope))


__all__ = ["KINDS", "KPI_TARGETS", "Figures", "compute", "device_rows", "device_town_rows",
           "devices_for", "epoch_span", "scope_actor", "span", "title", "type_label"]
