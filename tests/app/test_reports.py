"""Leaders' reports (issue 24; E14/E15, E36/E52, S5, SEC9, S2): the daily report's figures equal
/analytics' for the same day and scope (a fixed data set on real Redis); the PDF's first page
carries the Chinese title (pypdf) and renders to a non-blank image (pdftoppm); the workbook opens
with one sheet per section; every download is audited; a town cannot download the city's
report (403, audited); the schedule makes each report once."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import shutil
import subprocess

import pytest

from app import security
from app.hotline import rates_for
from app.reports import Scheduler, due, figures, listing, render
from app.screens.analytics import period, period_incidents, ranking
from app.timefmt import CST
from tests.app.authkit import accounts, app_ctx, csrf_of, login, web  # noqa: F401
from tests.app.dashkit import DashPage, response_of
from tests.app.test_api import PZ, point_in
from tests.app.test_hotline import actor, closed_hotline_case


@pytest.fixture
def data_set(app_ctx, accounts):  # noqa: F811
    """Today's cases: two closed 12345 cases and one open report in 潘州街道."""
    ctx = app_ctx
    for i in range(2):
        closed_hotline_case(ctx, *point_in(ctx.city, PZ, i))
    pz = actor(ctx, "panzhou")
    ctx.incidents.report(pz, "0108", *point_in(ctx.city, PZ, 2), channel="hotline",
                         description="路灯不亮")
    return dt.datetime.now(CST).date()


def test_the_daily_report_says_what_analytics_says_for_the_same_day(app_ctx, data_set):  # noqa: F811
    ctx, day = app_ctx, data_set
    f = figures.compute(ctx, "daily", day)
    since, until = period(day.isoformat(), day.isoformat())
    city = figures.scope_actor("CITY")
    assert f.kpis == ctx.incidents.kpis(None, since, until)
    assert f.kpis["received"] >= 3
    assert f.rates == rates_for(ctx, city, since, until)
    for tier in ("town", "department"):
        assert f.ranking[tier].equals(ranking(ctx, city, tier, since, until))
    cases = period_incidents(ctx, city, since, until)
    for label in ("渠道", "类别", "镇街", "状态"):
        assert int(f.by[label]["事件数"].sum()) == len(cases) >= 3
    assert "hotline" not in set(f.by["渠道"]["渠道"])             # channels by their names
    assert len(f.points) == len(cases) and f.outlines                   # the hot-spot map
    assert f.title.endswith(f"城市运行日报 {day.year}年{day.month}月{day.day}日")
    assert [t["name"] for t in f.targets][:3] == ["处置按时率", "结案率", "受理按时率"]
    assert {"约束性", "预期性"} >= {t["kind"] for t in f.targets}
    assert any(d["type"] == "传感器（合计）" and "fresh_rate" in d for d in f.devices)
    assert f.devices_by_town and all("fresh_rate" in d and "cam_fresh_rate" in d
                                     for d in f.devices_by_town)
    assert figures.targets_for(ctx, city, since, until) == f.targets   # /analytics 指标与目标
    town = figures.compute(ctx, "daily", day, actor(ctx, "panzhou").center)
    assert town.kpis == ctx.incidents.kpis(actor(ctx, "panzhou").center, since, until)
    assert town.scope_name and town.scope_name in town.title


def test_pdf_has_its_chinese_title_and_renders_and_the_workbook_opens(app_ctx, data_set, tmp_path):  # noqa: F811
    from openpyxl import load_workbook
    from pypdf import PdfReader

    f = figures.compute(app_ctx, "daily", data_set)
    pdf = render.pdf(f)
    text = PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
    assert f.title.replace(" ", "") in text.replace(" ", "").replace("\n", "")
    assert shutil.which("pdftoppm"), "poppler-utils missing: scripts/install-system.sh"
    (tmp_path / "r.pdf").write_bytes(pdf)
    subprocess.run(["pdftoppm", "-f", "1", "-l", "1", "-r", "40", "-gray", "-png",
                    str(tmp_path / "r.pdf"), str(tmp_path / "p")], check=True, timeout=30)
    from PIL import Image

    img = Image.open(next(tmp_path.glob("p*.png"))).convert("L")
    lo, hi = img.getextrema()
    dark = sum(img.histogram()[:128])
    assert lo < 100 < hi and dark > 200              # ink on paper, not a blank page
    wb = load_workbook(io.BytesIO(render.xlsx(f)), read_only=True)
    assert wb.sheetnames[:3] == ["报表", "总体指标", "指标与目标"]
    assert {"按渠道", "按类别", "按镇街", "按状态", "镇街考核排名", "设备在线率与鲜活率",
            "设备鲜活率（按镇街）"} <= set(wb.sheetnames)
    assert wb["报表"]["A1"].value == f.title
    counts = [row[1] for row in wb["按渠道"].iter_rows(min_row=2, values_only=True)]
    assert counts and all(isinstance(n, int) for n in counts)          # numbers, not text


