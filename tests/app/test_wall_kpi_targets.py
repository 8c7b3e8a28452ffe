"""指标与目标 on the wall (issue 24; E14/E15, E36/E52): each KPI of the month beside its target,
约束性/预期性 and 达标/未达标, the same rows as /analytics' and the reports' (one home:
``app.reports.figures.targets_for``, ``app.hotline.MET_WORDS``). A fixed data set on real Redis
gives hand-computed values through the wall's own callback; a town's screen shows its own."""

from __future__ import annotations

import json
import time

from flask import Flask

from app.reports import figures
from app.screens import wall
from app.screens.wall import kpi_targets
from tests.app.authkit import accounts, app_ctx  # noqa: F401
from tests.app.dashkit import DashPage, response_of
from tests.app.test_api import DA, PZ, point_in
from tests.app.test_hotline import actor, closed_hotline_case


def test_fixed_rows_read_as_the_wall_shows_them():
    raw = [{"key": "handled_on_time_rate", "name": "处置按时率", "value": 0.9234, "target": 0.9,
            "kind": "约束性", "met": True},
           {"key": "closure_rate", "name": "结案率", "value": 0.5, "target": 0.85,
            "kind": "预期性", "met": False},
           {"key": "callback_rate", "name": "回访率", "value": None, "target": 1.0,
            "kind": "约束性", "met": None}]
    view = kpi_targets.view_rows(raw)
    assert view == [
        {"name": "处置按时率", "kind": "约束性", "value": "92.3%", "target": "90.0%",
         "met": "达标", "cls": "kt-met"},
        {"name": "结案率", "kind": "预期性", "value": "50.0%", "target": "85.0%",
         "met": "未达标", "cls": "kt-miss"},
        {"name": "回访率", "kind": "约束性", "value": "—", "target": "100.0%",
         "met": "—", "cls": "kt-none"}]
    cells = [c.children for c in kpi_targets.children(view)]
    assert cells[:5] == list(kpi_targets.HEADER)
    assert cells[5:10] == ["处置按时率", "约束性", "92.3%", "90.0%", "达标"]
    assert len(cells) == 5 * (1 + len(raw))


def _targets(server, search: str) -> list[list[str]]:
    """The wall's 指标与目标 callback as the browser asks for it: its rows (5 cells each)."""
    page = DashPage(server.test_client(), "wall", "")
    got = response_of(page.call("wall-targets.children", {
        "wall-ready.data": True, "wall-slow.n_intervals": 1, "wall-url.search": search},
        ["wall-ready.data"]))
    cells = [c["props"]["children"] for c in got["wall-targets"]["children"]]
    assert cells[:5] == list(kpi_targets.HEADER)
    return [cells[i:i + 5] for i in range(5, len(cells), 5)]


def test_the_wall_shows_the_months_kpis_beside_their_targets(app_ctx, accounts):  # noqa: F811
    """This month: two 12345 cases of 潘州街道 accepted, handled, verified and closed in time, and
    one report of 潘州街道 still waiting (not accepted). By hand: 结案率 2/3 = 66.7 % < 85 %
    (预期性, 未达标); 处置按时率 2/2 = 100 % ≥ 90 % (约束性, 达标); 受理按时率 2/2 = 100 % ≥ 95 %
    (达标); 响应率 accepted/received of the public's = 2/3 = 66.7 % < 100 % (约束性, 未达标)."""
    ctx = app_ctx
    for i in range(2):
        closed_hotline_case(ctx, *point_in(ctx.city, PZ, i))
    ctx.incidents.report(actor(ctx, "panzhou"), "0108", *point_in(ctx.city, PZ, 2),
                         channel="hotline", description="路灯不亮")
    server = Flask("wall-kpi-targets")
    wall.build_app(server, wall.WallSources(ctx))          # a bare wall: the whole city
    city = {r[0]: r[1:] for r in _targets(server, "")}
    assert city["结案率"] == ["预期性", "66.7%", "85.0%", "未达标"]
    assert city["处置按时率"] == ["约束性", "100.0%", "90.0%", "达标"]
    assert city["受理按时率"] == ["约束性", "100.0%", "95.0%", "达标"]
    assert city["响应率"] == ["约束性", "66.7%", "100.0%", "未达标"]
    # every KPI with a target is on the wall, as /analytics and the reports have them
    since, until = kpi_targets.month_span(time.time())
    rows = figures.targets_for(ctx, figures.scope_actor("CITY"), since, until)
    assert list(city) == [r["name"] for r in rows] and len(rows) == 8
    # the panel has these rows from the first paint (its height never changes under the ticker)
    assert [r["name"] for r in kpi_targets.skeleton()] == list(city)
    assert {k for k, *_ in city.values()} == {"约束性", "预期性"}
    # 潘州街道's screen: its own center's figures (all of this data set) …
    assert {r[0]: r[1:] for r in _targets(server, f"?town={PZ}")}["结案率"] == city["结案率"]
    # … 东岸镇's: nothing received this month, nothing to judge (—, never 0 % or 达标)
    da = {r[0]: r[1:] for r in _targets(server, f"?town={DA}")}
    assert da["结案率"] == ["预期性", "—", "85.0%", "—"]
    # a scoped wall (a town's operator, issue 19): its own center's, whatever ?town= says
    mine = Flask("wall-kpi-targets-scoped")
    wall.build_app(mine, wall.WallSources(ctx), who=lambda: actor(ctx, "panzhou"))
    assert {r[0]: r[1:] for r in _targets(mine, f"?town={DA}")}["结案率"] == city["结案率"]
    assert "wall-targets" in json.dumps(wall.page().to_plotly_json(), default=str)
