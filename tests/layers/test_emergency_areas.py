"""应急区域 and 态势 layers (layers/emergency_areas.py, layers/situation.py): added by the map-layer
recipe as one module each, drawn on every theme, empty while there is nothing to draw."""

from __future__ import annotations

import pytest
import shapely

from layers import alarms, basemap, compose, emergency_areas, resources, situation
from layers.themes import THEMES


@pytest.fixture
def data(demo_city, sensors_df, cameras_df, incidents_df) -> compose.MapData:
    return compose.MapData(demo_city, sensors_df, cameras_df, {}, incidents_df,
                           alarms.fold([]), resources.demo_resources(demo_city))


def _view(city) -> compose.View:
    center, zoom = basemap.fit_view(city.boundary.bounds, 1000, 800)
    return compose.View(center, zoom)


def _pts(trace: dict) -> list[tuple[float, float]]:
    return [(x, y) for x, y in zip(trace["lon"], trace["lat"], strict=True) if x is not None]


@pytest.mark.parametrize("code", list(THEMES))
def test_the_area_is_drawn_on_every_theme_only_when_on(data, demo_city, code):
    town = demo_city.towns.geometry.iloc[2]
    off = compose.compose(data, THEMES[code], _view(demo_city))
    assert _pts(off.figure["data"][off.index[emergency_areas.KEY]]) == []
    assert "应急区域" not in [lg.title for lg in off.legends]
    data.emergency = {"area": shapely.geometry.mapping(town), "reason": "防汛Ⅳ级应急响应"}
    on = compose.compose(data, THEMES[code], _view(demo_city))
    assert emergency_areas.KEY in on.layers
    trace = on.figure["data"][on.index[emergency_areas.KEY]]
    pts = _pts(trace)
    assert len(pts) >= 4 and trace["fill"] == "toself"
    # the outline is the town's own boundary, nothing else
    assert all(town.exterior.distance(shapely.Point(p)) < 1e-4 for p in pts[:: max(1, len(pts) // 20)])
    # above the boundaries, under every point layer
    assert on.index[emergency_areas.KEY] < min(i for m, i in on.index.items()
                                               if m.startswith(("incidents:", "alarms:")))
    assert ("应急区域", ("防汛Ⅳ级应急响应",)) in [(lg.title, tuple(i.label for i in lg.items))
                                              for lg in on.legends]


def test_area_shapes_circle_multipolygon_feature_collection(demo_city):
    p = demo_city.towns.geometry.iloc[0].representative_point()
    circle = emergency_areas.rings({"type": "Point", "coordinates": [p.x, p.y], "radius_m": 3000})
    (ring,) = circle
    d = [shapely.Point(p.x, p.y).distance(shapely.Point(q)) for q in ring]
    assert min(d) > 0.02 and max(d) < 0.035          # ≈ 3 km in degrees at ~22° N
    two = demo_city.towns.geometry.iloc[:2]
    fc = {"type": "FeatureCollection",
          "features": [{"type": "Feature", "properties": {},
                        "geometry": shapely.geometry.mapping(g.buffer(0.001))} for g in two]}
    lon, lat = emergency_areas.trace_coords(fc)
    assert lon.count(None) == len(emergency_areas.rings(fc)) - 1 >= 0
    assert emergency_areas.trace_coords(None) == ([], [])


def test_situation_sources_are_drawn_human_and_machine_apart(data, demo_city):
    p = demo_city.towns.geometry.iloc[1].representative_point()
    data.situation = {"id": "E1", "title": "内涝", "lon": p.x, "lat": p.y, "sources": [
        {"lon": p.x + 0.01, "lat": p.y, "channel": "iot"},
        {"lon": p.x, "lat": p.y + 0.01, "channel": "hotline"},
        {"lon": p.x - 0.01, "lat": p.y, "channel": "video_ai"}]}
    mf = compose.compose(data, THEMES["ecology"], _view(demo_city))
    src = mf.figure["data"][mf.index["situation:sources"]]
    assert src["customdata"] == ["iot", "hotline", "video_ai"]
    from layers import palette  # noqa: PLC0415

    assert src["marker"]["color"] == [palette.SITUATION_MACHINE, palette.SITUATION_HUMAN,
                                      palette.SITUATION_MACHINE]
    spokes = mf.figure["data"][mf.index["situation:spokes"]]
    assert spokes["lon"].count(None) == 3
    assert mf.figure["data"][mf.index["situation:ring"]]["customdata"] == ["E1"]
    assert any(lg.title.startswith("态势 内涝 · 3") for lg in mf.legends)
    empty = situation.situation_layer(None)
    assert all(len(t["lon"]) == 0 for t in empty.traces) and empty.legend is None

