"""应急指挥 on the screens and in the demo (issue 16; E30, T5, X19, X28), Dash-free on real Redis:
who sees the console's 应急响应 panel is the policy's answer; the board and the wall's 应急专题
say the level, the area, each unit's tasks and what changed; the demo's sweep loop gives the
member units' tasks of a response activated without them (a crash between the two)."""

from __future__ import annotations

import threading

from app.emergency import import_demo_plans, responses_for, sweep_loop
from app.screens.console.emergency import board_children, may_command, nearest_team, response_point
from app.screens.wall import response_theme as wall_emergency
from incidents import keys
from incidents.actor import SYSTEM, Actor
from tests.app.authkit import accounts, app_ctx, login, web  # noqa: F401
from tests.app.e2ekit import wait
from tests.app.test_api import PZ, point_in


def _actor(accts: dict, user: str) -> Actor:
    a = accts[user]
    return Actor(a["user_id"], a["role"], a["center"], a["name"])


def _flatten(node) -> str:  # noqa: ANN001 (a Dash component tree)
    if isinstance(node, str | int | float):
        return str(node)
    if isinstance(node, list | tuple):
        return " ".join(_flatten(n) for n in node)
    kids = getattr(node, "children", None)
    return _flatten(kids) if kids is not None else ""


def test_panel_board_wall_theme_and_sweep(app_ctx, accounts) -> None:  # noqa: F811
    svc, city = app_ctx.incidents, app_ctx.city
    assert import_demo_plans(app_ctx) == 3                       # the demo's start
    policy = svc.policy
    boss, town, dsl = (_actor(accounts, u) for u in ("commander", "panzhou", "shuili"))
    assert may_command(policy, boss) and may_command(policy, town)
    assert not may_command(policy, dsl) and not may_command(policy, _actor(accounts, "wall"))

    for i in range(3):
        sit = svc.report(SYSTEM, "0306", *point_in(city, PZ, 3 + i), channel="iot",
                         idempotency_key=f"scr-flood-{i}")
    rs = responses_for(app_ctx)
    assert wall_emergency.summary(rs, svc, city, None) is None       # nothing active: no theme
    # activated without its tasks (as if the process died right after): the sweep gives them
    resp = rs.activate(boss, "flood-typhoon", "IV", town=PZ, incident=sit.id, dispatch=False)
    assert svc.r.hlen(keys.response_tasks(resp["id"])) == 0
    stop = threading.Event()
    t = threading.Thread(target=sweep_loop, args=(app_ctx, stop, 0.05), daemon=True)
    t.start()
    try:
        wait(lambda: svc.r.hlen(keys.response_tasks(resp["id"])) == 5, 10, "the swept tasks")
    finally:
        stop.set()
        t.join(5)
    assert rs.sweep() == 0                                            # each task once

    board = rs.board(boss, resp["id"])
    text = _flatten(board_children(board, lambda c: city.centers[c].name, city.town_names.get))
    town_name = city.centers[f"T{PZ}"].name
    assert "IV级（一般）响应" in text and town_name in text and "任务 5 · 已签收 0 · 已完成 0" in text
    assert "已调派资源：暂无" in text

    s = wall_emergency.summary(rs, svc, city, None)
    assert (s["level"], s["area"], s["totals"]["tasks"]) == ("IV", city.town_names[PZ], 5)
    assert sum(s["sources"].values()) == 3
    before = wall_emergency.signature(s)
    rs.change_level(boss, resp["id"], "III", "水位继续上涨")
    s = wall_emergency.summary(rs, svc, city, None)
    assert s["level"] == "III" and wall_emergency.signature(s) != before
    assert "III级响应" in _flatten(wall_emergency.children(s))

    # the nearest available team the commander may dispatch; a department may dispatch none of
    # the town's teams (the policy's check_resource_dispatch)
    from incidents.emergency.dispatch import ResourceDispatch

    rd = ResourceDispatch(svc, app_ctx.resource_register)
    where = response_point(svc, city, boss, resp)
    team = nearest_team(rd, boss, *where)
    assert team is not None and team["distance_m"] < 30_000
    mine = nearest_team(rd, dsl, *where)
    assert mine is None or rd.register.get(mine["id"]).record.owner == dsl.center


def test_crafted_panel_requests_go_through_the_policy(web, app_ctx, accounts) -> None:  # noqa: F811
    """The panel's callbacks answer crafted requests (Dash's own form) with the policy's word: a
    department may not activate, a town not for another town nor above IV; the commander may."""
    from tests.app.dashkit import DashPage, response_of
    from tests.app.test_api import DA

    svc, city = app_ctx.incidents, app_ctx.city
    for i in range(3):
        sit = svc.report(SYSTEM, "0306", *point_in(city, PZ, 3 + i), channel="iot",
                         idempotency_key=f"scr-craft-{i}")

    def act(user: str, town: str, level: str = "IV") -> str:
        c = web.test_client()
        page = DashPage(c, "console", login(c, user))
        pending = {"plan": "flood-typhoon", "level": level, "town": town, "incident": sit.id,
                   "reason": "crafted"}
        r = page.call("in:resp-activate.n_clicks", {
            "resp-activate.n_clicks": 1, "resp-pending.data": pending, "rev.data": 0},
            ["resp-activate.n_clicks"])
        assert r.status_code == 200, r.status_code
        return str(response_of(r).get("resp-msg", {}).get("children", ""))

    def active() -> int:
        return svc.r.zcard(keys.responses_active(False))

    assert act("shuili", PZ).startswith("✗") and active() == 0        # a department commands none
    assert act("panzhou", DA).startswith("✗") and active() == 0       # not another town's ground
    assert act("panzhou", PZ, "II").startswith("✗") and active() == 0  # a town: level IV only
    assert act("commander", PZ).startswith("✓ 已启动") and active() == 1
    c = web.test_client()
    view = DashPage(c, "console", login(c, "shuili")).call(
        "resp-suggest.children", {"sel.data": sit.id, "rev.data": 0, "resp-feed.data": None,
                                "slow.n_intervals": 1}, ["slow.n_intervals"])
    got = response_of(view)
    assert got.get("resp", {}).get("hidden") is True                     # no panel for DSL
