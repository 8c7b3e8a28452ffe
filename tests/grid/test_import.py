"""``onemap city import``: a valid file is accepted; each kind of bad file is refused with its message.

Small territories are generated in tmp_path: 2 towns × 2 villages × 2 grid cells, 1 km squares in
UTM 49N (EPSG:32649, near Gaozhou), so the import also reprojects to WGS-84.
"""

from __future__ import annotations

import re
from pathlib import Path

import geopandas as gpd
import pytest
from click.testing import CliRunner
from shapely.geometry import Polygon, box

from app.cli import main
from grid.io import load_city

X0, Y0 = 480_000.0, 2_420_000.0


def _layers() -> dict[str, gpd.GeoDataFrame]:
    towns, villages, cells = [], [], []
    for t in range(2):
        tcode = f"440981{101 + t}"
        towns.append({"code": tcode, "name": f"测试{t + 1}镇",
                      "geometry": box(X0 + 2000 * t, Y0, X0 + 2000 * (t + 1), Y0 + 2000)})
        for v in range(2):
            vcode = f"{tcode}{v + 1:03d}"
            x0 = X0 + 2000 * t + 1000 * v
            villages.append({"code": vcode, "name": f"测试{t + 1}{v + 1}村", "town_code": tcode,
                             "geometry": box(x0, Y0, x0 + 1000, Y0 + 2000)})
            for c in range(2):
                cells.append({"code": f"{vcode}{c + 1:03d}", "village_code": vcode,
                              "name": f"第{c + 1}网格",
                              "geometry": box(x0, Y0 + 1000 * c, x0 + 1000, Y0 + 1000 * (c + 1))})
    return {k: gpd.GeoDataFrame(v, crs="EPSG:32649")
            for k, v in (("towns", towns), ("villages", villages), ("cells", cells))}


def _write(tmp_path: Path, layers: dict[str, gpd.GeoDataFrame], ext: str = "gpkg") -> list[str]:
    args = []
    for name, gdf in layers.items():
        path = tmp_path / f"{name}.{ext}"
        gdf.to_file(path)
        args += [f"--{name}", str(path)]
    return args


def _import(tmp_path: Path, args: list[str], *extra: str):  # noqa: ANN202
    out = tmp_path / "out" / "测试市"
    res = CliRunner().invoke(main, ["city", "import", *args, "--out", str(out), *extra])
    text = res.output + (res.stderr if res.stderr_bytes is not None else "")
    return res, text, out


@pytest.mark.parametrize("ext", ["gpkg", "shp", "geojson"])
def test_valid_import_reprojects_and_loads(tmp_path, ext):
    res, text, out = _import(tmp_path, _write(tmp_path, _layers(), ext))
    assert res.exit_code == 0, text
    assert "imported 测试市 (440981): 2 towns/streets, 4 villages/communities, 8 grid cells" in text
    city = load_city(out)
    assert city.cells.crs.to_epsg() == 4326
    assert 110 < city.cells.total_bounds[0] < 112 and 21 < city.cells.total_bounds[1] < 23
    assert list(city.cells["worker_id"]) == [f"W{c}" for c in city.cells["code"]]
    p = city.cells.geometry.iloc[5].representative_point()
    loc = city.locate(p.x, p.y)
    assert loc.cell_code == city.cells["code"].iloc[5] and loc.town_code == "440981102"


def test_field_mapping_and_crs_option(tmp_path):
    layers = _layers()
    layers["cells"] = layers["cells"].rename(columns={"code": "WGBM", "village_code": "CJBM"})
    layers["villages"] = layers["villages"].rename(columns={"name": "CMC"})
    args = _write(tmp_path, layers, "shp")
    (tmp_path / "towns.prj").unlink()           # no CRS in this file: --crs supplies it
    res, text, out = _import(tmp_path, args, "--code-field", "cells=WGBM", "--parent-field",
                             "cells=CJBM", "--name-field", "villages=CMC", "--crs", "EPSG:32649")
    assert res.exit_code == 0, text
    assert load_city(out).villages["name"].iloc[0] == "测试11村"


def _bowtie(g: Polygon) -> Polygon:
    x0, y0, x1, y1 = g.bounds
    return Polygon([(x0, y0), (x1, y1), (x1, y0), (x0, y1)])


