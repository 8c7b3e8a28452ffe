"""Device registry: demo sizes (seed-requirements §11), placement, contract columns, import/export."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pytest

from sensors.kinds import KINDS
from sensors.registry import (
    CAMERA_COLUMNS,
    N_CAMERAS,
    SENSOR_COLUMNS,
    export_geojson,
    generate,
    import_devices,
    load_or_create,
)


def test_columns_are_the_contract(registry):
    assert tuple(c for c in registry.sensors.columns if c != "geometry") == SENSOR_COLUMNS
    assert tuple(c for c in registry.cameras.columns if c != "geometry") == CAMERA_COLUMNS
    assert registry.cameras["id"].str.startswith("cam-").all()
    assert registry.sensors["id"].is_unique and registry.cameras["id"].is_unique
    for m in registry.sensors["meta"].head(50):
        assert isinstance(json.loads(m), dict)


def test_demo_sizes_follow_the_scale_model(registry, demo_city):
    counts = registry.sensors["type"].value_counts().to_dict()
    assert counts == {name: (len(demo_city.villages) if name == "weather" else k.count)
                      for name, k in KINDS.items()}
    assert 5200 <= len(registry.sensors) <= 5600          # ≈ 5,400 (§11)
    assert len(registry.cameras) == N_CAMERAS              # 4,780 (Q11)
    cams = registry.cameras
    assert 0.65 <= (cams["owner"] == "social").mean() <= 0.75        # ≈ 70 % social (Q9)
    assert 0.60 <= cams["share"].str.contains("综治").mean() <= 0.70  # ≈ 65 % to 综治 (Q10)
    assert 0.002 <= cams["mobile"].mean() <= 0.03                     # tour buses, boats (V29)
    assert set(cams["cls"]) == {1, 2, 3}


def test_one_weather_station_per_village_and_every_device_in_its_cell(registry, demo_city):
    aws = registry.sensors[registry.sensors["type"] == "weather"]
    assert sorted(aws["cell_code"].str[:12]) == sorted(demo_city.villages["code"])   # S19
    for df in (registry.sensors.sample(300, random_state=1), registry.cameras.sample(300, random_state=1)):
        for lon, lat, cell in zip(df["lon"], df["lat"], df["cell_code"], strict=True):
            loc = demo_city.locate(lon, lat)
            assert loc.cell_code == cell                   # 事事入格 (G5)


def test_placement_is_realistic(registry, demo_city):
    kinds = dict(zip(demo_city.towns["code"], demo_city.towns["kind"], strict=True))
    s = registry.sensors
    urban = s["town_code"].map(kinds) == "street"
    assert urban[s["type"] == "manhole"].mean() > 0.7            # dense in the urban streets
    assert not urban[s["type"] == "water_level"].any()           # rivers/reservoirs: rural towns
    gas = s[s["type"] == "gas"]
    assert gas["meta"].map(lambda m: json.loads(m)["enterprise"]).nunique() == 40
    fire = s[s["type"] == "fire"]
    assert fire["meta"].map(lambda m: json.loads(m)["building"]).nunique() == 300
    wl = s[s["type"] == "water_level"].iloc[0]
    meta = json.loads(wl["meta"])
    assert meta["thresholds"]["level"][1] == meta["warn_m"]      # per-device override


def test_deterministic_and_persisted(registry, demo_city, demo_city_dir):
    again = load_or_create(demo_city, demo_city_dir)
    assert again.sensors.drop(columns="geometry").equals(registry.sensors.drop(columns="geometry"))
    fresh = generate(demo_city)
    assert np.allclose(fresh.cameras["lon"], registry.cameras["lon"])
    assert (fresh.sensors["id"] == registry.sensors["id"]).all()


def test_geojson_export_and_csv_import_round_trip(registry, demo_city, tmp_path):
    sub = registry.sensors.head(20)
    path = export_geojson(sub, tmp_path / "s.geojson")
    back = import_devices(path, demo_city)
    assert back["id"].tolist() == sub["id"].tolist()
    assert (back["cell_code"] == sub["cell_code"]).all()
    csv = tmp_path / "s.csv"
    sub.drop(columns="geometry").to_csv(csv, index=False)
    back = import_devices(csv, demo_city)
    assert back["type"].tolist() == sub["type"].tolist()
    cams = export_geojson(registry.cameras.head(5), tmp_path / "c.geojson")
    assert gpd.read_file(cams).shape[0] == 5
    assert import_devices(cams, demo_city, cameras=True)["cls"].tolist() == \
        registry.cameras.head(5)["cls"].tolist()


def test_import_rejects_devices_outside_the_city(demo_city, tmp_path):
    csv = tmp_path / "bad.csv"
    csv.write_text("id,type,lon,lat\nx-1,gas,0.0,0.0\n")
    with pytest.raises(ValueError, match="辖区外"):
        import_devices(csv, demo_city)
    csv.write_text(f"id,type,lon,lat\nx-1,teleporter,{demo_city.cells.geometry.iloc[0].representative_point().x},"
                   f"{demo_city.cells.geometry.iloc[0].representative_point().y}\n")
    with pytest.raises(ValueError, match="unknown type"):
        import_devices(csv, demo_city)
