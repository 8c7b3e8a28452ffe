"""Each layer module: traces, legends and the rules the wall relies on (issue 5, M34)."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd

from layers import alarms, boundaries, cameras, incidents, palette, resources, risk, sensors


def test_town_labels_cover_every_town_and_never_use_map_text(demo_city):
    layer = boundaries.towns_layer(demo_city)
    label = next(t for t in layer.traces if t["meta"] == boundaries.LABELS_META)
    assert sorted(label["text"]) == sorted(demo_city.towns["name"])
    assert label["mode"] == "markers"          # "text" would need glyph PBFs (offline: none)
    assert all(m["below"] == "traces" for m in layer.map_layers)
    fc = layer.map_layers[0]["source"]
    assert len(fc["features"]) == len(demo_city.towns)


def test_sensors_one_trace_worst_state_last(sensors_df):
    ids = sensors_df["id"]
    states = dict.fromkeys(ids, "normal")
    states[ids.iloc[0]] = "alarm"
    states[ids.iloc[1]] = "offline"
    layer = sensors.sensors_layer(sensors_df, states)
    (trace,) = layer.traces
    assert trace["customdata"][-1] == ids.iloc[0]           # the alarm is drawn on top
    assert trace["marker"]["color"][-1] == palette.STATE_COLORS["alarm"]
    assert trace["marker"]["size"][-1] > trace["marker"]["size"][0]
    labels = [it.label for it in layer.legend.items]
    assert labels == ["告警", "预警", "离线", "正常"]      # live counts are the KPI tiles' job


def test_sensor_types_filter(sensors_df):
    layer = sensors.sensors_layer(sensors_df, {}, types=("water_level",))
    n = int((sensors_df["type"] == "water_level").sum())
    assert len(layer.traces[0]["customdata"]) == n > 0


def test_camera_wedges_only_when_zoomed_in(cameras_df):
    far = cameras.cameras_layer(cameras_df, {}, zoom=10)
    near = cameras.cameras_layer(cameras_df.head(50), {}, zoom=cameras.FOV_ZOOM)
    assert far.map_layers == [] and len(near.map_layers) == 1
    directional = int((cameras_df.head(50)["fov_deg"] < 359).sum())    # domes get no wedge
    assert 0 < len(near.map_layers[0]["source"]["features"]) == directional < 50
    head = cameras_df.head(50)
    x0, y0 = head["lon"].median(), head["lat"].median()
    inside = cameras.cameras_layer(head, {}, zoom=13, bbox=(x0, y0, 180, 90))
    n_in = int(((head["lon"] >= x0) & (head["lat"] >= y0) & (head["fov_deg"] < 359)).sum())
    assert len(inside.map_layers[0]["source"]["features"]) == n_in


def test_fov_wedge_points_along_heading_within_range():
    cam = pd.DataFrame({"id": ["cam-1"], "lon": [110.9], "lat": [21.9], "heading_deg": [90.0],
                        "fov_deg": [60.0], "range_m": [100.0]})
    ring = cameras.fov_wedges(cam)["features"][0]["geometry"]["coordinates"][0]
    assert ring[0] == [110.9, 21.9] and ring[-1] == [110.9, 21.9]
    m_lon = 111_320 * math.cos(math.radians(21.9))
    for x, y in ring[1:-1]:
        dx, dy = (x - 110.9) * m_lon, (y - 21.9) * 111_320
        assert abs(math.hypot(dx, dy) - 100) < 1
        assert dx > 0 and abs(math.degrees(math.atan2(dx, dy)) - 90) <= 30.01   # east ±30°


def test_incidents_by_tier_overdue_ring_and_closed_dropped(incidents_df):
    layer = incidents.incidents_layer(incidents_df)
    by_meta = {t["meta"]: t for t in layer.traces}
    assert by_meta["incidents:city"]["customdata"] == ["E1"]
    assert by_meta["incidents:town"]["customdata"] == ["E2"]
    assert by_meta["incidents:department"]["customdata"] == ["E4"]     # E3 closed: off the map
    assert by_meta["incidents:overdue"]["customdata"] == ["E1"]
    assert by_meta["incidents:overdue"]["marker"]["color"] == palette.OVERDUE_COLOR
    assert by_meta["incidents:overdue"]["marker"]["size"][0] > by_meta["incidents:city"]["marker"]["size"][0]
    assert [it.label for it in layer.legend.items][:5] == ["特别重大", "重大", "较大", "一般", "超期"]
    # stage by opacity: E1 reported (waiting: loudest), E2 dispatched (in progress)
    assert by_meta["incidents:city"]["marker"]["opacity"] == [1.0]
    assert by_meta["incidents:town"]["marker"]["opacity"] == [0.85]


def test_incident_category_filter_and_due_ts(incidents_df):
    f = incidents_df.drop(columns=["overdue"]).assign(due_ts=[1.0, 9e12, 1.0, 9e12])
    out = incidents.normalise(f, categories=("04",), now=1000.0)
    assert out["id"].tolist() == ["E1"] and out["overdue"].tolist() == [True]


def test_alarm_fold_raise_level_clear():
    e = [("1-0", {"episode": "a", "event": "raise", "level": "yellow", "lon": "110.9", "lat": "21.9"}),
         ("2-0", {"episode": "b", "event": "raise", "level": "blue", "lon": "110.8", "lat": "21.8"}),
         ("3-0", {"episode": "a", "event": "level", "level": "red"}),
         ("4-0", {"episode": "b", "event": "clear"})]
    active = alarms.fold(e)
    assert active["episode"].tolist() == ["a"] and active["level"].tolist() == ["red"]
    assert active["lon"].tolist() == [110.9]
    layer = alarms.alarms_layer(active, size_scale=2.0)
    core = next(t for t in layer.traces if t["meta"] == "alarms:core")
    assert core["marker"]["color"] == [palette.LEVEL_COLORS["red"]]
    assert core["marker"]["size"] == [alarms.CORE_SIZE * 2.0]


def test_risk_five_colours_follow_alarms_and_incidents(demo_city):
    towns = demo_city.towns
    t0, t1 = towns["code"].iloc[0], towns["code"].iloc[1]
    al = pd.DataFrame({"level": ["red"] * 6, "town_code": [t0] * 6})
    inc = pd.DataFrame({"severity": ["一般"], "town_code": [t1], "overdue": [False]})
    sc = risk.scores(towns, "town_code", al, inc)
    assert sc[t0] == 48 and sc[t1] == 1 and sc.drop([t0, t1]).eq(0).all()
    bands = risk.band(sc.to_numpy())
    assert palette.RISK_LEVELS[bands[0]] == "red" and palette.RISK_LEVELS[bands[1]] == "green"
    layer = risk.risk_layer(towns, "town_code", al, inc)
    assert layer.traces[0]["z"][0] == 4 and len(layer.legend.items) == 5


def test_demo_resources_deterministic_and_inside_the_city(demo_city):
    import shapely

    a = resources.demo_resources(demo_city)
    b = resources.demo_resources(demo_city)
    pd.testing.assert_frame_equal(a, b)
    assert set(a["kind"]) == set(resources.KINDS)
    assert (a["kind"] == "rescue_team").sum() == len(demo_city.towns)
    assert shapely.contains_xy(demo_city.boundary, a["lon"].to_numpy(), a["lat"].to_numpy()).all()
    layer = resources.resources_layer(a, kinds=("shelter",))
    assert len(layer.traces[0]["customdata"]) == (a["kind"] == "shelter").sum()


def test_no_trace_uses_non_circle_symbols_or_remote_urls(demo_city, sensors_df, cameras_df, incidents_df):
    layers = [sensors.sensors_layer(sensors_df, {}), cameras.cameras_layer(cameras_df, {}),
              incidents.incidents_layer(incidents_df), resources.resources_layer(
                  resources.demo_resources(demo_city)), boundaries.towns_layer(demo_city)]
    text = json.dumps([t for la in layers for t in la.traces], default=lambda o: np.asarray(o).tolist())
    assert '"symbol"' not in text and "http" not in text
