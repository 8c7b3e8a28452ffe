"""Data masking (SEC18, SEC20): a hotline caller's number and name, and phone numbers in the
case's texts, are masked for a role without ``sees_personal_data`` (the grid worker handling
it) in the API (list, detail, Open311), the phone's task card and the export rows; the town operator who owns the case
and the assessor exporting it read them whole."""

from __future__ import annotations

import csv
import io

import pytest

from app.screens.analytics import period_incidents
from incidents import masking
from incidents.actor import Actor
from tests.app.authkit import login

PHONE = "13812345678"
CALLER = "王小明"


def test_masking_functions():
    assert masking.phones(f"市民来电 {PHONE}，座机 020-87654321") == \
        "市民来电 138****5678，座机 020-****4321"
    assert masking.phones("第 20261118000001 号") == "第 20261118000001 号"   # not a phone
    assert (masking.name("张三"), masking.name("欧阳明月")) == ("张*", "欧***")
    assert masking.person(PHONE) == "138****5678" and masking.person(CALLER) == "王**"
    assert masking.person("W440981003001") == "W4******01"
    assert masking.sees("town_operator") and not masking.sees("grid_worker")
    assert not masking.sees("wall_viewer") and not masking.sees(None)


@pytest.fixture
def case(app_ctx, accounts):
    """A 12345 hotline case in 潘州's first cell, taken by the city and dispatched by 潘州 to the
    cell's grid worker."""
    town = accounts["panzhou"]
    worker = next(a for a in accounts.values()
                  if a["role"] == "grid_worker" and a["center"] == town["center"])
    cell = app_ctx.city.cells[app_ctx.city.cells["code"] == worker["cell"]].iloc[0]
    p = cell.geometry.representative_point()
    svc = app_ctx.incidents
    city = Actor("ops", "city_operator", "CITY", "市值班员")
    inc = svc.report(city, "0107", float(p.x), float(p.y), channel="hotline", ref=PHONE,
                     on_behalf_of=CALLER, title="井盖缺失",
                     description=f"市民{CALLER}（{PHONE}）来电反映井盖缺失", correlate=False)
    owner = Actor(town["user_id"], "town_operator", town["center"], town["name"])
    if inc.center != town["center"]:
        pytest.fail(f"the case went to {inc.center}, not {town['center']}")
    svc.accept(inc.id, owner)
    svc.dispatch(inc.id, owner, [f"W{worker['cell']}"])
    return inc.id, worker["user_id"]


def _leaks(obj, path: str = "") -> list[str]:
    """Where ``obj`` still holds the caller's number or name."""
    if isinstance(obj, dict):
        return [x for k, v in obj.items() for x in _leaks(v, f"{path}.{k}")]
    if isinstance(obj, list):
        return [x for k, v in enumerate(obj) for x in _leaks(v, f"{path}[{k}]")]
    return [f"{path}={obj}"] if isinstance(obj, str) and (PHONE in obj or CALLER in obj) else []


def _api(web, user: str, inc_id: str) -> tuple[dict, dict, list]:
    c = web.test_client()
    login(c, user)
    one = c.get(f"/api/incidents/{inc_id}").get_json()
    listed = c.get("/api/incidents?view=all").get_json()["items"]
    o311 = c.get(f"/open311/v2/requests/{inc_id}.json").get_json()
    return one, next(i for i in listed if i["id"] == inc_id), o311


def test_the_grid_worker_reads_it_masked(web, case):
    inc_id, worker = case
    one, row, o311 = _api(web, worker, inc_id)
    assert one["reporter"] == "王**" and row["reporter"] == "王**"
    assert _leaks(one) == []
    assert "138****5678" in one["description"] and one["sources"][0]["ref"] == "138****5678"
    assert _leaks(o311) == []
    c = web.test_client()
    login(c, worker)                           # the phone's task card
    card = next(t for t in c.get("/m/api/tasks").get_json()["tasks"] if t["id"] == inc_id)
    assert _leaks(card) == [] and "138****5678" in card["description"]


def test_the_owner_reads_it_whole(web, case):
    inc_id, _ = case
    one, row, o311 = _api(web, "panzhou", inc_id)
    assert one["reporter"] == CALLER and row["reporter"] == CALLER
    assert one["sources"][0]["ref"] == PHONE and PHONE in one["description"]
    assert PHONE in str(o311)


def test_exports(web, app_ctx, accounts, case):
    inc_id, worker = case
    c = web.test_client()
    login(c, "supervisor")                     # an assessor: calls reporters back (回访)
    text = c.get("/analytics/export.csv?start=2000-01-01&end=2100-01-01").get_data(as_text=True)
    rows = {r["id"]: r for r in csv.DictReader(io.StringIO(text.lstrip("\ufeff")))}
    assert rows[inc_id]["reporter"] == CALLER
    # the same rows for a role without the right (no such role opens /analytics today: the
    # rows are what every export of the period is written from)
    w = accounts[worker]
    df = period_incidents(app_ctx, Actor(worker, "grid_worker", w["center"], w["name"],
                                         w["cell"]), 0, 4e9)
    assert df.set_index("id").loc[inc_id, "reporter"] == "王**"
