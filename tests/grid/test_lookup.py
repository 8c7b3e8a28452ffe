"""Point lookup (定位入格, G5): exact agreement with geopandas.sjoin; 辖区外 outside the city."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from grid.lookup import Locator
from grid.model import OutsideJurisdiction


def _sjoin_rows(cells: gpd.GeoDataFrame, lons: np.ndarray, lats: np.ndarray) -> np.ndarray:
    """Reference: row of the (lowest) cell that contains each point, -1 for none."""
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lons, lats), crs="EPSG:4326")
    j = gpd.sjoin(pts, cells[["geometry"]].reset_index(drop=True), predicate="within", how="inner")
    first = j.groupby(level=0)["index_right"].min()
    out = np.full(len(lons), -1, dtype=np.int64)
    out[first.index.to_numpy()] = first.to_numpy()
    return out


def test_bulk_lookup_agrees_with_sjoin_on_100k_random_points(demo_city):
    rng = np.random.default_rng(7)
    x0, y0, x1, y1 = demo_city.cells.total_bounds
    lons = rng.uniform(x0 - 0.02, x1 + 0.02, 100_000)
    lats = rng.uniform(y0 - 0.02, y1 + 0.02, 100_000)
    got = demo_city.locate_many(lons, lats)
    ref = _sjoin_rows(demo_city.cells, lons, lats)
    assert (ref >= 0).sum() > 40_000 and (ref < 0).sum() > 20_000   # both kinds are exercised
    assert np.array_equal(got, ref), f"{(got != ref).sum()} points disagree with sjoin"


def test_single_lookup_agrees_with_bulk(demo_city):
    rng = np.random.default_rng(8)
    x0, y0, x1, y1 = demo_city.cells.total_bounds
    lons, lats = rng.uniform(x0, x1, 5000), rng.uniform(y0, y1, 5000)
    bulk = demo_city.locate_many(lons, lats)
    single = np.array([demo_city._locator.locate_one(a, b) for a, b in zip(lons, lats, strict=True)])
    assert np.array_equal(bulk, single)


def test_points_near_cell_edges_agree_with_sjoin(demo_city):
    """The hard part: points within metres of shared edges and of the county boundary."""
    rng = np.random.default_rng(9)
    edges = shapely.get_coordinates(shapely.boundary(demo_city.cells.geometry.values))
    pick = edges[rng.integers(0, len(edges), 30_000)]
    jitter = rng.normal(0, 2e-5, pick.shape)   # ~2 m
    lons, lats = pick[:, 0] + jitter[:, 0], pick[:, 1] + jitter[:, 1]
    assert np.array_equal(demo_city.locate_many(lons, lats),
                          _sjoin_rows(demo_city.cells, lons, lats))


def test_locate_returns_the_whole_chain(demo_city):
    cell = demo_city.cells.iloc[100]
    p = cell.geometry.representative_point()
    loc = demo_city.locate(p.x, p.y)
    assert loc.cell_code == cell["code"]
    assert loc.village_code == cell["village_code"] and loc.town_code == cell["town_code"]
    assert loc.worker_id == f"W{cell['code']}"
    assert loc.town_center == f"T{cell['town_code']}" and loc.town_center in demo_city.centers


def test_outside_jurisdiction(demo_city):
    with pytest.raises(OutsideJurisdiction, match=r"outside the jurisdiction of 高州市 \(辖区外\)"):
        demo_city.locate(113.264, 23.129)   # Guangzhou
    assert demo_city.try_locate(113.264, 23.129) is None
    assert demo_city.try_locate(float("nan"), 21.9) is None
    got = demo_city.locate_many(np.array([113.264, np.nan, -200.0]), np.array([23.129, 21.9, 95.0]))
    assert got.tolist() == [-1, -1, -1]


def test_locator_on_overlapping_and_holed_cells():
    """Imported data may overlap (validation warns within tolerance): lowest row wins, like sjoin."""
    a = shapely.box(0, 0, 0.01, 0.01)
    b = shapely.box(0.005, 0, 0.015, 0.01)                 # overlaps a
    c = shapely.box(0.02, 0, 0.03, 0.01).difference(shapely.box(0.024, 0.004, 0.026, 0.006))  # hole
    d = shapely.box(0.0245, 0.0045, 0.0255, 0.0055)        # island in the hole
    inner = shapely.box(0.002, 0.002, 0.003, 0.003)         # wholly inside a, listed after it
    cells = gpd.GeoDataFrame(geometry=[b, a, c, d, inner], crs="EPSG:4326")
    loc = Locator(cells, pixel_m=5)
    rng = np.random.default_rng(1)
    lons, lats = rng.uniform(-0.001, 0.031, 50_000), rng.uniform(-0.001, 0.011, 50_000)
    assert np.array_equal(loc.locate_many(lons, lats), _sjoin_rows(cells, lons, lats))
    assert loc.locate_one(0.0075, 0.005) == 0
    assert loc.locate_one(0.0025, 0.0025) == 1
    assert loc.locate_one(0.025, 0.005) == 3
    assert loc.locate_one(0.0245 - 1e-5, 0.005) == -1


def test_empty_locator():
    loc = Locator(gpd.GeoDataFrame(geometry=[], crs="EPSG:4326"))
    assert loc.locate_one(110.0, 22.0) == -1
    assert loc.locate_many(np.array([110.0]), np.array([22.0])).tolist() == [-1]


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 60), pixel_m=st.floats(2.0, 400.0),
       aligned=st.booleans())
def test_locator_matches_sjoin_on_random_partitions(seed, n, pixel_m, aligned):
    """Property: any partition (Voronoi, or grid-aligned squares), any pixel size, points on
    vertices, on edge midpoints and at random: the raster index answers exactly like sjoin."""
    rng = np.random.default_rng(seed)
    region = shapely.box(110.8, 21.8, 110.9, 21.87)
    if aligned:
        k = max(1, int(np.sqrt(n)))
        xs, ys = np.linspace(110.8, 110.9, k + 1), np.linspace(21.8, 21.87, k + 1)
        geoms = [shapely.box(xs[i], ys[j], xs[i + 1], ys[j + 1]) for i in range(k) for j in range(k)]
    else:
        pts = rng.uniform((110.8, 21.8), (110.9, 21.87), (n, 2))
        vor = shapely.voronoi_polygons(shapely.multipoints(pts), extend_to=region, ordered=True)
        geoms = [region.intersection(v) for v in shapely.get_parts(vor)] if n > 1 else [region]
    cells = gpd.GeoDataFrame(geometry=geoms, crs="EPSG:4326")
    loc = Locator(cells, pixel_m=pixel_m)
    verts = shapely.get_coordinates(cells.geometry.values)
    mids = (verts[:-1] + verts[1:]) / 2
    rand = rng.uniform((110.79, 21.79), (110.91, 21.88), (5000, 2))
    xy = np.vstack([verts, mids, rand])
    got = loc.locate_many(xy[:, 0], xy[:, 1])
    assert np.array_equal(got, _sjoin_rows(cells, xy[:, 0], xy[:, 1]))
    assert [loc.locate_one(x, y) for x, y in xy[:300]] == got[:300].tolist()
