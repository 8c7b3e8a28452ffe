"""The nearest-camera fallback (issue 15): when no camera can see the spot, the nearest ones,
said to be so (``cameras_for`` → seeing False)."""

from __future__ import annotations

from sensors.cameras import cameras_for, cameras_nearest
from tests.sensors.test_cameras import LAT, LON, _cam, _registry


def test_nearest_cameras_when_none_can_see_the_spot():
    reg = _registry([
        _cam("looks-away-near", 0, -50, 180),           # 50 m south, looking south: cannot see
        _cam("looks-away-far", 300, 0, 90),             # 300 m east, looking east
        _cam("too-far", 0, 5000, 0),
    ])
    cams, seeing = cameras_for(reg, LON, LAT, radius_m=300)
    assert seeing is False
    assert [c["id"] for c in cams] == ["looks-away-near", "looks-away-far"]
    assert abs(cams[0]["distance_m"] - 50) < 2 and abs(cams[0]["bearing_deg"] - 0) < 2
    assert cameras_nearest(reg, LON, LAT, radius_m=100) == cams[:1]


def test_cameras_that_see_it_win_over_nearer_ones():
    reg = _registry([_cam("looks-away-near", 0, -20, 180), _cam("sees-it", 0, -120, 0)])
    cams, seeing = cameras_for(reg, LON, LAT, radius_m=300)
    assert seeing is True and [c["id"] for c in cams] == ["sees-it"]
