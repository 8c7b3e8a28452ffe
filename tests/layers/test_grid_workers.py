"""网格员 layer (layers/grid_workers.py): added by the map-layer recipe as one module."""

from __future__ import annotations

import inspect

import numpy as np
import pandas as pd
import shapely

from layers import alarms, basemap, compose, grid_workers, themes
from layers.themes import THEMES


def _incidents(points, states, categories) -> pd.DataFrame:  # noqa: ANN001
    return pd.DataFrame({"id": [f"E{i}" for i in range(len(points))], "state": states,
                         "center": ["CITY"] * len(points), "category": categories,
                         "severity": ["一般"] * len(points),
                         "lon": [p.x for p in points], "lat": [p.y for p in points],
                         "overdue": [False] * len(points)})


def _trace(mf: compose.MapFigure) -> dict:
    return mf.figure["data"][mf.index["grid_workers:all"]]


def test_every_worker_once_inside_their_own_cell(demo_city):
    layer = grid_workers.grid_workers_layer(demo_city)
    (trace,) = layer.traces
    cells = demo_city.cells
    assert sorted(trace["customdata"]) == sorted(cells["worker_id"].astype(str))
    lon, lat = grid_workers.anchors(demo_city)
    by_worker = dict(zip(cells["worker_id"].astype(str), cells.geometry, strict=True))
    row = {w: i for i, w in enumerate(cells["worker_id"].astype(str))}
    for w in trace["customdata"][:50]:
        # 5-decimal rounding is ≈1 m: the anchor lies in (or on the edge of) the worker's cell
        assert by_worker[w].distance(shapely.Point(lon[row[w]], lat[row[w]])) < 2e-5
    assert set(trace["marker"]["color"]) == {grid_workers.QUIET_COLOR}
    assert layer.legend.title == f"网格员 {len(cells)} 名"


def test_a_worker_whose_cell_has_an_open_case_is_busy_and_on_top(demo_city):
    cells = demo_city.cells
    a, b, c = (cells.geometry.iloc[i].representative_point() for i in (3, 400, 900))
    inc = _incidents([a, a, b, c], ["reported", "dispatched", "closed", "in_progress"],
                     ["0101", "0101", "0101", "0401"])
    center, zoom = basemap.fit_view(demo_city.boundary.bounds, 1000, 800)
    data = compose.MapData(demo_city, pd.DataFrame(columns=["id", "type", "lon", "lat"]),
                           pd.DataFrame(columns=["id", "cls", "lon", "lat"]), {}, inc,
                           alarms.fold([]),
                           pd.DataFrame(columns=["id", "kind", "lon", "lat"]))
    mgmt = _trace(compose.compose(data, THEMES["city_mgmt"], compose.View(center, zoom)))
    # city_mgmt shows categories 01/12: cell 3's two open cases make its worker busy (once);
    # cell 400's case is closed, cell 900's is a 04 (city safety) case: not this theme's
    busy = [w for w, col in zip(mgmt["customdata"], mgmt["marker"]["color"], strict=True)
            if col == grid_workers.BUSY_COLOR]
    assert busy == [str(cells["worker_id"].iloc[3])]
    assert mgmt["customdata"][-1] == busy[0]                     # drawn last: never covered
    assert mgmt["marker"]["size"][-1] > mgmt["marker"]["size"][0]
    community = _trace(compose.compose(data, THEMES["community"], compose.View(center, zoom)))
    # 社区服务 shows 10/1004/12: none of these cases is its own, so no worker is busy there
    assert set(community["marker"]["color"]) == {grid_workers.QUIET_COLOR}
    assert grid_workers.open_per_cell(demo_city, inc).sum() == 4     # every located point counted
    assert np.count_nonzero(grid_workers.open_per_cell(demo_city, inc[:0])) == 0


def test_the_layer_joins_its_themes_from_its_own_module():
    shows = {code for code, t in THEMES.items() if grid_workers.KEY in t.layers}
    assert shows == {"city_mgmt", "community"} == set(grid_workers.LAYER.themes)
    assert f"\"{grid_workers.KEY}\"" not in inspect.getsource(themes)   # themes.py: not edited
    assert f"\"{grid_workers.KEY}\"" not in inspect.getsource(compose)
