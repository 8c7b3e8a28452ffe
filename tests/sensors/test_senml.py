"""SenML without loss (RFC 8428, issue 18; S1, S4): every example of RFC 8428 §5.1, written from the
RFC's text, goes through the ingest worker into a real redis-server and is stored value for value
(name, time, unit); invalid packs are refused with a reason; JSON and CBOR alike."""

from __future__ import annotations

import json

import cbor2
import pytest

from sensors import keys
from sensors.ingest import IngestWorker
from sensors.kinds import KINDS
from sensors.kinds.base import Kind, Metric
from sensors.rules import DeviceEntry
from sensors.schemas import Rejected, merge_readings, parse_reading
from sensors.senml_units import registry_of

OW = "10e2073a01080063"
# A test kind whose metrics carry the RFC's names (and, for §5.1.3's pack, which tells humidity,
# position and battery apart by unit only, ``<name>@<unit>``).
RFC_KIND = Kind(
    name="rfc8428", label="RFC 8428 示例", dept="D01", category="0501", interval_s=60, count=0,
    placement="none", rules=(), simulate=lambda *a: {}, id_prefix="rfc",
    metrics=(
        Metric(f"{OW}@Cel", "温度", "Cel", -40, 100),
        Metric(f"{OW}@%RH", "湿度", "%RH", 0, 100),
        Metric(f"{OW}@lon", "经度", "lon", -180, 180),
        Metric(f"{OW}@lat", "纬度", "lat", -90, 90),
        Metric(f"{OW}@%EL", "电量", "%EL", 0, 100),
        Metric("voltage", "电压", "V", 0, 500),
        Metric("current", "电流", "A", 0, 100),
        Metric("temp", "温度", "Cel", -40, 100),
        Metric("temperature", "温度", "Cel", -40, 100),
        Metric("humidity", "湿度", "%RH", 0, 100),
        Metric("label", "标签", "", 0, 0, type="string"),
        Metric("open", "开启", "", 0, 1, type="bool"),
        Metric("nfc-reader", "NFC", "", 0, 0, type="data"),
        Metric("heat", "加热", "/", 0, 1),
        Metric("fan", "风扇", "/", 0, 1),
        Metric("energy_sum", "累计电能", "Wh", 0, 1e9),
    ))
UNIT = {m.name: m.unit for m in RFC_KIND.metrics}

T3 = 1.276020076001e+09
T4 = 1.320067464e+09
T6 = 1.320078429e+09
_MM = [(0, "%RH", 20), (0, "lon", 24.30621), (0, "lat", 60.07965), (60, "%RH", 20.3),
       (60, "lon", 24.30622), (60, "lat", 60.07965), (120, "%RH", 20.7), (120, "lon", 24.30623),
       (120, "lat", 60.07966), (150, "%EL", 98), (180, "%RH", 21.2), (180, "lon", 24.30628),
       (180, "lat", 60.07967)]

