"""Thresholds a deployment sets in its ``[sensors]`` table (S9 超标预警): per kind and per device,
over the kinds' demo defaults, evaluated by the real ``ingest.lua`` on a real Redis."""

from __future__ import annotations

import json

import pytest

from sensors import keys
from sensors.rules import Batch, RuleEngine, ThresholdConfigError, ThresholdOverrides, compile_registry


def _alarms_after(redis_client, devices, device_id: str, values: dict[str, float]) -> list[dict]:
    """Run the rules on one reading of ``device_id`` of a fresh store (no episode open yet);
    the alarm entries it wrote."""
    redis_client.flushall()
    batch = Batch()
    now_ms = 1_700_000_000_000
    batch.reading(devices[device_id], now_ms, json.dumps(values), values)
    RuleEngine(redis_client).run(now_ms, batch)
    return [fields for _, fields in redis_client.xrange(keys.ALARMS)]


def _gas_ids(registry) -> list[str]:
    return sorted(registry.sensors.loc[registry.sensors["type"] == "gas", "id"])[:2]


def test_a_kind_override_changes_which_reading_raises_an_alarm(redis_client, registry):
    dev, _ = _gas_ids(registry)
    reading = {"lel_pct": 15.0}          # above the demo default's blue limit (10 % LEL)
    raised = _alarms_after(redis_client, compile_registry(registry), dev, reading)
    assert [(a["event"], a["level"], a["device_id"]) for a in raised] == [("raise", "blue", dev)]

    stricter_later = ThresholdOverrides.from_dict({"thresholds": {"gas": {"lel": {"blue": 18}}}})
    assert _alarms_after(redis_client, compile_registry(registry, stricter_later), dev, reading) == []

    # the other levels keep their defaults: 21 % is still yellow (limit 20)
    raised = _alarms_after(redis_client, compile_registry(registry, stricter_later), dev,
                           {"lel_pct": 21.0})
    assert [a["level"] for a in raised if a["event"] == "raise"] == ["yellow"]


def test_a_device_override_wins_over_the_kind_for_that_device_only(redis_client, registry):
    dev, other = _gas_ids(registry)
    over = ThresholdOverrides.from_dict({"thresholds": {"gas": {"lel": [30, 40, 45, 60]}},
                                         "devices": {dev: {"lel": {"blue": 12}}}})
    devices = compile_registry(registry, over)
    assert [a["level"] for a in _alarms_after(redis_client, devices, dev, {"lel_pct": 15.0})] == ["blue"]
    assert _alarms_after(redis_client, devices, other, {"lel_pct": 15.0}) == []
    assert [a["level"] for a in _alarms_after(redis_client, devices, other, {"lel_pct": 41.0})] == ["yellow"]


def test_a_devices_own_registry_thresholds_sit_between_kind_and_device_overrides(registry):
    wl = registry.sensors[registry.sensors["type"] == "water_level"].iloc[0]
    own = json.loads(wl["meta"])["thresholds"]["level"]
    over = ThresholdOverrides.from_dict({"thresholds": {"water_level": {"level": [1, 2, 3, 4]}}})
    spec = json.loads(compile_registry(registry, over)[wl["id"]].rules["level_m"][0].spec)
    assert spec["r"] == "level" and spec["t"] == own            # its 警戒水位 wins over the kind's
    over = ThresholdOverrides.from_dict({"devices": {wl["id"]: {"level": {"red": own[3] + 5}}}})
    spec = json.loads(compile_registry(registry, over)[wl["id"]].rules["level_m"][0].spec)
    assert spec["t"] == [*own[:3], own[3] + 5]


@pytest.mark.parametrize(("table", "key"), [
    ({"threshold": {}}, "sensors.threshold"),
    ({"thresholds": {"gass": {}}}, "sensors.thresholds.gass"),
    ({"thresholds": {"gas": {"lell": [1, 2, 3, 4]}}}, "sensors.thresholds.gas.lell"),
    ({"thresholds": {"gas": {"lel": {"purple": 3}}}}, "sensors.thresholds.gas.lel.purple"),
    ({"thresholds": {"gas": {"lel": {"blue": 30}}}}, "sensors.thresholds.gas.lel"),   # out of order
    ({"thresholds": {"gas": {"lel": [1, 2]}}}, "sensors.thresholds.gas.lel"),
    ({"devices": {"gas-0001": {"lel": "high"}}}, "sensors.devices.gas-0001.lel"),
])
def test_a_bad_table_is_refused_naming_the_key(table, key):
    with pytest.raises(ThresholdConfigError) as e:
        ThresholdOverrides.from_dict(table)
    assert any(p.startswith(f"{key}:") for p in e.value.problems), e.value.problems


def test_device_overrides_are_checked_against_the_registry(registry):
    dev, _ = _gas_ids(registry)
    for table, key in (({"devices": {"gas-9999x": {"lel": [1, 2, 3, 4]}}}, "sensors.devices.gas-9999x"),
                       ({"devices": {dev: {"h2s_": [1, 2, 3, 4]}}}, f"sensors.devices.{dev}.h2s_"),
                       ({"devices": {dev: {"lel": {"red": 1}}}}, f"sensors.devices.{dev}.lel")):
        with pytest.raises(ThresholdConfigError) as e:
            compile_registry(registry, ThresholdOverrides.from_dict(table))
        assert any(p.startswith(f"{key}:") for p in e.value.problems), e.value.problems
