"""Cameras that can see a point: inside the radius AND the field of view, nearest first."""

from __future__ import annotations

import math

import geopandas as gpd
import pandas as pd

from sensors.cameras import cameras_seeing
from sensors.registry import CAMERA_COLUMNS, DeviceRegistry

LON, LAT = 110.85, 21.92


def _cam(cid: str, east_m: float, north_m: float, heading: float, fov: float = 90.0,
         range_m: float = 300.0) -> dict:
    lon = LON + east_m / (111_320.0 * math.cos(math.radians(LAT)))
    lat = LAT + north_m / 110_540.0
    return {"id": cid, "name": cid, "cls": 1, "owner": "public", "site_type": "road",
            "heading_deg": heading, "fov_deg": fov, "range_m": range_m, "share": "",
            "stream_url": "", "mobile": False, "lon": lon, "lat": lat, "cell_code": "c",
            "town_code": "t"}


def _registry(rows: list[dict]) -> DeviceRegistry:
    df = pd.DataFrame(rows, columns=list(CAMERA_COLUMNS))
    cams = gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(df["lon"], df["lat"]), crs="EPSG:4326")
    return DeviceRegistry(gpd.GeoDataFrame(), cams)


def test_radius_field_of_view_and_order():
    reg = _registry([
        _cam("cam-south-looking-north", 0, -100, 0),        # sees the point, 100 m
        _cam("cam-south-looking-east", 0, -50, 90),          # point behind its view
        _cam("cam-west-looking-east", -40, 0, 80),           # sees it (10° off axis), 40 m
        _cam("cam-far", 0, -500, 0),                         # outside the radius
        _cam("cam-short-range", 0, 150, 180, range_m=80),    # looks at it but sees only 80 m
        _cam("cam-ptz", 120, 120, 0, fov=360),               # 360° dome, ~170 m
    ])
    got = cameras_seeing(reg, LON, LAT, radius_m=300)
    assert [c["id"] for c in got] == ["cam-west-looking-east", "cam-south-looking-north", "cam-ptz"]
    assert abs(got[0]["distance_m"] - 40) < 1 and abs(got[0]["bearing_deg"] - 90) < 1
    assert [c["id"] for c in cameras_seeing(reg, LON, LAT, radius_m=300, limit=1)] == \
        ["cam-west-looking-east"]
    assert cameras_seeing(reg, LON + 1, LAT, radius_m=300) == []


def test_demo_cameras_near_a_camera(registry):
    cam = registry.cameras.iloc[0]
    # a point 30 m in front of the first camera: it must be among those that see it
    h = math.radians(cam["heading_deg"])
    lon = cam["lon"] + 30 * math.sin(h) / (111_320.0 * math.cos(math.radians(cam["lat"])))
    lat = cam["lat"] + 30 * math.cos(h) / 110_540.0
    got = cameras_seeing(registry, lon, lat, radius_m=300, limit=50)
    assert cam["id"] in [c["id"] for c in got]
    assert [c["distance_m"] for c in got] == sorted(c["distance_m"] for c in got)


def test_mobile_camera_positions_are_ingested_and_used(worker, publisher, redis_client, registry):
    """V29: tour-bus/boat cameras report positions; cameras_seeing uses where they are now."""
    from sensors import deadletter, topics  # noqa: PLC0415
    from sensors.cameras import live_positions  # noqa: PLC0415
    from tests.sensors.conftest import wait_for  # noqa: PLC0415

    mob = registry.cameras[registry.cameras["mobile"]].iloc[0]
    fixed = registry.cameras[~registry.cameras["mobile"]].iloc[0]
    # move the bus 2 km east of where it was registered, looking west at a point 50 m ahead
    lon = mob["lon"] + 2000 / (111_320.0 * math.cos(math.radians(mob["lat"])))
    t = int(__import__("time").time() * 1000)
    publisher.send(topics.position(mob["id"]), {"ts": t, "lon": lon, "lat": mob["lat"],
                                                "heading_deg": 270.0})
    publisher.send(topics.position(fixed["id"]), {"ts": t, "lon": 110.0, "lat": 21.0})
    pos = wait_for(lambda: live_positions(redis_client), what="position stored")
    assert set(pos) == {mob["id"]} and abs(pos[mob["id"]][0] - lon) < 1e-6
    assert deadletter.summary(redis_client)["by_reason"] == {"bad_topic": 1}   # fixed camera
    target_lon = lon - 50 / (111_320.0 * math.cos(math.radians(mob["lat"])))
    seen = cameras_seeing(registry, target_lon, mob["lat"], 300, 50, positions=pos)
    assert mob["id"] in [c["id"] for c in seen]
    assert mob["id"] not in [c["id"] for c in cameras_seeing(registry, target_lon, mob["lat"],
                                                             300, 50)]
