"""应急专题 on the wall (issue 16; X28 "situation judged on one map … scene commanded on one
screen", X24, M1/M3): shown over the map while a response is active.

What it shows, read through the response service with the wall's caller (``Responses.list`` /
``board``, the policy's ``read_response``): the plan and level, the area (镇街 or 全市; the map
draws it: the city's response switches 应急模式, ``layers.emergency_areas``), the board's
summary (each member unit's tasks done/total, 已超时), the resources committed with their state
(在途 / 到场 …; on the map ``layers.response_moves`` draws each team where its responders'
phones last reported it, with its state and a line to the scene: ``moves``, patched by
``app.screens.wall.moves``) and the sources of the situation it was opened for. No inputs, no hover: legible at wall distance (the smallest
text is 0.9 rem = 1.67 % of the screen height, ``assets/wall/wall.css``).
"""

from __future__ import annotations

from collections import Counter

from dash import html

from app.timefmt import fmt_cst
from incidents.actor import SYSTEM, Actor
from incidents.errors import IncidentError
from incidents.incident import CHANNELS

UNITS_SHOWN = 8
"""Member units listed (most overdue first, then least done); the rest are counted."""
MOVING = ("requested", "acknowledged", "en_route", "on_scene")
"""The committed resources the theme lists (released ones are done)."""


def summary(responses, service, city, actor: Actor | None) -> dict | None:  # noqa: ANN001
    """The newest active response the caller may read, as the theme shows it, or None.
    ``responses``: the app's ``Responses``; ``service``: the incident service (the situation)."""
    if responses is None:          # a server without the OneMap context (a bench's bare wall)
        return None
    who = actor or SYSTEM          # a bare wall (bench, tests without the gate): the whole city
    try:
        active = responses.list(who)
        if not active:
            return None
        board = responses.board(who, active[0]["id"])
    except IncidentError:
        return None
    r = board["response"]
    units = [{"name": u["name"], "done": u["done"], "total": len(u["tasks"]), "overdue": u["overdue"]}
             for u in board["units"]]
    units.sort(key=lambda u: (-u["overdue"], u["done"] / max(1, u["total"])))
    sources: dict[str, int] = {}
    inc = None
    if r.get("incident"):
        try:
            inc = service.get(r["incident"], who)
            sources = dict(Counter(CHANNELS.get(str(s.get("channel", "")), str(s.get("channel", "")))
                                   for s in inc.sources))
        except IncidentError:
            sources = {}
    town = r.get("town") or ""
    scene = (inc.lon, inc.lat) if inc is not None else _area_point(city, town)
    return {"id": r["id"], "plan": r.get("plan_name", r["plan"]), "hazard": r.get("hazard", ""),
            "level": r["level"], "level_name": r.get("level_name", ""),
            "area": city.town_names.get(town, town) if town else "全市", "since": r.get("ts"),
            "exercise": r.get("exercise", False), "totals": board["totals"], "units": units,
            "resources": [{"name": a.get("name", ""), "state": a.get("state_name", "")}
                          for a in board.get("committed", []) if a.get("state") in MOVING],
            "sources": sources, "others": len(active) - 1,
            "moves": moves(board.get("committed", []), scene)}


def _area_point(city, town: str) -> tuple[float, float]:  # noqa: ANN001
    """The response's place when it has no case: its town's (or the city's) inner point."""
    t = city.towns[city.towns["code"].astype(str) == town] if town else None
    g = t.geometry.iloc[0] if t is not None and len(t) else city.boundary
    p = g.representative_point()
    return float(p.x), float(p.y)


def moves(committed: list[dict], scene: tuple[float, float]) -> list[dict]:
    """调派力量 on the map (``layers.response_moves``): each committed team or expert still out,
    where its responders' phones last reported it (``pos_lon/pos_lat``; else its base), its
    state, and the scene it is going to."""
    out = []
    for a in committed:
        if a.get("state") not in MOVING or a.get("category") == "material":
            continue
        live = a.get("pos_lon") is not None and a.get("pos_lat") is not None
        lon, lat = (a["pos_lon"], a["pos_lat"]) if live else (a.get("base_lon"), a.get("base_lat"))
        if lon is None or lat is None:
            continue
        out.append({"id": a.get("id", ""), "name": a.get("name", ""), "state": a["state"],
                    "state_name": a.get("state_name", ""), "lon": float(lon), "lat": float(lat),
                    "scene_lon": scene[0], "scene_lat": scene[1], "live": live})
    return out


def signature(s: dict | None) -> str:
    """What changes the theme's text (an unchanged one is not resent on a tick)."""
    if s is None:
        return "0"
    t = s["totals"]
    return "|".join(map(str, (s["id"], s["level"], t["tasks"], t["done"], t["overdue"],
                              t["acknowledged"], sorted(s["sources"].items()),
                              [(x["name"], x["state"]) for x in s["resources"]], s["others"],
                              [(m["id"], m["state"], round(m["lon"], 6), round(m["lat"], 6))
                               for m in s.get("moves", [])])))


def children(s: dict) -> list:
    """The theme's panel: title, area, totals, units, resources, sources."""
    t = s["totals"]
    units = [html.Div(className="er-unit" + (" bad" if u["overdue"] else ""), children=[
        html.Span(u["name"], className="er-uname"),
        html.Span(f"{u['done']}/{u['total']}" + (f" 超时{u['overdue']}" if u["overdue"] else ""),
                  className="er-unum")]) for u in s["units"][:UNITS_SHOWN]]
    if len(s["units"]) > UNITS_SHOWN:
        units.append(html.Div(f"另 {len(s['units']) - UNITS_SHOWN} 个成员单位", className="er-dim"))
    res = [html.Div(f"{x['name']} · {x['state']}", className="er-res") for x in s["resources"]] \
        or [html.Div("暂无已调派资源", className="er-dim")]
    src = "、".join(f"{k}×{v}" for k, v in s["sources"].items()) or "—"
    return [
        html.Div("应急专题" + (" · 推演" if s["exercise"] else ""), className="er-kicker"),
        html.Div(f"{s['hazard']} {s['level']}级响应（{s['level_name']}）", className="er-level",
                 id="wall-response-level"),
        html.Div(s["plan"], className="er-plan"),
        html.Div(f"区域：{s['area']} · {s['id']} · {fmt_cst(s['since'], '%m-%d %H:%M')} 启动",
                 className="er-area", id="wall-response-area"),
        html.Div(className="er-totals", children=[
            html.Span(f"任务 {t['done']}/{t['tasks']} 完成"),
            html.Span(f"已签收 {t['acknowledged']}"),
            html.Span(f"超时 {t['overdue']}", className="bad" if t["overdue"] else "")]),
        html.Div(units, className="er-units"),
        html.Div("调派资源", className="er-sub"), html.Div(res, className="er-resources"),
        html.Div(f"态势来源：{src}", className="er-src"),
        *([html.Div(f"另有 {s['others']} 个进行中的响应", className="er-dim")] if s["others"] else []),
    ]


__all__ = ["MOVING", "UNITS_SHOWN", "children", "moves", "signature", "summary"]
