"""Edge validation: OneMap JSON, SenML (RFC 8428), the reasons of rejection."""

from __future__ import annotations

import json

import pytest

from sensors.kinds import KINDS
from sensors.schemas import (
    Rejected,
    check_reading,
    merge_readings,
    parse_detection,
    parse_reading,
    parse_status,
)
from sensors.topics import parse as parse_topic

NOW = 1_800_000_000_000


def reason(fn, *a) -> str:
    with pytest.raises(Rejected) as e:
        fn(*a)
    return e.value.reason


def test_onemap_json():
    [(ts, m, u)] = parse_reading(json.dumps({"ts": NOW, "metrics": {"level_m": 12.3},
                                         "units": {"level_m": "m"}}).encode())
    assert (ts, m, u) == (NOW, {"level_m": 12.3}, {"level_m": "m"})
    assert reason(parse_reading, b"{") == "not_json"
    assert reason(parse_reading, b'{"ts": "1", "metrics": {"a": 1}}') == "schema"   # strict int
    assert reason(parse_reading, b'{"ts": 1, "metrics": {}}') == "schema"
    assert reason(parse_reading, b'{"ts": 1, "metrics": {"a": 1}, "extra": 2}') == "schema"


def test_senml_pack():
    """One reading per record (RFC 8428, issue 18): names resolved onto the kind's metrics."""
    pack = [{"bn": "urn:dev:id:aws-0001:", "bt": 1.8e9, "bu": "mm/h", "n": "rain_mmh", "v": 3},
            {"n": "temp_c", "u": "Cel", "v": 26.5, "t": 1},
            {"n": "humidity", "u": "%RH", "v": 80, "t": 1}]
    got = parse_reading(json.dumps(pack).encode())
    assert [ts for ts, _, _ in got] == [1_800_000_000_000, 1_800_000_001_000, 1_800_000_001_000]
    merged = merge_readings(KINDS["weather"], got, NOW)
    assert merged == [(1_800_000_000_000, {"rain_mmh": 3}, {"rain_mmh": "mm/h"}),
                      (1_800_000_001_000, {"temp_c": 26.5, "humidity": 80},
                       {"temp_c": "Cel", "humidity": "%RH"})]
    assert reason(parse_reading, b'[{"n": "a"}]') == "schema"          # no value
    assert reason(parse_reading, b"[]") == "schema"


def test_check_against_the_kind():
    gas, manhole, weather = KINDS["gas"], KINDS["manhole"], KINDS["weather"]
    assert check_reading(gas, {"lel_pct": 3}, {}, NOW, NOW, 300_000) == {"lel_pct": 3.0}
    assert check_reading(manhole, {"open": True}, {}, NOW, NOW, 300_000) == {"open": 1.0}
    assert check_reading(weather, {"temp_c": 20.0}, {"temp_c": "Cel"}, NOW, NOW, 0)  # SenML unit
    cases = [
        (gas, {"radon": 1}, {}, NOW, "unknown_metric"),
        (gas, {"lel_pct": "1"}, {}, NOW, "wrong_type"),
        (gas, {"lel_pct": True}, {}, NOW, "wrong_type"),
        (manhole, {"open": 1}, {}, NOW, "wrong_type"),
        (gas, {"lel_pct": 1}, {"lel_pct": "ppm"}, NOW, "wrong_unit"),
        (gas, {"lel_pct": 101}, {}, NOW, "out_of_range"),
        (gas, {"lel_pct": 1}, {}, NOW + 301_000, "future_ts"),
    ]
    for kind, m, u, ts, why in cases:
        assert reason(check_reading, kind, m, u, ts, NOW, 300_000) == why, (m, u, why)


def test_detection_refuses_identity_fields():
    d = parse_detection(b'{"ts": 1, "label": "crowding", "confidence": 0.7, "snapshot_url": "/s.jpg"}')
    assert d.label == "crowding"
    assert reason(parse_detection, b'{"ts": 1, "label": "x", "confidence": 0.7, "plate": "A1"}') \
        == "schema"
    assert reason(parse_detection, b'{"ts": 1, "label": "x", "confidence": 1.5}') == "schema"


def test_status_and_topics():
    assert parse_status(b"offline").state == "offline"
    assert parse_status(b'{"state": "online", "ts": 5}').ts == 5
    assert reason(parse_status, b"sleepy") == "not_json"
    assert parse_topic("om/v1/tele/gas/gas-0001") == ("tele", "gas", "gas-0001")
    assert parse_topic("om/v1/status/cam-00001") == ("status", "", "cam-00001")
    assert parse_topic("om/v1/ai/cam-00001") == ("ai", "", "cam-00001")
    assert parse_topic("om/v2/tele/gas/x") is None
    assert parse_topic("om/v1/tele/gas") is None