def _set(layer: str, i: int, col: str, value):  # noqa: ANN001, ANN202
    def f(layers):  # noqa: ANN001, ANN202
        gdf = layers[layer]
        if col == "geometry":
            geoms = list(gdf.geometry)
            geoms[i] = value(geoms[i]) if callable(value) else value
            layers[layer] = gdf.set_geometry(gpd.GeoSeries(geoms, crs=gdf.crs))
        else:
            gdf[col] = gdf[col].astype(object)
            gdf.loc[gdf.index[i], col] = value
        return layers
    return f


def _add_cell(geom: Polygon, code: str, village: str):  # noqa: ANN202
    def f(layers):  # noqa: ANN001, ANN202
        extra = gpd.GeoDataFrame([{"code": code, "village_code": village, "name": "多余网格",
                                   "geometry": geom}], crs="EPSG:32649")
        layers["cells"] = gpd.GeoDataFrame(
            gpd.pd.concat([layers["cells"], extra], ignore_index=True), crs="EPSG:32649")
        return layers
    return f


BAD = {
    "invalid geometry": (_set("cells", 0, "geometry", _bowtie),
                         r"cells #1 \(code 440981101001001, name 第1网格\): invalid geometry: "
                         r"Self-intersection"),
    "missing geometry": (_set("villages", 1, "geometry", None),
                         r"villages #2 \(code 440981101002, name 测试12村\): (missing|empty) geometry"),
    "overlap": (_set("cells", 0, "geometry", box(X0, Y0, X0 + 1000, Y0 + 1100)),
                r"cells #1 \(code 440981101001001.*\): overlaps cells #2 \(code 440981101001002.*\) "
                r"by 100000 m²"),
    "gap": (_set("cells", 0, "geometry", box(X0, Y0, X0 + 1000, Y0 + 900)),
            r"villages #1 \(code 440981101001.*\): 100000 m² not covered by any grid cell"),
    "cell in no village": (_add_cell(box(X0 + 9000, Y0 + 9000, X0 + 9500, Y0 + 9500),
                                     "440981101001003", "440981101001"),
                           r"cells #9 \(code 440981101001003.*\): lies in no village"),
    "cell in two villages": (_add_cell(box(X0 + 500, Y0 + 200, X0 + 1500, Y0 + 400),
                                       "440981101001003", "440981101001"),
                             r"cells #9 \(code 440981101001003.*\): lies in 2 villages: "
                             r"villages #1 \(code 440981101001.*\) \(100000 m²\), "
                             r"villages #2 \(code 440981101002.*\) \(100000 m²\)"),
    "town gap": (_set("towns", 0, "geometry",
                      box(X0, Y0, X0 + 2000, Y0 + 2000).difference(box(X0 + 100, Y0 + 100,
                                                                        X0 + 300, Y0 + 300))),
                 r"gap of 40000 m² between towns around"),
    "missing name": (_set("villages", 2, "name", None),
                     r"villages #3 \(code 440981102001\): missing name"),
    "missing code": (_set("cells", 3, "code", None),
                     r"cells #4 \(name 第2网格\): missing cell code"),
    "malformed code": (_set("cells", 3, "code", "44098110100"),
                       r"cells #4 .*: cell code '44098110100' has 11 digits, expected 15"),
    "duplicate code": (_set("cells", 1, "code", "440981101001001"),
                       r"cells #2 .*: duplicate code 440981101001001 \(also cells #1"),
    "unknown parent": (_set("cells", 2, "village_code", "440981101009"),
                       r"cells #3 .*: cell code '440981101002001' does not start with its "
                       r"parent's code '440981101009'"),
    "parent not in file": (lambda layers: _set("villages", 3, "town_code", "440981109")(
                               _set("villages", 3, "code", "440981109002")(layers)),
                           r"villages #4 \(code 440981109002.*\): town code 440981109 is not in "
                           r"the towns file"),
}


@pytest.mark.parametrize("kind", list(BAD))
def test_bad_file_is_refused_with_its_message(tmp_path, kind):
    mutate, pattern = BAD[kind]
    res, text, out = _import(tmp_path, _write(tmp_path, mutate(_layers())))
    assert res.exit_code == 1, text
    assert "nothing was imported" in text
    assert re.search(pattern, text), text
    assert not out.exists() and not any(out.parent.iterdir()) if out.parent.exists() else True


