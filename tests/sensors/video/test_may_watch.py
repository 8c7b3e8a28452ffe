"""Who may watch which camera is one policy rule (issue 23, V27 全程可控; S1/S2 分级接入):
the city all; a town its territory's; a department the cameras shared to it; a grid worker the
public cameras of their own cell; an administrator none."""

from __future__ import annotations

from incidents.actor import Actor
from incidents.policy import Policy


def test_the_video_scope_rule(demo_city) -> None:
    p = Policy(demo_city)
    t1, t2 = (str(c) for c in demo_city.towns["code"][:2])
    cam = {"id": "cam-1", "town_code": t1, "cell_code": "C1", "share": "综治,城管", "owner": "public"}
    private = cam | {"owner": "social"}
    ok = [Actor("ops", "city_operator", "CITY"), Actor("wall", "wall_viewer", "CITY"),
          Actor("sup", "supervisor", "CITY"), Actor("t", "town_operator", f"T{t1}"),
          Actor("cg", "dept_operator", "DCG"), Actor("w", "grid_worker", f"T{t1}", cell="C1")]
    no = [Actor("t2", "town_operator", f"T{t2}"), Actor("sl", "dept_operator", "DSL"),
          Actor("w2", "grid_worker", f"T{t1}", cell="C2"), Actor("admin", "admin", "CITY")]
    assert all(p.may_watch(a, cam) is None for a in ok)
    assert all(p.may_watch(a, cam) for a in no)       # a reason, for the audit
    assert p.may_watch(Actor("w", "grid_worker", f"T{t1}", cell="C1"), private)
    assert p.may_watch(Actor("t", "town_operator", f"T{t1}"), private) is None
