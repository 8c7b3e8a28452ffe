"""The layer registry (issue 14): layers are discovered, compose iterates them in order, and the
composed figure of every theme is what it was before the registry (recorded from the if/elif
chain of ``layers.compose.build_layers`` on the demo city fixtures)."""

from __future__ import annotations

import pandas as pd
import pytest

from layers import alarms, basemap, compose, resources
from layers.themes import LAYER_KEYS, THEMES
from tests.fixtures import synthetic

# Bottom to top, as the chain drew them.
RECORDED_KEYS = ("city", "risk", "hex_devices", "cells", "villages", "towns", "sensors",
                 "cameras", "resources", "incidents", "alarms")

# What each layer contributes at a city view: trace metas, the legend panel's title (None: not in
# the panel) and its ``layout.map.layers`` types (none of the point layers at city zoom).
METAS = {"city": (), "risk": ("risk",), "hex_devices": ("hex_devices",), "cells": (),
         "villages": (), "towns": ("labels",), "sensors": ("sensors:all",),
         "cameras": ("cameras:all",), "grid_workers": ("grid_workers:all",),
         "resources": ("resources:all", "resources:core"),
         "incidents": ("incidents:overdue", "incidents:department", "incidents:town",
                       "incidents:city"),
         "alarms": ("alarms:halo", "alarms:core"), "emergency_areas": ("emergency_areas",),
         "situation": ("situation:spokes", "situation:ring", "situation:sources"),
         "response_moves": ("response_moves:lines", "response_moves:teams")}
LEGENDS = {"risk": "综合风险五色图", "hex_devices": "设备聚合(最严重状态)", "sensors": "物联感知",
           "cameras": "视频点位", "grid_workers": "网格员", "resources": "应急资源", "incidents": "在办事件",
           "alarms": "实时告警"}
MAP_LAYERS = {"city": ("fill", "line"), "cells": ("line",), "villages": ("line",),
              "towns": ("line",)}

# Per theme: the layers drawn at a city view of the fixtures (2,000 sensors + 1,500 cameras),
# and with the 26,907-camera stress registry (hexagons wherever the theme shows devices).
# Since recorded: layers/grid_workers.py (网格员) joined 城市管理 and 社区服务; 应急区域
# (layers/emergency_areas.py) and 态势 (layers/situation.py) joined every theme (their traces are
# empty while emergency mode is off and no situation is open); 调派力量 (layers/response_moves.py,
# issue 16: the committed teams moving, empty while none is) joined every theme; nothing else.
RECORDED: dict[str, tuple[str, str]] = {
    "overview": ("city risk hex_devices towns emergency_areas sensors cameras resources response_moves incidents situation alarms",
                 "city risk hex_devices towns emergency_areas sensors cameras resources response_moves incidents situation alarms"),
    "city_mgmt": ("city cells towns emergency_areas sensors cameras grid_workers response_moves incidents situation alarms",
                  "city hex_devices cells towns emergency_areas sensors cameras grid_workers response_moves incidents situation alarms"),
    "city_safety": ("city risk towns emergency_areas sensors cameras resources response_moves incidents situation alarms",
                    "city risk hex_devices towns emergency_areas sensors cameras resources response_moves incidents situation alarms"),
    "ecology": ("city villages towns emergency_areas sensors response_moves incidents situation alarms",
                "city villages towns emergency_areas sensors response_moves incidents situation alarms"),
    "transport": ("city towns emergency_areas sensors cameras response_moves incidents situation alarms",
                  "city hex_devices towns emergency_areas sensors cameras response_moves incidents situation alarms"),
    "tourism": ("city towns emergency_areas sensors cameras response_moves incidents situation alarms",
                "city hex_devices towns emergency_areas sensors cameras response_moves incidents situation alarms"),
    "livelihood": ("city villages towns emergency_areas resources response_moves incidents situation",
                   "city villages towns emergency_areas resources response_moves incidents situation"),
    "community": ("city cells villages towns emergency_areas grid_workers resources response_moves incidents situation alarms",
                  "city cells villages towns emergency_areas grid_workers resources response_moves incidents situation alarms"),
}


@pytest.fixture(scope="module")
def frames(demo_city, sensors_df, cameras_df) -> dict:
    t = demo_city.towns.iloc[:4]
    pts = t.geometry.representative_point()
    inc = pd.DataFrame({
        "id": ["E1", "E2", "E3", "E4"], "state": ["reported", "dispatched", "closed", "in_progress"],
        "center": ["CITY", f"T{t['code'].iloc[1]}", "DCG", "DSL"],
        "category": ["0401", "0101", "0101", "0306"], "severity": ["重大", "一般", "一般", "较大"],
        "lon": pts.x.to_numpy(), "lat": pts.y.to_numpy(), "town_code": t["code"].to_numpy(),
        "overdue": [True, False, False, False]})
    states = synthetic.states_for(pd.concat([sensors_df["id"], cameras_df["id"]]), seed=4)
    active = alarms.fold([("1-0", {"episode": "x", "event": "raise", "level": "red",
                                   "lon": "110.9", "lat": "21.9",
                                   "town_code": demo_city.towns["code"].iloc[0]})])
    res = resources.demo_resources(demo_city)
    return {"data": compose.MapData(demo_city, sensors_df, cameras_df, states, inc, active, res),
            "stress": compose.MapData(demo_city, sensors_df,
                                      synthetic.cameras_frame(demo_city, 26907), states, inc,
                                      active, res)}