def test_downloads_are_audited_and_a_town_cannot_take_the_citys(web, app_ctx, data_set):  # noqa: F811
    ctx, day = app_ctx, data_set
    c = web.test_client()
    tok = login(c, "commander")
    made = c.post("/analytics/reports", json={"kind": "daily", "day": day.isoformat()},
                  headers={"X-CSRFToken": tok})
    assert made.status_code == 201, made.get_data(as_text=True)
    assert [e["pdf"] for e in c.get("/analytics/reports").json] == [made.json["pdf"]]
    layout = json.dumps(c.get("/analytics/_dash-layout").json, ensure_ascii=False)  # 报表
    assert "an-reports-box" in layout and made.json["pdf"] in layout and "打印版" in layout
    row = _find(c.get("/analytics/_dash-layout").json, "an-reports")      # the leader's list
    cells = _texts(row, ("report-title", "report-kind", "report-period", "report-made"))
    assert cells[:3] == [made.json["title"], "日报", day.isoformat()]
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", cells[3])
    got = c.get(made.json["pdf"])
    assert got.status_code == 200 and got.data[:5] == b"%PDF-"
    assert c.get(made.json["xlsx"]).data[:2] == b"PK"
    audit = [e for e in security.audit_entries(ctx.redis, 50) if e["event"] == "report_download"]
    assert len(audit) == 2 and {e["user"] for e in audit} == {"commander"}
    assert audit[-1]["target"] == f"report CITY/daily-{day.isoformat()}.pdf"

    t = web.test_client()
    ttok = login(t, "panzhou")
    mine = t.post("/analytics/reports", json={"kind": "daily", "day": day.isoformat()},
                  headers={"X-CSRFToken": ttok})
    assert mine.status_code == 201 and mine.json["scope"] == actor(ctx, "panzhou").center
    assert t.get(mine.json["pdf"]).status_code == 200
    assert [e["scope"] for e in t.get("/analytics/reports").json] == [mine.json["scope"]]
    assert t.get(made.json["pdf"]).status_code == 403                      # the city's
    other = t.post("/analytics/reports", json={"kind": "daily", "day": day.isoformat(),
                                                "scope": "CITY"}, headers={"X-CSRFToken": ttok})
    assert other.status_code == 403
    denied = [e for e in security.audit_entries(ctx.redis, 50) if e["event"] == "denied"
              and e["target"].startswith("report CITY/")]
    assert denied and denied[0]["user"] == "panzhou"
    city_list = {e["scope"] for e in c.get("/analytics/reports").json}     # the city: all
    assert city_list == {"CITY", mine.json["scope"]}


def test_the_schedule_makes_each_report_once(app_ctx, accounts):  # noqa: F811
    ctx = app_ctx
    ctx.settings.reports = {"daily_at": "07:00", "kinds": ["daily"], "scopes": ["CITY"]}
    at = dt.datetime(2026, 12, 7, 7, 30, tzinfo=CST).timestamp()
    assert due(at - 3600, ctx.settings.reports) == [("daily", dt.date(2026, 12, 5))]
    assert due(at, {"kinds": ["daily", "weekly", "monthly"]}) == [
        ("daily", dt.date(2026, 12, 6)), ("weekly", dt.date(2026, 12, 6)),
        ("monthly", dt.date(2026, 11, 30))]
    now = [at]
    s = Scheduler(ctx, clock=lambda: now[0])
    assert s.tick() == {}                               # not in its first every_s
    now[0] += s.every_s
    assert s.tick() == {"report_made": 1}
    now[0] += s.every_s
    assert s.tick() == {}                               # made once
    assert [e["title"] for e in listing(ctx, figures.scope_actor("CITY"))] == [
        "高州市城市运行日报 2026年12月6日"]


