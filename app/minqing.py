"""The leaders' 民情 view (G7; issue 24): what residents told their grid workers over the chosen
period, per town and category: counts (and how many became reports), the daily trend per town,
and the frequent themes of the words (segmented with jieba, ``grid.ledger.minqing.themes``).

Scope (S1/S2, the reader's territory): the city's readers (``reads_city``) and a city 监督核查员
every town; a town center's roles their own town; any other role (departments: the register is
the 块's) nothing. Added to /analytics with ``app.screens.analytics.add_section``.
"""

from __future__ import annotations

import datetime as dt

from app.ledger import ledger_of
from grid import centers as cc
from grid.ledger import minqing
from incidents.actor import Actor
from incidents.roles import spec

THEMES_TOP = 12


def towns_of(actor: Actor) -> list[str] | None:
    """The towns whose 民情 ``actor`` reads: None for every town, [] for none."""
    if actor.is_city and (spec(actor.role).reads_city or actor.role == "supervisor"):
        return None
    town = cc.town_of(actor.center)
    return [town] if town else []


def view_data(ctx, actor: Actor, since: float, until: float) -> dict:  # noqa: ANN001 (AppContext)
    """The 民情 of ``actor``'s territory in [since, until] (epoch seconds): ``counts`` (town,
    town name, category, n, reported), ``trend`` (day, town, n), ``themes`` ([word, n]) and
    ``total``; ``off``: no record in this process."""
    led = ledger_of(ctx)
    empty = {"counts": [], "trend": [], "themes": [], "total": 0}
    if led is None:
        return empty | {"off": True}
    towns = towns_of(actor)
    if towns == []:
        return empty
    t0 = dt.datetime.fromtimestamp(since, dt.UTC)
    t1 = dt.datetime.fromtimestamp(until, dt.UTC)
    names = ctx.city.town_names
    with led.connect() as conn:
        counts = minqing.counts(conn, t0, t1, towns)
        trend = minqing.trend(conn, t0, t1, towns)
        bodies = minqing.texts(conn, t0, t1, towns)
    return {"counts": [c | {"town_name": names.get(c["town"], c["town"])} for c in counts],
            "trend": [{"day": t["day"], "town": names.get(t["key"], t["key"]), "n": t["n"]}
                      for t in trend],
            "themes": [[w, n] for w, n in minqing.themes(bodies, THEMES_TOP)],
            "total": sum(c["n"] for c in counts)}


COUNT_COLUMNS = (("town_name", "镇街"), ("category", "类别"), ("n", "条数"), ("reported", "转为上报"))


def register_section(app, ctx, roles: tuple[str, ...], period) -> None:  # noqa: ANN001
    """/analytics: the 民情 section (counts per town and category, the trend, the themes) for
    the chosen period, through ``add_section``."""
    import plotly.graph_objects as go  # noqa: PLC0415
    from dash import Input, Output, dash_table, dcc, html  # noqa: PLC0415

    from app.screens.analytics import GRAPH_CONFIG, add_section  # noqa: PLC0415

    add_section(app, lambda: html.Section(id="an-minqing-box", className="minqing", children=[
        html.H3("民情日志（所选时间段，按镇街和类别）"),
        html.P(id="an-minqing-note", className="hint"),
        dcc.Graph(id="an-minqing-trend", config=GRAPH_CONFIG),
        html.H4("高频主题"),
        html.Ul(id="an-minqing-themes", className="themes"),
        dash_table.DataTable(id="an-minqing-counts", data=[], page_size=20,
                             columns=[{"name": n, "id": k} for k, n in COUNT_COLUMNS],
                             style_cell={"textAlign": "center"})]))

    @app.callback(Output("an-minqing-note", "children"), Output("an-minqing-trend", "figure"),
                  Output("an-minqing-themes", "children"), Output("an-minqing-counts", "data"),
                  Input("an-period", "start_date"), Input("an-period", "end_date"))
    def refresh(start, end):  # noqa: ANN001, ANN202
        from app.auth import require_role  # noqa: PLC0415

        actor = require_role(*roles)
        fig = go.Figure()
        fig.update_layout(height=260, margin={"l": 40, "r": 10, "t": 30, "b": 30},
                          title="每日民情条数", legend={"orientation": "h"})
        try:
            since, until = period(start, end)
        except ValueError as exc:
            return f"✗ 时间段有误: {exc}", fig, [], []
        got = view_data(ctx, actor, since, until)
        by_town: dict[str, tuple[list, list]] = {}
        for t in got["trend"]:
            xs, ys = by_town.setdefault(t["town"], ([], []))
            xs.append(t["day"])
            ys.append(t["n"])
        for town, (xs, ys) in by_town.items():
            fig.add_trace(go.Scatter(x=xs, y=ys, name=town, mode="lines+markers"))
        note = ("民情日志未启用（无历史档案库）" if got.get("off") else
                f"共 {got['total']} 条" if got["total"] else "本期无民情日志")
        themes = [html.Li(f"{w}（{n}）", className="theme") for w, n in got["themes"]]
        return note, fig, themes, [{k: c[k] for k, _ in COUNT_COLUMNS} for c in got["counts"]]


__all__ = ["register_section", "towns_of", "view_data"]
