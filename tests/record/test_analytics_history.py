"""/analytics over history (issue 20): a period reaching back past Redis's retention reads the
cases from the record, and gives the same rows as the live path did while Redis held them; the
breakdown by town and grid cell is PostGIS on the record (``ST_Within`` on the city's polygons),
scoped by the one policy (a town sees only its own). Real Redis + PostgreSQL."""

from __future__ import annotations

import time

import pandas as pd

from app.pg import connector
from app.record import attach_reader
from app.screens import analytics
from incidents.actor import Actor
from incidents.record.archiver import Archiver
from incidents.record.retention import Retention
from incidents.service import IncidentService
from tests.app.authkit import accounts, app_ctx, web  # noqa: F401
from tests.incidents.conftest import Actors, Clock, point_in

from .helpers import make_cases

DAY = 86400.0


def _rows(df: pd.DataFrame) -> list[dict]:
    return df.sort_values("id").fillna("").to_dict("records")


def test_a_period_past_the_retention_reads_the_record_with_the_same_figures(
        app_ctx, redis_client, record_url, demo_city):  # noqa: F811
    here = point_in(demo_city, 100)
    elsewhere = next(p for p in (point_in(demo_city, i) for i in range(len(demo_city.cells) - 1, 0, -1))
                     if p.town != here.town)
    t0 = time.time() - 20 * DAY
    clock = Clock(t0)
    svc = IncidentService(redis_client, demo_city, clock=clock)
    make_cases(svc, Actors(here, elsewhere), demo_city, 6, clock, here.town)
    make_cases(svc, Actors(elsewhere, here), demo_city, 3, clock, elsewhere.town)
    since, until = t0 - 60, clock() + 60
    Archiver(redis_client, connector(record_url, "t")).drain()
    attach_reader(app_ctx, record_url)
    city = Actor("sup", "supervisor", "CITY", "市核查员")
    town = Actor("op", "town_operator", f"T{here.town}", "镇值班员")

    # while Redis holds the period (retention 30 days here): the live path
    app_ctx.settings = app_ctx.settings.model_copy(update={"retention_days": 30})
    assert analytics.period_cases(app_ctx, since, until)[1] == "live"
    live = analytics.period_incidents(app_ctx, city, since, until)
    live_town = analytics.period_incidents(app_ctx, town, since, until)
    assert len(live) == 9 and len(live_town) == 6

    # the retention (7 days) takes the closed cases out of Redis; the period now reads the record
    app_ctx.settings = app_ctx.settings.model_copy(update={"retention_days": 7})
    evicted = Retention(redis_client, connector(record_url, "r"), 7 * DAY).pass_()
    assert evicted == 3
    cases, source = analytics.period_cases(app_ctx, since, until)
    assert source == "record" and len(cases) == 9
    assert _rows(analytics.period_incidents(app_ctx, city, since, until)) == _rows(live)
    assert _rows(analytics.period_incidents(app_ctx, town, since, until)) == _rows(live_town)

    # PostGIS: by town the same counts as the cases' own towns; a town sees only its own
    by_town = analytics.history_breakdown(app_ctx, city, "town", since, until)
    assert dict(zip(by_town["name"], by_town["received"], strict=True)) == \
        live.groupby("town_name").size().to_dict()
    assert by_town["closed"].sum() == (live["state"] == "closed").sum()
    mine = analytics.history_breakdown(app_ctx, town, "town", since, until)
    assert mine["name"].tolist() == [demo_city.town_names[here.town]] and mine["received"].sum() == 6
    cells = analytics.history_breakdown(app_ctx, city, "cell", since, until)
    assert cells["received"].sum() == 9 and set(cells["town_code"]) == {here.town, elsewhere.town}


def test_the_history_tab_and_the_replay_screen_through_their_callbacks(
        app_ctx, accounts, web, redis_client, record_url, demo_city):  # noqa: F811
    """The gate opens /replay/ to the roles of the role table only; /analytics's 历史分布 and
    /replay's 载入 answer through Dash with the record attached."""
    from tests.app.authkit import login  # noqa: PLC0415
    from tests.app.dashkit import DashPage  # noqa: PLC0415

    here = point_in(demo_city, 100)
    elsewhere = next(p for p in (point_in(demo_city, i) for i in range(len(demo_city.cells) - 1, 0, -1))
                     if p.town != here.town)
    clock = Clock(time.time() - 1800)
    svc = IncidentService(redis_client, demo_city, clock=clock)
    make_cases(svc, Actors(here, elsewhere), demo_city, 3, clock, here.town)
    Archiver(redis_client, connector(record_url, "t")).drain()
    attach_reader(app_ctx, record_url)
    with web.test_client() as dept:
        login(dept, "chengguan")
        assert dept.get("/replay/").status_code == 403
    with web.test_client() as c:
        csrf = login(c, "supervisor")
        assert c.get("/replay/").status_code == 200
        today = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 8 * 3600))
        r = DashPage(c, "analytics", csrf).call("an-hist-town.data", {
            "an-tabs.value": "history", "an-period.start_date": today,
            "an-period.end_date": today}, ["an-tabs.value"])
        assert r.status_code == 200
        body = r.get_data(as_text=True)
        assert "档案库按镇街、网格边界空间统计" in body and demo_city.town_names[here.town] in body
        r = DashPage(c, "replay", csrf).call("rp-events.data", {
            "rp-load.n_clicks": 1, "rp-url.search": "", "rp-speed.value": 10,
            "rp-pause.n_clicks": 0, "rp-last.value": 3600, "rp-play.data": None},
            ["rp-load.n_clicks"])
        assert r.status_code == 200
        assert "载入" in r.get_data(as_text=True)