def test_file_without_crs_is_refused(tmp_path):
    args = _write(tmp_path, _layers(), "shp")
    (tmp_path / "cells.prj").unlink()
    res, text, out = _import(tmp_path, args)
    assert res.exit_code == 1
    assert re.search(r"cells\.shp: unknown CRS: the file declares no coordinate reference system", text)
    assert not out.exists()


def test_unknown_crs_option_is_refused(tmp_path):
    res, text, out = _import(tmp_path, _write(tmp_path, _layers()), "--crs", "EPSG:999999")
    assert res.exit_code == 1
    assert "--crs EPSG:999999: unknown CRS" in text and not out.exists()


def test_missing_field_names_the_option(tmp_path):
    layers = _layers()
    layers["towns"] = layers["towns"].rename(columns={"name": "XZMC"})
    res, text, _ = _import(tmp_path, _write(tmp_path, layers))
    assert res.exit_code == 1
    assert "no field 'name' for the name" in text and "--name-field towns=FIELD" in text


def test_refused_import_keeps_the_previous_city(tmp_path):
    args = _write(tmp_path, _layers())
    res, _, out = _import(tmp_path, args)
    assert res.exit_code == 0
    before = sorted(p.name for p in out.iterdir())
    bad = tmp_path / "bad"
    bad.mkdir()
    res, _, _ = _import(tmp_path, _write(bad, _set("cells", 0, "geometry", _bowtie)(_layers())))
    assert res.exit_code == 1
    assert sorted(p.name for p in out.iterdir()) == before
    assert len(load_city(out).cells) == 8


def test_city_build_command(tmp_path):
    res = CliRunner().invoke(main, ["city", "build", "高州市", "--out", str(tmp_path / "gz")])
    assert res.exit_code == 0, res.output
    assert "28 towns/streets, 480 villages/communities, 1440 grid cells" in res.output
    assert load_city(tmp_path / "gz").admin_code == "440981"
    res = CliRunner().invoke(main, ["city", "build", "没有这个县", "--out", str(tmp_path / "x")])
    assert res.exit_code != 0 and "没有这个县" in res.output


def test_export_then_reimport_round_trip(tmp_path, demo_city_dir):
    """`city export` writes GeoJSON that `city import` accepts again (same codes)."""
    res = CliRunner().invoke(main, ["city", "export", str(demo_city_dir), "--out", str(tmp_path / "x")])
    assert res.exit_code == 0, res.output
    x = tmp_path / "x"
    res, text, out = _import(tmp_path, ["--towns", str(x / "towns.geojson"), "--villages",
                                        str(x / "villages.geojson"), "--cells", str(x / "cells.geojson")])
    assert res.exit_code == 0, text
    assert list(load_city(out).cells["code"]) == list(load_city(demo_city_dir).cells["code"])


def test_rounding_slivers_are_tolerated_but_a_real_overlap_is_not(tmp_path, demo_city):
    """6-decimal GeoJSON (~0.1 m) opens km-long cm-wide slivers: noise, not errors (width rule)."""
    import json  # noqa: PLC0415

    from grid.io import to_geojson  # noqa: PLC0415

    args = []
    for layer in ("towns", "villages", "cells"):
        gdf = getattr(demo_city, layer)
        (tmp_path / f"{layer}.geojson").write_text(json.dumps(to_geojson(gdf)), encoding="utf-8")
        args += [f"--{layer}", str(tmp_path / f"{layer}.geojson")]
    res, text, _ = _import(tmp_path, args)
    assert res.exit_code == 0, text
    cells = demo_city.cells.copy()
    g0 = cells.geometry.iloc[0]
    cells.loc[cells.index[0], "geometry"] = g0.buffer(0.0002)   # ~20 m: grows into its neighbours
    (tmp_path / "cells.geojson").write_text(json.dumps(to_geojson(cells)), encoding="utf-8")
    res, text, _ = _import(tmp_path, args)
    assert res.exit_code == 1
    assert re.search(r"cells #1 \(code 440981001001001\): overlaps cells #\d+ .* by \d+ m²", text), text
