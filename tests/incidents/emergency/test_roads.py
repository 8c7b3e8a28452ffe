"""Road distance (issue 16): with a road network configured, 一键调度 ranks the suggested
resources by the distance along the roads (a team near as the crow flies but across a river
with its bridge far away comes after one up the road), and says which distance it used; without
one, straight-line. A file without lines is refused with a clear message."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from grid.resources import Register, read_csv
from grid.roads import RoadNetwork
from incidents.actor import SYSTEM
from incidents.emergency.dispatch import ResourceDispatch


def _roads(x0: float, y0: float) -> RoadNetwork:
    return RoadNetwork([[(x0, y0), (x0, y0 + 0.02)],                                  # up the road to B
                        [(x0, y0), (x0, y0 - 0.05), (x0 + 0.01, y0 - 0.05), (x0 + 0.01, y0)]])  # the bridge


def test_road_distance_ranks_the_suggestion(svc, redis_client, demo_city, who, here) -> None:
    x0, y0 = round(here.lon, 6), round(here.lat, 6)
    Register(redis_client, demo_city).import_rows(read_csv(
        "category,id,name,owner,lon,lat,kind,people\n"
        f"team,t-a,河对岸队,DYJ,{x0 + 0.01},{y0},防汛抢险队,20\n"
        f"team,t-b,上游队,DYJ,{x0},{y0 + 0.02},防汛抢险队,20\n"))
    inc = svc.report(SYSTEM, "0306", x0, y0, channel="iot", idempotency_key="road-1")
    reg = Register(redis_client, demo_city)

    def teams(d: ResourceDispatch) -> tuple[str, list]:
        got = d.suggest(who.commander, incident_id=inc.id)
        rows = next(g for g in got["groups"] if g["need"] == "队伍")["resources"]
        return got["distance"], [(t["id"], t["distance_m"]) for t in rows if t["id"] in ("t-a", "t-b")]

    how, straight = teams(ResourceDispatch(svc, reg))
    assert how == "straight_line" and [t for t, _ in straight] == ["t-a", "t-b"]
    how, road = teams(ResourceDispatch(svc, reg, roads=_roads(x0, y0)))
    assert how == "road" and [t for t, _ in road] == ["t-b", "t-a"]
    assert road[0][1] == pytest.approx(straight[1][1], rel=1e-3)          # straight up the road
    assert road[1][1] > 5 * straight[0][1]                                 # round by the bridge


def test_unreachable_and_bad_files(tmp_path) -> None:
    net = RoadNetwork([[(110.0, 21.0), (110.01, 21.0)], [(111.0, 22.0), (111.01, 22.0)]])
    d = net.distances(110.0, 21.0, np.array([110.01, 111.01]), np.array([21.0, 22.0]))
    assert d[0] == pytest.approx(1038, rel=0.01) and math.isinf(d[1])
    f = tmp_path / "roads.geojson"
    f.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [110, 21]}}]}), encoding="utf-8")
    with pytest.raises(ValueError, match="路网没有任何道路线"):
        RoadNetwork.from_geojson(f)
    f.write_text(json.dumps({"type": "Feature", "geometry": {"type": "MultiLineString", "coordinates": [
        [[110.0, 21.0], [110.01, 21.0]]]}}), encoding="utf-8")
    assert RoadNetwork.from_geojson(f).graph.number_of_edges() == 1
