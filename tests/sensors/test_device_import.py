"""`onemap devices import` (设备台账导入, issue 18): CSV, GeoJSON, GeoPackage; every refusal names
the row and the field, never a traceback, nothing half-imported."""

from __future__ import annotations

import json
import shutil

import geopandas as gpd
import pytest
from click.testing import CliRunner
from shapely.geometry import Point

from app.cli import main
from sensors.device_import import DeviceImportError
from sensors.registry import import_devices, load_or_create, merge_devices


@pytest.fixture
def city_dir(demo_city, demo_city_dir, registry, tmp_path):
    """A private copy of the demo city with its devices (the CLI writes the registry)."""
    d = tmp_path / "高州市"
    shutil.copytree(demo_city_dir, d)
    return d


def _inside(city, k: int) -> tuple[float, float]:
    p = city.cells.geometry.iloc[k].representative_point()
    return round(p.x, 6), round(p.y, 6)


def _run(city_dir, *args: str):
    res = CliRunner().invoke(main, ["devices", "import", *args],
                             env={"ONEMAP_CITY_DIR": str(city_dir)})
    assert "Traceback" not in res.output and not isinstance(res.exception, KeyError | TypeError)
    return res


def test_good_files_import_and_replace_by_id(demo_city, city_dir, tmp_path):
    (x1, y1), (x2, y2) = _inside(demo_city, 3), _inside(demo_city, 40)
    csv = tmp_path / "s.csv"
    csv.write_text(f"id,type,name,lon,lat\nimp-0001,gas,燃气一,{x1},{y1}\nimp-0002,water_level,,{x2},{y2}\n",
                   encoding="utf-8")
    res = _run(city_dir, str(csv))
    assert res.exit_code == 0 and "2 sensors (2 new, 0 replaced)" in res.output, res.output
    reg = load_or_create(demo_city, city_dir)
    row = reg.sensor("imp-0002")
    assert row["cell_code"] == demo_city.cells["code"].iloc[40] and row["interval_s"] > 0
    # GeoJSON whose features carry their own numeric ids (RFC 7946 §3.2): no KeyError 'id'
    gj = tmp_path / "s.geojson"
    gj.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "id": 9001, "properties": {"type": "gas"},
         "geometry": {"type": "Point", "coordinates": [x1, y1]}}]}), encoding="utf-8")
    assert import_devices(gj, demo_city)["id"].tolist() == ["9001"]
    res = _run(city_dir, str(csv))
    assert res.exit_code == 0 and "(0 new, 2 replaced)" in res.output, res.output
    # cameras from a GeoPackage
    gpkg = tmp_path / "c.gpkg"
    gpd.GeoDataFrame({"id": ["cam-imp-1"], "cls": [1], "owner": ["public"]},
                     geometry=[Point(x2, y2)], crs="EPSG:4326").to_file(gpkg, driver="GPKG")
    cams = import_devices(gpkg, demo_city, cameras=True)
    reg, added, updated = merge_devices(load_or_create(demo_city, city_dir), cams, cameras=True)
    assert (added, updated) == (1, 0) and reg.camera("cam-imp-1")["cls"] == 1


def test_bad_files_are_refused_by_row_and_field_and_nothing_is_written(demo_city, city_dir,
                                                                       tmp_path):
    x, y = _inside(demo_city, 5)
    before = len(load_or_create(demo_city, city_dir).sensors)
    cases = {
        "rows.csv": (f"id,type,lon,lat\nok-1,gas,{x},{y}\nok-2,gas,abc,{y}\nok-3,radon,{x},{y}\n"
                     f"ok-1,gas,{x},{y}\n,gas,{x},{y}\n",
                     ["第 2 行 / row 2, 字段 / field 'lon'", "第 3 行 / row 3, 字段 / field 'type'",
                      "row 4, 字段 / field 'id': 重复", "row 5, 字段 / field 'id'"]),
        "outside.csv": ("id,type,lon,lat\nfar-1,gas,0.0,0.0\n", ["row 1", "outside"]),
        "header.csv": ("id,type,lon,lat\n", ["no devices"]),
        "nolonlat.csv": ("id,type,x,y\na,gas,1,2\n", ["lon and lat"]),
        "empty.geojson": (json.dumps({"type": "FeatureCollection", "features": []}),
                          ["no devices"]),
        "garbage.geojson": ("{not geojson", ["cannot read"]),
        "poly.geojson": (json.dumps({"type": "FeatureCollection", "features": [
            {"type": "Feature", "properties": {"id": "p-1", "type": "gas"}, "geometry": {
                "type": "Polygon", "coordinates": [[[x, y], [x + .001, y], [x, y + .001], [x, y]]]}}]}),
            ["row 1", "'geometry'", "Polygon"]),
    }
    for name, (text, wants) in cases.items():
        p = tmp_path / name
        p.write_text(text, encoding="utf-8")
        with pytest.raises(DeviceImportError) as e:
            import_devices(p, demo_city)
        for w in wants:
            assert w in str(e.value), (name, w, str(e.value))
    res = _run(city_dir, str(tmp_path / "rows.csv"))    # the CLI says the same, exit 1
    assert res.exit_code == 1 and "nothing written" in res.output, res.output
    assert all(w in res.output for w in cases["rows.csv"][1]), res.output
    cams = tmp_path / "cams.csv"
    cams.write_text(f"id,cls,lon,lat\ncam-x,7,{x},{y}\n", encoding="utf-8")
    with pytest.raises(DeviceImportError) as e:
        import_devices(cams, demo_city, cameras=True)
    assert e.value.problems[0][:2] == (1, "cls")
    assert len(load_or_create(demo_city, city_dir).sensors) == before
