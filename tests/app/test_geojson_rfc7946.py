"""GeoJSON RFC 7946 everywhere (issue 18): every export of the API and the CLI passes an RFC 7946
validator (python-geojson's validation plus mapbox geojsonhint's rules as assertions: right-hand
rule, closed rings of ≥ 4 positions, no ``crs``, stated precision), and `onemap city import` takes
the API's own polygon export back (shared edges simplified together: no overlaps)."""

from __future__ import annotations

import json

import geojson
import shapely
from click.testing import CliRunner
from shapely.geometry import shape

from app.cli import main
from grid.io import PRECISION
from tests.app.authkit import login


def _decimals(v: float) -> int:
    s = repr(float(v))
    return len(s.split(".")[1]) if "." in s and "e" not in s else 0


def _ring_ok(ring: list, exterior: bool, where: str) -> None:
    assert len(ring) >= 4 and ring[0] == ring[-1], f"{where}: ring not closed / < 4 positions"
    ccw = shapely.LinearRing(ring).is_ccw
    assert ccw == exterior, f"{where}: {'exterior not counter-clockwise' if exterior else 'hole not clockwise'}"


def _positions(coords: object):
    if coords and isinstance(coords[0], int | float):
        yield coords
    else:
        for c in coords:
            yield from _positions(c)


def assert_rfc7946(fc: dict, what: str, precision: int = PRECISION) -> None:
    """geojsonhint's rules plus python-geojson's validity for a FeatureCollection."""
    assert fc["type"] == "FeatureCollection" and isinstance(fc["features"], list)
    assert "crs" not in fc, f"{what}: crs member (RFC 7946 §4)"
    obj = geojson.loads(json.dumps(fc))
    assert obj.is_valid, (what, obj.errors())
    for i, f in enumerate(fc["features"]):
        where = f"{what} #{i}"
        assert f["type"] == "Feature" and "properties" in f and "geometry" in f, where
        assert "crs" not in f and "crs" not in (f["geometry"] or {}), where
        assert isinstance(f.get("id", ""), str | int | float), where
        g = f["geometry"]
        for pos in _positions(g["coordinates"]):
            assert len(pos) in (2, 3) and -180 <= pos[0] <= 180 and -90 <= pos[1] <= 90, where
            assert max(_decimals(pos[0]), _decimals(pos[1])) <= precision, (where, pos)
        polys = {"Polygon": [g["coordinates"]], "MultiPolygon": g["coordinates"]}.get(g["type"], [])
        for poly in polys:
            for k, ring in enumerate(poly):
                _ring_ok(ring, k == 0, where)
        if polys:
            assert shape(g).is_valid, where


def test_api_and_cli_exports_are_rfc7946_and_the_api_export_reimports(web, app_ctx, tmp_path):
    c = web.test_client()
    login(c, "ops")
    src = tmp_path / "api"
    src.mkdir()
    for layer in ("towns", "villages", "cells", "incidents", "sensors", "cameras"):
        r = c.get(f"/api/geojson/{layer}")
        assert r.status_code == 200, (layer, r.status_code)
        assert_rfc7946(r.json, f"api {layer}")
        if layer in ("towns", "villages", "cells"):
            assert len(r.json["features"]) == len(getattr(app_ctx.city, layer))
            (src / f"{layer}.geojson").write_text(json.dumps(r.json), encoding="utf-8")
    runner = CliRunner()
    out = tmp_path / "reimported" / "高州市"
    res = runner.invoke(main, ["city", "import", "--towns", str(src / "towns.geojson"),
                               "--villages", str(src / "villages.geojson"),
                               "--cells", str(src / "cells.geojson"), "--out", str(out)])
    assert res.exit_code == 0, res.output   # no overlap, no gap, hierarchy intact
    assert "overlap" not in res.output
    # the CLI's export: the same path, the same rules
    res = runner.invoke(main, ["city", "export", str(out), "--out", str(tmp_path / "cli")])
    assert res.exit_code == 0, res.output
    for layer in ("towns", "villages", "cells", "boundary"):
        fc = json.loads((tmp_path / "cli" / f"{layer}.geojson").read_text(encoding="utf-8"))
        assert_rfc7946(fc, f"cli {layer}")


def test_the_validator_catches_what_rfc7946_forbids():
    """The assertions above can fail: a clockwise exterior, a crs member, too many decimals."""
    cw = {"type": "Feature", "properties": {}, "geometry": {
        "type": "Polygon", "coordinates": [[[0, 0], [0, 1], [1, 1], [1, 0], [0, 0]]]}}
    for fc, why in [({"type": "FeatureCollection", "features": [cw]}, "counter-clockwise"),
                    ({"type": "FeatureCollection", "features": [], "crs": {}}, "crs"),
                    ({"type": "FeatureCollection", "features": [{
                        "type": "Feature", "properties": {}, "geometry": {
                            "type": "Point", "coordinates": [110.1234567, 21.9]}}]}, "110.1234567")]:
        try:
            assert_rfc7946(fc, "bad")
        except AssertionError as e:
            assert why in str(e), (why, str(e))
        else:
            raise AssertionError(f"not caught: {why}")