def test_an_incidents_special_report_for_those_who_may_read_it(web, app_ctx, accounts):  # noqa: F811
    from pypdf import PdfReader

    ctx = app_ctx
    case = closed_hotline_case(ctx, *point_in(ctx.city, PZ, 3), phone="13912345678")
    c = web.test_client()
    tok = login(c, "supervisor_pz")                 # its town's supervisor: masked reader
    page = DashPage(c, "analytics", tok)            # the leader's console: a case number …
    link = response_of(page.call("an-special-link.href", {"an-special-id.value": f" {case} "},
                                 ["an-special-id.value"]))["an-special-link"]
    assert link == {"href": f"/analytics/reports/case/{case}.pdf", "hidden": False}
    bad = response_of(page.call("an-special-link.href", {"an-special-id.value": "../x"},
                                ["an-special-id.value"]))["an-special-link"]
    assert bad == {"href": "", "hidden": True}
    got = c.get(link["href"])                       # … opens its 专报
    assert got.status_code == 200 and got.data[:5] == b"%PDF-"
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(got.data)).pages)
    assert f"事件专报{case}" in text.replace(" ", "") and "处置过程" in text and "处置任务" in text
    assert "13912345678" not in text
    assert [e for e in security.audit_entries(ctx.redis, 20)
            if e["event"] == "report_download" and e["target"] == f"special {case}"]
    t = web.test_client()
    login(t, "town")                                # another town: may not read the case
    assert t.get(f"/analytics/reports/case/{case}.pdf").status_code == 403
    assert t.get("/analytics/reports/case/nope.pdf").status_code == 404


def test_the_deadline_tick_runs_periodic_jobs_and_survives_their_failure(app_ctx):  # noqa: F811
    from incidents.deadlines import DeadlineWorker

    class Boom:
        def tick(self) -> dict[str, int]:
            raise RuntimeError("boom")

    class Made:
        def tick(self) -> dict[str, int]:
            return {"report_made": 1}

    w = DeadlineWorker(app_ctx.incidents)
    w.periodic += [Boom(), Made()]
    out = w.tick()
    assert out["periodic_error"] == 1 and out["report_made"] == 1
    assert w.stats["report_made"] == 1


def test_a_bad_reports_table_is_refused_at_start():
    from pydantic import ValidationError

    from app.config import Settings

    for bad in ({"daily_at": "25:00"}, {"kinds": ["yearly"]}, {"scope": ["CITY"]},
                {"targets": {"closure_rate": {"target": 85}}}):
        with pytest.raises(ValidationError, match="reports"):
            Settings(secret_key="t" * 64, reports=bad)
    assert Settings(secret_key="t" * 64, reports={"daily_at": "06:30"}).reports["daily_at"] == "06:30"


