"""Themes (M10: the eight of seed 002) and the composed one-map figure."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from layers import alarms, basemap, compose, feed, palette, resources
from layers.themes import DEFAULT_THEME, LAYER_KEYS, THEMES, get_theme, next_theme
from tests.fixtures import synthetic

SEED_002 = ("总体态势", "智慧文旅", "生态环境", "民生幸福", "社区服务", "城市管理", "公共交通", "城市安全")


def test_the_eight_themes_of_seed_002():
    assert sorted(t.name for t in THEMES.values()) == sorted(SEED_002)
    assert THEMES[DEFAULT_THEME].name == "总体态势"
    for t in THEMES.values():
        assert set(t.layers) <= set(LAYER_KEYS) and t.kpis
    assert get_theme("生态环境").code == "ecology" and get_theme("nonsense").code == DEFAULT_THEME
    seen, code = set(), DEFAULT_THEME
    for _ in THEMES:
        seen.add(code)
        code = next_theme(code).code
    assert seen == set(THEMES) and code == DEFAULT_THEME


@pytest.fixture
def data(demo_city, sensors_df, cameras_df, incidents_df) -> compose.MapData:
    states = synthetic.states_for(pd.concat([sensors_df["id"], cameras_df["id"]]), seed=4)
    active = alarms.fold([("1-0", {"episode": "x", "event": "raise", "level": "red", "lon": "110.9",
                                   "lat": "21.9", "town_code": demo_city.towns["code"].iloc[0]})])
    return compose.MapData(demo_city, sensors_df, cameras_df, states, incidents_df, active,
                           resources.demo_resources(demo_city))


def _view(city) -> compose.View:
    center, zoom = basemap.fit_view(city.boundary.bounds, 1000, 800)
    return compose.View(center, zoom)


def test_switching_themes_changes_the_layers(data):
    figs = {code: compose.compose(data, t, _view(data.city)) for code, t in THEMES.items()}
    signatures = {code: tuple(f.layers) for code, f in figs.items()}
    assert len(set(signatures.values())) >= 6
    assert "risk" in signatures["overview"] and "cameras" not in signatures["ecology"]
    eco = figs["ecology"].figure["data"]
    sens = next(t for t in eco if t["meta"] == "sensors:all")
    kinds = set(data.sensors.set_index("id").loc[sens["customdata"], "type"])
    assert kinds and kinds <= set(THEMES["ecology"].sensor_types)


def test_figure_is_offline_and_the_highlight_trace_is_last(data):
    mf = compose.compose(data, THEMES["overview"], _view(data.city))
    text = json.dumps(mf.figure, default=lambda o: np.asarray(o).tolist())
    assert "http" not in text and "glyphs" not in text
    assert mf.figure["layout"]["map"]["style"]["layers"][0]["id"] == "om-bg"
    assert mf.figure["data"][-1]["meta"] == "highlight"
    assert set(mf.index) >= {"alarms:core", "alarms:halo", "incidents:city", "sensors:all",
                             "cameras:all", "risk", "labels", "resources:all"}
    # the alarm core trace is drawn after (above) every device and incident trace
    assert mf.index["alarms:core"] > max(mf.index["sensors:all"], mf.index["incidents:city"])


def test_stress_cameras_aggregate_and_keep_the_alarm_red(demo_city, data):
    stress = synthetic.cameras_frame(demo_city, 26907)
    states = dict.fromkeys(stress["id"], "normal")
    states[stress["id"].iloc[123]] = "alarm"
    data.cameras, data.states = stress, states
    mf = compose.compose(data, THEMES["overview"], _view(demo_city))
    assert "hex_devices" in mf.layers
    hexes = mf.figure["data"][mf.index["hex_devices"]]
    assert len(hexes["z"]) < 2000                                # not 26,907 points
    assert hexes["z"].count(palette.STATE_RANK["alarm"]) >= 1    # the alarm is not hidden
    cams = mf.figure["data"][mf.index["cameras:all"]]
    assert cams["customdata"] == [stress["id"].iloc[123]]        # only the exception, raw, on top
    raw = compose.compose(data, THEMES["overview"], compose.View(**{**_view(demo_city).__dict__,
                                                                 "force_raw": True}))
    assert "hex_devices" not in raw.layers
    assert len(raw.figure["data"][raw.index["cameras:all"]]["customdata"]) == 26907


def test_feed_items_and_ticker_text(demo_city):
    town = demo_city.towns["code"].iloc[0]
    a = feed.alarm_item("1700000000000-0", {"episode": "e", "event": "raise", "level": "orange",
                                            "lon": "110.9", "lat": "21.9", "device_id": "wl-1",
                                            "category": "0306", "town_code": town,
                                            "message": "水位 12.3 m 超过警戒水位 12.0 m"})
    assert a["color"] == palette.LEVEL_COLORS["orange"] and a["lon"] == 110.9
    t = feed.alarm_text(a, demo_city.town_names)
    assert t["tag"] == "橙色告警" and demo_city.town_names[town] in t["text"] and "水位超警" in t["text"]
    i = feed.incident_item("1700000000001-0", {"id": "E9", "state": "reported", "action": "report",
                                               "center": "CITY", "category": "0401", "severity": "重大",
                                               "lon": "110.9", "lat": "21.9", "ts": "1700000000001"})
    assert i["new"] and i["tier"] == "city" and not i["closed"]
    assert feed.incident_text(i, {})["tag"] == "新事件"
    closed = feed.incident_item("2-0", {"id": "E9", "state": "closed", "action": "close"})
    assert closed["closed"]


def test_tile_base_map_in_gcj02_shifts_what_we_draw(data):
    view = _view(data.city)
    plain = compose.compose(data, THEMES["overview"], view)
    tiled = compose.compose(data, THEMES["overview"], compose.View(
        view.center, view.zoom, tile_url="/tiles/{z}/{x}/{y}.png", tile_crs="gcj02"))
    style = tiled.figure["layout"]["map"]["style"]
    assert style["sources"]["om-tiles"]["tiles"] == ["/tiles/{z}/{x}/{y}.png"]
    # the tiles are the background: no territory fill over them, the lines stay
    assert [m["type"] for m in tiled.figure["layout"]["map"]["layers"]].count("fill") == 0
    a = plain.figure["data"][plain.index["labels"]]
    b = tiled.figure["data"][tiled.index["labels"]]
    d = np.array(b["lon"]) - np.array(a["lon"])
    assert (np.abs(d) > 1e-3).all() and (np.abs(d) < 1e-2).all()   # ~100–1000 m east/west
