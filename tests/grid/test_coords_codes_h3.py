"""WGS-84⇄GCJ-02 (round trip within 1 m), the 15-digit grid codes, H3 aggregation helpers."""

from __future__ import annotations

import h3
import numpy as np
import pytest

from grid import codes
from grid.coords import gcj02_to_wgs84, out_of_china, wgs84_to_gcj02
from grid.h3index import h3_counts, h3_to_geojson, point_to_h3, points_to_h3


def _metres(lon1, lat1, lon2, lat2):  # noqa: ANN001, ANN202
    k = 111_320.0
    return np.hypot((lon1 - lon2) * k * np.cos(np.radians(lat1)), (lat1 - lat2) * k)


def test_gcj02_published_vectors():
    # values published with wandergis/coordtransform and eviltransform's test suites
    assert wgs84_to_gcj02(116.404, 39.915) == pytest.approx((116.41024449916938, 39.91640428150164),
                                                            abs=1e-12)
    assert wgs84_to_gcj02(113.912316, 22.543847) == pytest.approx((113.9171764808363,
                                                                   22.540796131694766), abs=1e-9)


def test_gcj02_round_trip_within_1m_over_gaozhou_and_china():
    rng = np.random.default_rng(0)
    lons = np.concatenate([rng.uniform(110.6, 111.4, 50_000), rng.uniform(75, 135, 50_000)])
    lats = np.concatenate([rng.uniform(21.7, 22.4, 50_000), rng.uniform(18, 53, 50_000)])
    glon, glat = wgs84_to_gcj02(lons, lats)
    shift = _metres(lons, lats, glon, glat)
    assert shift[:50_000].min() > 100                  # the offset is real in Gaozhou...
    blon, blat = gcj02_to_wgs84(glon, glat)
    assert _metres(lons, lats, blon, blat).max() < 1.0  # ...and undone to well within 1 m


def test_gcj02_is_noop_outside_china():
    assert out_of_china(2.35, 48.85) and not out_of_china(110.9, 21.9)
    assert wgs84_to_gcj02(2.35, 48.85) == (2.35, 48.85)
    assert gcj02_to_wgs84(-74.0, 40.7) == (-74.0, 40.7)


def test_codes_build_and_parse():
    t = codes.town_code("440981", 101)
    v = codes.village_code(t, 7)
    c = codes.cell_code(v, 3)
    assert (t, v, c) == ("440981101", "440981101007", "440981101007003")
    assert codes.parse_cell_code(c) == codes.CellCode("440981", t, v, c)
    assert codes.worker_id(c) == "W440981101007003"
    assert codes.level_of(v) == "village" and codes.parent_code(c) == v
    assert codes.parent_code("440981") is None and codes.level_of("44098x") is None
    with pytest.raises(ValueError, match="out of range"):
        codes.cell_code(v, 1000)


@pytest.mark.parametrize(("code", "level", "parent", "message"), [
    (None, "cell", None, "missing cell code"),
    ("", "town", None, "missing town code"),
    ("44098110100A003", "cell", None, "not all digits"),
    ("4409811010070031", "cell", None, "has 16 digits, expected 15"),
    ("440981101007000", "cell", None, "ends in 000"),
    ("440981102007003", "cell", "440981101007", "does not start with its parent's code"),
])
def test_code_problems(code, level, parent, message):  # noqa: ANN001
    assert message in codes.code_problem(code, level, parent)
    assert not codes.is_code(code, level) or parent is not None


def test_demo_city_codes_are_valid(demo_city):
    assert all(codes.code_problem(c, "cell", v) is None
               for c, v in zip(demo_city.cells["code"], demo_city.cells["village_code"], strict=True))


def test_points_to_h3_matches_h3_and_skips_nan():
    rng = np.random.default_rng(3)
    lons, lats = rng.uniform(110.6, 111.3, 2000), rng.uniform(21.7, 22.3, 2000)
    lons[5] = np.nan
    ids = points_to_h3(lons, lats, 9)
    assert ids[5] == ""
    ok = [i for i in range(2000) if i != 5]
    assert all(ids[i] == h3.latlng_to_cell(lats[i], lons[i], 9) for i in ok)
    assert point_to_h3(lons[0], lats[0], 9) == ids[0]
    counts = h3_counts(lons, lats, 7)
    assert sum(counts.values()) == 1999
    fc = h3_to_geojson(counts, counts)
    assert len(fc["features"]) == len(counts)
    ring = fc["features"][0]["geometry"]["coordinates"][0]
    assert ring[0] == ring[-1] and 110 < ring[0][0] < 112   # lon first
    with pytest.raises(ValueError, match="resolution"):
        points_to_h3(lons, lats, 12)