def test_fresh_rate_by_device_type_and_town_in_the_report_and_on_analytics(web, app_ctx):  # noqa: F811
    """S5 鲜活率: half of 潘州街道's sensors and one of its cameras heard from just now, nothing
    else. The report's 按类型 and 按镇街 tables and /analytics' (the caller's scope) say so."""
    import time

    from sensors.keys import DEV_SEEN

    ctx = app_ctx
    fleet = ctx.devices.fleet
    pz = fleet[fleet["town_code"] == PZ]
    sensors, cams = pz[pz["type"] != "camera"], pz[pz["type"] == "camera"]
    half = sensors["id"].tolist()[: len(sensors) // 2]
    assert half and len(cams)
    now_ms = time.time() * 1000
    ctx.redis.zadd(DEV_SEEN, dict.fromkeys([*half, cams["id"].iloc[0]], now_ms))
    f = figures.compute(ctx, "daily", dt.datetime.now(CST).date())
    town = {r["town"]: r for r in f.devices_by_town}
    name = ctx.city.town_names[PZ]
    assert len(town) == fleet["town_code"].nunique()                   # every town
    assert (town[name]["total"], town[name]["fresh"], town[name]["cam_fresh"]) == \
        (len(sensors), len(half), 1)
    assert town[name]["fresh_rate"] == round(len(half) / len(sensors), 4)
    assert town[name]["cam_fresh_rate"] == round(1 / len(cams), 4)
    assert sum(r["fresh"] for n, r in town.items() if n != name) == 0
    by_type = {r["type"]: r for r in f.devices}
    assert by_type["传感器（合计）"]["fresh"] == len(half)
    assert by_type["视频监控"]["fresh"] == 1                            # types by their names
    assert not [t for t in by_type if re.search(r"[A-Za-z]", t)]
    assert sum(r["fresh"] for t, r in by_type.items() if "合计" not in t) == len(half) + 1
    sheets = {name: rows for name, _h, rows in render.sections(f)}
    assert [name, str(len(sensors)), render.pct(town[name]["online_rate"]),
            render.pct(town[name]["fresh_rate"])] == sheets["设备鲜活率（按镇街）"][
        [r[0] for r in sheets["设备鲜活率（按镇街）"]].index(name)][:4]
    # /analytics: the same tables for the caller's scope (the city: every town; a town: its own)
    c = web.test_client()
    login(c, "commander")
    layout = json.dumps(c.get("/analytics/_dash-layout").json, ensure_ascii=False)
    assert "an-devices-box" in layout and "鲜活率" in layout
    assert render.pct(town[name]["fresh_rate"]) in layout
    t = web.test_client()
    login(t, "panzhou")
    mine = t.get("/analytics/_dash-layout").json
    rows = _find(mine, "an-devices-town")["data"]
    assert [r["town"] for r in rows] == [name]
    assert rows[0]["fresh_rate"] == render.pct(town[name]["fresh_rate"])


def _texts(node, classes: tuple[str, ...]) -> list[str]:  # noqa: ANN001
    """The text of every component of a Dash layout's JSON whose class is one of ``classes``,
    in document order."""
    out: list[str] = []
    if isinstance(node, dict):
        props = node.get("props") or {}
        if props.get("className") in classes and isinstance(props.get("children"), str):
            out.append(props["children"])
        node = list(node.values())
    for child in node if isinstance(node, list) else ():
        out += _texts(child, classes)
    return out


def _find(node, cid: str) -> dict:  # noqa: ANN001
    """The props of the component ``cid`` in a Dash layout's JSON."""
    if isinstance(node, dict):
        if node.get("props", {}).get("id") == cid:
            return node["props"]
        node = list(node.values())
    for child in node if isinstance(node, list) else ():
        if isinstance(child, dict | list) and (got := _find(child, cid)):
            return got
    return {}


def test_the_analytics_screen_shows_the_daily_reports_figures_for_that_day(web, app_ctx, data_set):  # noqa: F811
    """The screen itself, not only its functions: /analytics' callbacks for the report's day (the
    cards, the ranking, the 12345 rates, 指标与目标) answer what the daily report holds."""
    from app.hotline import rates_rows
    from app.reports import target_rows
    from app.screens.analytics import kpi_cards, rank_rows

    ctx, day = app_ctx, data_set
    c = web.test_client()
    page = DashPage(c, "analytics", login(c, "commander"))
    span = {"an-period.start_date": day.isoformat(), "an-period.end_date": day.isoformat()}
    f = figures.compute(ctx, "daily", day)
    got = response_of(page.call("an-cards.children", {**span, "an-tier.value": "town"},
                                ["an-period.end_date"]))
    assert got["an-cards"]["children"] == json.loads(json.dumps(
        kpi_cards(f.kpis), cls=_PlotlyJSON))
    assert got["an-rank"]["data"] == rank_rows(f.ranking["town"])
    rates = response_of(page.call("an-rates.data", span, ["an-period.end_date"]))
    assert rates["an-rates"]["data"] == rates_rows(f.rates)
    targets = response_of(page.call("an-targets.data", span, ["an-period.end_date"]))
    assert targets["an-targets"]["data"] == target_rows(f.targets)
    assert f.kpis["received"] >= 3 and str(f.kpis["received"]) in json.dumps(got["an-cards"])
    # the button makes the chosen kind containing the end day (here its week), then lists it
    made = response_of(page.call("an-reports.children", {
        "an-report-make.n_clicks": 1, "an-period.end_date": day.isoformat(),
        "an-report-kind.value": "weekly"}, ["an-report-make.n_clicks"]))
    week = figures.span("weekly", day)
    assert made["an-report-note"]["children"] == "已生成：" + figures.title(
        ctx.city.name, "", "weekly", *week)
    assert "周报" in _texts(made["an-reports"], ("report-kind",))


class _PlotlyJSON(json.JSONEncoder):
    """Dash components as the server sends them."""

    def default(self, o):  # noqa: ANN001, ANN201
        return o.to_plotly_json() if hasattr(o, "to_plotly_json") else super().default(o)