def _view(city) -> compose.View:
    center, zoom = basemap.fit_view(city.boundary.bounds, 1000, 800)
    return compose.View(center, zoom)


def test_layer_keys_keep_the_recorded_order():
    # layers added since keep their own place; the recorded ones keep theirs
    assert set(RECORDED_KEYS) <= set(LAYER_KEYS)
    assert [k for k in LAYER_KEYS if k in RECORDED_KEYS] == list(RECORDED_KEYS)


@pytest.mark.parametrize("code", list(RECORDED))
def test_every_theme_draws_what_it_drew_before_the_registry(frames, code):
    theme = THEMES[code]
    view = _view(frames["data"].city)
    mf = compose.compose(frames["data"], theme, view)
    want = RECORDED[code][0].split()
    assert mf.layers == want
    metas = [t.get("meta") for t in mf.figure["data"]]
    assert metas == [m for k in want for m in METAS[k]] + ["highlight"]
    assert mf.index == {m: i for i, m in enumerate(metas)}
    assert [lg.title.split(" ")[0] for lg in mf.legends] == [LEGENDS[k] for k in want
                                                             if k in LEGENDS]
    assert [m["type"] for m in mf.figure["layout"]["map"]["layers"]] == \
        [t for k in want for t in MAP_LAYERS.get(k, ())]
    stress = compose.compose(frames["stress"], theme, view)
    assert stress.layers == RECORDED[code][1].split()


def test_compose_knows_no_layer_by_name():
    """The chain is gone: compose draws what the registry discovered, in order."""
    import inspect  # noqa: PLC0415

    from layers import registry  # noqa: PLC0415

    src = inspect.getsource(compose)
    for key in RECORDED_KEYS:
        if key not in ("sensors", "cameras"):   # theme_devices: which devices a theme shows
            assert f'"{key}"' not in src, key
    assert tuple(s.key for s in registry.specs()) == LAYER_KEYS
    orders = [s.order for s in registry.specs()]
    assert orders == sorted(orders) and len(set(LAYER_KEYS)) == len(LAYER_KEYS)


def test_a_module_that_declares_a_layer_is_drawn_and_joins_its_themes(frames, tmp_path,
                                                                      monkeypatch):
    """Discovery over the package's path: a new module with ``LAYER`` (declaring a theme) is in
    the registry, its theme shows it at its order, and a theme that does not declare it does not."""
    import dataclasses  # noqa: PLC0415
    import sys  # noqa: PLC0415

    import layers  # noqa: PLC0415
    from layers import registry, themes  # noqa: PLC0415

    (tmp_path / "probe_marks.py").write_text(
        "from layers.legend import Layer\n"
        "from layers.registry import LayerSpec\n"
        "from layers.trace import scattermap\n"
        "def build(data, theme, view, ctx):\n"
        "    return Layer('probe', '探针', [scattermap(lon=[], lat=[], meta='probe')])\n"
        "LAYER = LayerSpec('probe', 95, build, themes=('ecology',))\n", encoding="utf-8")
    monkeypatch.setattr(layers, "__path__", [*layers.__path__, str(tmp_path)])
    monkeypatch.delitem(sys.modules, "layers.probe_marks", raising=False)
    found = registry.discover()
    assert [s.key for s in found if s.key == "probe"] == ["probe"]
    monkeypatch.setattr(registry, "specs", lambda: found)
    monkeypatch.setattr(compose, "specs", lambda: found)
    eco = themes._with_declared(dataclasses.replace(THEMES["ecology"], layers=("city", "towns",
                                                                               "incidents")))
    assert eco.layers == ("city", "towns", "incidents", "probe")
    mf = compose.compose(frames["data"], eco, _view(frames["data"].city))
    assert mf.layers == ["city", "towns", "emergency_areas", "probe", "response_moves", "incidents",
                         "situation"]                                   # 90 < 95 < 96 < 100
    other = compose.compose(frames["data"], THEMES["livelihood"], _view(frames["data"].city))
    assert "probe" not in other.layers
    sys.modules.pop("layers.probe_marks", None)


def test_two_layers_with_one_key_are_refused(tmp_path, monkeypatch):
    import sys  # noqa: PLC0415

    import layers  # noqa: PLC0415
    from layers import registry  # noqa: PLC0415

    (tmp_path / "probe_twin.py").write_text(
        "from layers.registry import LayerSpec\n"
        "LAYER = LayerSpec('towns', 61, lambda *a: None)\n", encoding="utf-8")
    monkeypatch.setattr(layers, "__path__", [*layers.__path__, str(tmp_path)])
    monkeypatch.delitem(sys.modules, "layers.probe_twin", raising=False)
    with pytest.raises(ValueError, match="towns"):
        registry.discover()
    sys.modules.pop("layers.probe_twin", None)