# (name, pack, clock (epoch s), expected (metric, ts ms | None = now, value)) — RFC 8428 §5.1
EXAMPLES = [
    ("5.1.1 single datapoint", [{"n": f"urn:dev:ow:{OW}", "u": "Cel", "v": 23.1}], T6,
     [(f"{OW}@Cel", None, 23.1)]),
    ("5.1.2 multiple datapoints",
     [{"bn": f"urn:dev:ow:{OW}:", "n": "voltage", "u": "V", "v": 120.1},
      {"n": "current", "u": "A", "v": 1.2}], T6,
     [("voltage", None, 120.1), ("current", None, 1.2)]),
    ("5.1.3 multiple datapoints and time",
     [{"bn": "urn:dev:ow:10e2073a0108006:", "bt": T3, "bu": "A", "bver": 5,
       "n": "voltage", "u": "V", "v": 120.1},
      {"n": "current", "t": -5, "v": 1.2}, {"n": "current", "t": -4, "v": 1.3},
      {"n": "current", "t": -3, "v": 1.4}, {"n": "current", "t": -2, "v": 1.5},
      {"n": "current", "t": -1, "v": 1.6}, {"n": "current", "v": 1.7}], T3 + 10,
     [("voltage", round(T3 * 1000), 120.1)]
     + [("current", round((T3 + dt) * 1000), v)
        for dt, v in [(-5, 1.2), (-4, 1.3), (-3, 1.4), (-2, 1.5), (-1, 1.6), (0, 1.7)]]),
    ("5.1.3 multiple measurements",
     [{"bn": f"urn:dev:ow:{OW}", "bt": T4, "bu": "%RH", "v": 20},
      {"u": "lon", "v": 24.30621}, {"u": "lat", "v": 60.07965},
      {"t": 60, "v": 20.3}, {"u": "lon", "t": 60, "v": 24.30622},
      {"u": "lat", "t": 60, "v": 60.07965}, {"t": 120, "v": 20.7},
      {"u": "lon", "t": 120, "v": 24.30623}, {"u": "lat", "t": 120, "v": 60.07966},
      {"u": "%EL", "t": 150, "v": 98}, {"t": 180, "v": 21.2},
      {"u": "lon", "t": 180, "v": 24.30628}, {"u": "lat", "t": 180, "v": 60.07967}], T4 + 200,
     [(f"{OW}@{u}", round((T4 + dt) * 1000), v) for dt, u, v in _MM]),
    ("5.1.4 resolved data",
     [{"n": f"urn:dev:ow:{OW}", "u": u, "t": T4 + dt, "v": v} for dt, u, v in _MM], T4 + 200,
     [(f"{OW}@{u}", round((T4 + dt) * 1000), v) for dt, u, v in _MM]),
    ("5.1.5 multiple data types",
     [{"bn": f"urn:dev:ow:{OW}:", "n": "temp", "u": "Cel", "v": 23.1},
      {"n": "label", "vs": "Machine Room"}, {"n": "open", "vb": False},
      {"n": "nfc-reader", "vd": "aGkgCg"}], T6,
     [("temp", None, 23.1), ("label", None, "Machine Room"), ("open", None, False),
      ("nfc-reader", None, "aGkgCg")]),
    ("5.1.6 collection of resources",
     [{"bn": "2001:db8::2/", "bt": T6, "n": "temperature", "u": "Cel", "v": 25.2},
      {"n": "humidity", "u": "%RH", "v": 30},
      {"bn": "2001:db8::1/", "n": "temperature", "u": "Cel", "v": 12.3},
      {"n": "humidity", "u": "%RH", "v": 67}], T6 + 5,
     [("temperature", round(T6 * 1000), 25.2), ("humidity", round(T6 * 1000), 30),
      ("temperature", round(T6 * 1000), 12.3), ("humidity", round(T6 * 1000), 67)]),
    ("5.1.7 setting an actuator",
     [{"bn": f"urn:dev:ow:{OW}:"}, {"n": "temp", "u": "Cel", "v": 23.1},
      {"n": "heat", "u": "/", "v": 1}, {"n": "fan", "u": "/", "v": 0}], T6,
     [("temp", None, 23.1), ("heat", None, 1), ("fan", None, 0)]),
]


@pytest.fixture
def ingest(redis_client, mqtt_service):
    devices = {f"rfc-{i:04d}": DeviceEntry(f"rfc-{i:04d}", "rfc8428", RFC_KIND, "{}")
               for i in range(len(EXAMPLES) + 4)}
    # never started: ``process`` validates and stores without MQTT, on the injected clock
    return IngestWorker(redis_client, devices, mqtt_service.url, group="senml")


def stored(r, did: str) -> list[tuple[str, int, object]]:
    out = []
    for _, f in r.xrange(keys.dev_hist(did)):
        out += [(k, int(f["ts"]), v) for k, v in json.loads(f["m"]).items()]
    return out


