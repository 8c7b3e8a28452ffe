"""指标与目标 on the wall (issue 24; E14/E15 考核, E36/E52 12345 rates and their targets): each
KPI of the month so far beside its target, whether the target binds (约束性) or is expected
(预期性), and 达标/未达标 — the same rows as /analytics' 指标与目标 and the reports'
(``app.reports.figures.targets_for``: one home for the KPIs, their targets and ``MET_WORDS``).

Whose: the hall's wall the city's; a scoped wall its caller's center; a town's screen
(``?town=``) that town's center (like the wall's other tiles, ``data.kpi_center``).

Legible at wall distance (tests/app/test_wall_legibility_browser.py): Chinese and numbers only,
no text under 0.9rem (``assets/wall/kpi_targets.css``), the panel takes the rows it needs
(``flex: none``, every row from the first paint: ``skeleton``) and the ticker above gives way. Refreshed with the charts (``wall-slow``,
30 s), after the map's first paint (``wall-ready``).

The hook into the wall is two lines: ``panel()`` at the end of the right column
(``layout``) and ``register(app, src, who)`` in ``callbacks.register_callbacks``.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable

from dash import Dash, Input, Output, State, html
from dash.exceptions import PreventUpdate

from app.hotline import MET_WORDS
from app.screens.wall.ids import Id
from app.timefmt import CST
from incidents.actor import Actor

TITLE = "指标与目标 · 本月"
"""The panel's title: the period is the calendar month so far (考核 is monthly; the 按时率
tile is today's)."""
LOADING_MARK = "…"
"""A figure not read yet (the panel's rows before its first refresh)."""
HEADER = ("指标", "性质", "实际", "目标", "是否达标")
MET_CLASS = {True: "kt-met", False: "kt-miss", None: "kt-none"}
"""A row's class by its 达标 (green, red, grey)."""


def month_span(now: float) -> tuple[float, float]:
    """[since, until] of the Beijing calendar month containing ``now`` (whole days, as the
    monthly report's)."""
    from app.reports.figures import epoch_span, span  # noqa: PLC0415

    return epoch_span(*span("monthly", dt.datetime.fromtimestamp(now, CST).date()))


def target_actor(scoped: Actor | None, town: str | None) -> Actor:
    """Whose KPIs: a scoped wall's caller, else a town screen's center, else the city (the
    reports' reader of that scope, ``figures.scope_actor``)."""
    from app.reports.figures import scope_actor  # noqa: PLC0415
    from grid.model import town_center_code  # noqa: PLC0415

    if scoped is not None:
        return scoped
    return scope_actor(town_center_code(town) if town else "CITY")


def rows(ctx, actor: Actor, now: float | None = None) -> list[dict]:  # noqa: ANN001 (AppContext)
    """Each KPI of ``actor``'s scope this month beside its target (``figures.targets_for``
    with the ``[reports.targets]`` table): ``key, name, value, target, kind, met``."""
    from app.reports import config  # noqa: PLC0415
    from app.reports.figures import targets_for  # noqa: PLC0415

    since, until = month_span(time.time() if now is None else now)
    return targets_for(ctx, actor, since, until, config(ctx).get("targets"))


def view_rows(raw: list[dict]) -> list[dict]:
    """The rows as the wall shows them (Chinese and numbers only): ``name, kind, value, target,
    met`` (``MET_WORDS``) and ``cls`` (its colour)."""
    from app.reports.render import pct  # noqa: PLC0415

    return [{"name": r["name"], "kind": r["kind"], "value": pct(r["value"]),
             "target": pct(r["target"]), "met": MET_WORDS[r["met"]], "cls": MET_CLASS[r["met"]]}
            for r in raw]


def children(view: list[dict]) -> list:
    """The panel's grid: a header row, then one row per KPI."""
    out = [html.Span(h, className="kt-h") for h in HEADER]
    for r in view:
        out += [html.Span(r["name"], className="kt-name"),
                html.Span(r["kind"], className="kt-kind kt-binding" if r["kind"] == "约束性"
                          else "kt-kind"),
                html.Span(r["value"], className=f"kt-num {r['cls']}"),
                html.Span(r["target"], className="kt-num kt-target"),
                html.Span(r["met"], className=f"kt-met-word {r['cls']}")]
    return out


def skeleton() -> list[dict]:
    """The rows before the first refresh: every KPI by name, its figures "…". The panel has
    its final height from the first paint, so the ticker above, fitted to whole readings when
    its lines arrive (``assets/wall/wall.js`` fitTicker), is never squeezed afterwards."""
    from app.reports.figures import KPI_TARGETS  # noqa: PLC0415
    from incidents.rates import NAMES  # noqa: PLC0415

    names = [name for name, _t, _b in KPI_TARGETS.values()] + list(NAMES.values())
    return [{"name": n, "kind": LOADING_MARK, "value": LOADING_MARK, "target": LOADING_MARK,
             "met": LOADING_MARK, "cls": "kt-none"} for n in names]


def panel() -> html.Div:
    """The wall's 指标与目标 panel (``skeleton`` rows until its first refresh)."""
    return html.Div([html.Div(TITLE, className="panel-title"),
                     html.Div(children(skeleton()), id=Id.TARGETS, className="wall-targets")],
                    className="wall-targets-box")


def register(app: Dash, src, who: Callable[[], Actor | None]) -> None:  # noqa: ANN001 (WallSources)
    """The panel's one callback: after the first paint, then every ``wall-slow`` tick, scoped
    like the wall (``data.wall_scope``)."""
    from app.screens.wall.data import wall_scope  # noqa: PLC0415
    from app.screens.wall.view import town_code_from  # noqa: PLC0415

    @app.callback(Output(Id.TARGETS, "children"), Input(Id.READY, "data"),
                  Input(Id.SLOW, "n_intervals"), State(Id.URL, "search"))
    def kpi_targets(ready, _n, search):  # noqa: ANN001, ANN202
        sc = wall_scope(src, who())
        if not ready:
            raise PreventUpdate
        actor = target_actor(sc.actor if sc is not None else None,
                             town_code_from(src.ctx, search))
        return children(view_rows(rows(src.ctx, actor)))


__all__ = ["HEADER", "MET_CLASS", "TITLE", "children", "month_span", "panel", "register", "rows",
           "skeleton", "target_actor", "view_rows"]