@pytest.mark.parametrize("codec", ["json", "cbor"])
def test_every_rfc8428_example_is_stored_value_for_value(ingest, redis_client, codec):
    """Each (name, time, value) of each §5.1 example is one stored value; units are the kind's."""
    for i, (title, pack, clock, want) in enumerate(EXAMPLES):
        did = f"rfc-{i:04d}"
        ingest.clock = lambda c=clock: c
        now = round(clock * 1000)
        if codec == "cbor":
            labels = {"bver": -1, "bn": -2, "bt": -3, "bu": -4, "n": 0, "u": 1, "v": 2, "vs": 3,
                      "vb": 4, "t": 6}
            recs = [{labels[k]: v for k, v in r.items() if k != "vd"}
                    | ({8: b"hi \n"} if "vd" in r else {}) for r in pack]
            raw = cbor2.dumps(recs)
        else:
            raw = json.dumps(pack).encode()
        ingest.process([(f"om/v1/tele/rfc8428/{did}", raw)])
        got = stored(redis_client, did)
        expect = [(k, now if ts is None else ts, v) for k, ts, v in want]
        assert sorted(got, key=repr) == sorted(expect, key=repr), title
        # the unit each record carried is the unit of the metric it was stored under
        bu, units = None, []
        for r in pack:
            bu = r.get("bu", bu)
            if {"v", "vs", "vb", "vd"} & set(r):
                units.append(r.get("u", bu))
        for rec_unit, (k, _, _) in zip(units, want, strict=True):
            assert UNIT[k] == (rec_unit or ""), (title, k)
        redis_client.delete(keys.dev_hist(did))


def test_base_value_sum_ut_and_unknown_fields():
    """``bv``/``bs`` add to ``v``/``s``; ``ut`` and unknown fields are accepted and ignored."""
    pack = [{"bn": "m:", "bt": T6, "bv": 100, "bs": 10, "n": "voltage", "u": "V", "v": 20,
             "ut": 60, "vendor": {"x": 1}},
            {"n": "energy", "u": "Wh", "s": 5}]
    got = merge_readings(RFC_KIND, parse_reading(json.dumps(pack).encode(), 0), 0)
    assert got == [(round(T6 * 1000), {"voltage": 120.0, "energy_sum": 15.0},
                    {"voltage": "V", "energy_sum": "Wh"})]


BAD = [
    ([{"n": "a", "v": 1, "crit_": 1}], "must-understand"),
    ([{"n": "-a", "v": 1}], "invalid name"),
    ([{"bn": "dev one/", "n": "a", "v": 1}], "invalid name"),
    ([{"bver": 11, "n": "a", "v": 1}], "bver"),
    ([{"bver": 10, "n": "a", "v": 1}, {"bver": 9, "n": "b", "v": 2}], "bver"),
    ([{"n": "a", "v": 1, "vs": "x"}], "more than one"),
    ([{"n": "a"}], "no v"),
    ([{"n": "a", "vd": "aGk="}], "vd"),
    ([{"n": "a", "vd": "a?b"}], "vd"),
    ([{"n": "a", "v": "1"}], "v"),
    ([{"n": "a", "v": 1, "ut": -1}], "ut"),
    ([], "non-empty"),
    ([1], "not an object"),
]


def test_invalid_packs_are_refused_with_a_reason():
    for pack, why in BAD:
        with pytest.raises(Rejected) as e:
            parse_reading(json.dumps(pack).encode(), 0)
        assert e.value.reason == "schema" and why in e.value.detail, (pack, e.value.detail)
    with pytest.raises(Rejected) as e:
        parse_reading(b"\x82\x01", 0)                     # truncated CBOR array
    assert e.value.reason == "not_json" and "CBOR" in e.value.detail


def test_a_bad_record_refuses_the_whole_pack_with_its_reason(ingest, redis_client):
    """Nothing half-stored: a string on a numeric metric, a unit the metric does not take."""
    ingest.clock = lambda: T6
    for pack, why in [([{"n": "voltage", "u": "V", "v": 1}, {"n": "current", "vs": "high"}],
                       "wrong_type"),
                      ([{"n": "voltage", "u": "V", "v": 1}, {"n": "current", "u": "V", "v": 2}],
                       "wrong_unit"),
                      ([{"n": "radon", "v": 1}], "unknown_metric")]:
        ingest.process([("om/v1/tele/rfc8428/rfc-0010", json.dumps(pack).encode())])
        assert redis_client.xlen(keys.dev_hist("rfc-0010")) == 0
        assert int(redis_client.hget(keys.DLQ_BY_REASON, why) or 0) >= 1, why


def test_every_metric_has_a_senml_unit():
    """RFC 8428 §12.1 / RFC 8798 or the documented OneMap extension, for every kind's metric."""
    missing = [(k.name, m.name, m.senml_unit or m.unit) for k in KINDS.values() for m in k.metrics
               if m.type == "float" and registry_of(m.senml_unit or m.unit) is None]
    assert missing == []
