"""Ingest worker against real mosquitto + redis-server: alarms, episodes, dead letter (S9, S5)."""

from __future__ import annotations

import json
import time

from sensors import deadletter, keys, topics
from tests.sensors.conftest import reading, wait_for

ALARM_FIELDS = {"episode", "event", "source", "device_id", "device_type", "category", "level",
                "severity", "metric", "value", "unit", "threshold", "lon", "lat", "cell_code",
                "town_code", "ts", "message", "snapshot_url"}


def alarms(r, device_id: str | None = None) -> list[dict]:
    return [f for _, f in r.xrange(keys.ALARMS) if device_id is None or f["device_id"] == device_id]


def hist_len(r, device_id: str) -> int:
    return r.xlen(keys.dev_hist(device_id))


def now_ms() -> int:
    return int(time.time() * 1000)


def test_over_limit_reading_becomes_exactly_one_alarm(worker, publisher, redis_client, registry):
    """S9: a gas reading over the orange limit → one `raise` in om:alarms with the contract fields."""
    t0 = now_ms() - 60_000
    dev = "gas-0001"
    for i, v in enumerate([1.0, 30.0, 31.0, 32.5, 30.0]):
        publisher.send(topics.telemetry("gas", dev), reading(t0 + i * 1000, lel_pct=v))
    wait_for(lambda: hist_len(redis_client, dev) == 5, what="5 readings stored")
    got = alarms(redis_client, dev)
    assert len(got) == 1, got
    a = got[0]
    assert set(a) == ALARM_FIELDS
    row = registry.sensor(dev)
    assert a["event"] == "raise" and a["source"] == "iot" and a["device_type"] == "gas"
    assert a["level"] == "orange" and a["severity"] == "重大" and a["category"] == "0501"
    assert a["metric"] == "lel_pct" and a["value"] == "30" and a["threshold"] == "25"
    assert a["cell_code"] == row["cell_code"] and a["town_code"] == row["town_code"]
    assert a["ts"] == str(t0 + 1000) and "超过橙色阈值" in a["message"]
    assert redis_client.hget(keys.DEV_STATE, dev) == "alarm"
    last = redis_client.hgetall(keys.dev_last(dev))
    assert json.loads(last["metrics"]) == {"lel_pct": 30.0} and last["level"] == "orange"


def test_oscillation_at_the_limit_does_not_flap(worker, publisher, redis_client):
    """Hysteresis: values dancing ±0.5 around the 25 %LEL limit (hysteresis 2) give one raise."""
    t0 = now_ms() - 120_000
    dev = "gas-0002"
    vals = [25.5 if i % 2 == 0 else 24.5 for i in range(30)]
    publisher.send_many([(topics.telemetry("gas", dev), reading(t0 + i * 1000, lel_pct=v))
                         for i, v in enumerate(vals)])
    wait_for(lambda: hist_len(redis_client, dev) == 30, what="30 readings stored")
    got = alarms(redis_client, dev)
    assert [(a["event"], a["level"]) for a in got] == [("raise", "orange")]


def test_minimum_duration_holds_back_short_excursions(worker, publisher, redis_client, registry):
    """A water level over its yellow limit must stay there 60 s (reading time) before it is raised;
    a level that keeps dipping back under the limit is never raised (no flapping)."""
    dev = "wl-0001"
    warn = registry.sensor(dev)["meta"]["warn_m"]
    t0 = now_ms() - 3_600_000
    # first: blue (warn-0.5) held > 60 s → one blue raise
    seq = [(0, warn - 0.3), (30, warn - 0.3), (70, warn - 0.3)]
    # then: oscillating across the yellow limit every 20 s for 10 min → never yellow
    seq += [(80 + 20 * i, warn + 0.02 if i % 2 == 0 else warn - 0.15) for i in range(30)]
    publisher.send_many([(topics.telemetry("water_level", dev),
                          reading(t0 + s * 1000, level_m=round(v, 3))) for s, v in seq])
    wait_for(lambda: hist_len(redis_client, dev) == len(seq), what="readings stored")
    got = [(a["event"], a["level"], a["ts"]) for a in alarms(redis_client, dev)
           if a["episode"].split(":")[1] == "level"]      # (the rate rule sees the jumps too)
    assert got == [("raise", "blue", str(t0 + 70_000))]


def test_episode_raise_level_clear(worker, publisher, redis_client):
    """One episode id from raise through level change to clear; device state follows."""
    dev = "gas-0003"
    t0 = now_ms() - 60_000
    for i, v in enumerate([26.0, 60.0, 8.5, 1.0]):
        publisher.send(topics.telemetry("gas", dev), reading(t0 + i * 1000, lel_pct=v))
    wait_for(lambda: len(alarms(redis_client, dev)) == 4, what="4 alarm events")
    got = alarms(redis_client, dev)
    assert [(a["event"], a["level"]) for a in got] == [
        ("raise", "orange"), ("level", "red"), ("level", "blue"), ("clear", "blue")]
    assert len({a["episode"] for a in got}) == 1
    assert redis_client.hget(keys.DEV_STATE, dev) == "normal"
    # a new excursion is a new episode
    publisher.send(topics.telemetry("gas", dev), reading(t0 + 10_000, lel_pct=30.0))
    wait_for(lambda: len(alarms(redis_client, dev)) == 5, what="second raise")
    assert alarms(redis_client, dev)[-1]["episode"] != got[0]["episode"]


def test_senml_payload_is_accepted(worker, publisher, redis_client):
    """RFC 8428 SenML: base name/time, Cel unit, vb boolean."""
    t = time.time() - 5
    publisher.send(topics.telemetry("weather", "aws-0002"), [
        {"bn": "urn:dev:id:aws-0002:", "bt": t, "n": "rain_mmh", "u": "mm/h", "v": 2.5},
        {"n": "temp_c", "u": "Cel", "v": 27.1}])
    publisher.send(topics.telemetry("manhole", "mh-0002"), [
        {"bn": "mh-0002/", "bt": t, "n": "open", "vb": True}])
    wait_for(lambda: redis_client.hget(keys.DEV_STATE, "mh-0002") == "alarm", what="open cover")
    last = redis_client.hgetall(keys.dev_last("aws-0002"))
    assert json.loads(last["metrics"]) == {"rain_mmh": 2.5, "temp_c": 27.1}
    assert last["ts"] == str(round(t * 1000))     # SenML seconds → the nearest millisecond
    assert alarms(redis_client, "mh-0002")[0]["category"] == "0108"


def test_every_kind_of_bad_payload_goes_to_the_dead_letter(worker, publisher, redis_client):
    """Each bad input lands in om:dlq with its reason, topic and raw bytes; the worker goes on."""
    t = now_ms()
    tele = topics.telemetry("gas", "gas-0004")
    bad = [
        ("oversized", tele, json.dumps(reading(t, lel_pct=1.0) | {"pad": "x" * 9000}).encode()),
        ("not_json", tele, b"\x00\xffnot json{"),
        ("schema", tele, json.dumps({"metrics": {"lel_pct": 1.0}}).encode()),
        ("unknown_device", topics.telemetry("gas", "gas-9999"), json.dumps(reading(t, lel_pct=1.0)).encode()),
        ("bad_topic", topics.telemetry("weather", "gas-0004"), json.dumps(reading(t, lel_pct=1.0)).encode()),
        ("unknown_metric", tele, json.dumps(reading(t, radon=1.0)).encode()),
        ("wrong_type", tele, json.dumps(reading(t, lel_pct="high")).encode()),
        ("wrong_unit", tele, json.dumps(reading(t, lel_pct=1.0) | {"units": {"lel_pct": "ppm"}}).encode()),
        ("out_of_range", tele, json.dumps(reading(t, lel_pct=150.0)).encode()),
        ("future_ts", tele, json.dumps(reading(t + 3_600_000, lel_pct=1.0)).encode()),
    ]
    for _, topic, raw in bad:
        publisher.send(topic, raw)
    publisher.send(tele, reading(t, lel_pct=2.0))   # a good one after all that
    wait_for(lambda: hist_len(redis_client, "gas-0004") == 1, what="the good reading")
    s = wait_for(lambda: (d := deadletter.summary(redis_client))["total"] == len(bad) and d,
                 what="dead letters")
    assert s["by_reason"] == {reason: 1 for reason, _, _ in bad}
    # an unknown device counts under "?" (bounded counter, issue 19); its claimed id is in the detail
    assert s["by_device"]["gas-0004"] == len(bad) - 1 and s["by_device"]["?"] == 1
    assert "gas-9999" not in s["by_device"]
    latest = {d["reason"]: d for d in deadletter.latest(redis_client, 50)}
    for reason, topic, raw in bad:
        d = latest[reason]
        assert d["topic"] == topic
        assert d["size"] == len(raw)
        assert d["raw"] == raw[:1024]
    assert "gas-9999" in latest["unknown_device"]["detail"]
    assert worker.subscribed.is_set()


def test_bogus_device_ids_do_not_grow_the_per_device_counter(worker, publisher, redis_client):
    """Issue 19 (low): 3,000 readings from 3,000 made-up device ids used to make 3,000 fields in
    the per-device dead-letter hash. Now they are all counted under "?" and each entry keeps the
    id it claimed, so the hash is bounded by the registry."""
    t = now_ms() - 5_000
    n = 3_000
    publisher.send_many([(topics.telemetry("gas", f"bogus-{i:05d}"), reading(t, lel_pct=1.0))
                         for i in range(n)])
    s = wait_for(lambda: (d := deadletter.summary(redis_client))["total"] == n and d,
                 what="3,000 dead letters", timeout=30)
    assert s["by_reason"] == {"unknown_device": n}
    assert redis_client.hlen(keys.DLQ_BY_DEVICE) == 1 and s["by_device"] == {"?": n}
    claimed = {d["detail"] for d in deadletter.latest(redis_client, 5)}
    assert all("bogus-" in c for c in claimed) and len(claimed) == 5


def test_rate_of_change_and_combined_village_rule(worker, publisher, redis_client, registry):
    """Water rising fast raises 水位上涨 (0301); with heavy rain in the same village the combined
    flood-risk episode is raised once, and cleared when the rain stops."""
    dev = "wl-0002"
    row = registry.sensor(dev)
    village = row["cell_code"][:12]
    aws = registry.sensors[(registry.sensors["type"] == "weather")
                           & (registry.sensors["cell_code"].str[:12] == village)]["id"].iloc[0]
    warn = row["meta"]["warn_m"]
    t0 = now_ms() - 7_200_000
    for dt in (0, 150_000):                  # yellow rain, held over the 2-min minimum duration
        publisher.send(topics.telemetry("weather", aws), reading(t0 + dt, rain_mmh=40.0))
    seq = [(i * 300, warn - 3.0 + 0.3 * i) for i in range(4)]                      # 3.6 m/h
    publisher.send_many([(topics.telemetry("water_level", dev), reading(t0 + s * 1000, level_m=v))
                         for s, v in seq])
    wait_for(lambda: any(a["device_id"] == dev and a["metric"] == "level_m"
                         for a in alarms(redis_client)), what="rise alarm")
    combined = wait_for(lambda: [a for a in alarms(redis_client) if a["episode"].startswith(
        f"village-{village}:flood")], what="combined raise")
    assert [a["event"] for a in combined] == ["raise"]
    assert combined[0]["category"] == "0301" and combined[0]["level"] == "orange"
    rise = [a for a in alarms(redis_client, dev) if a["episode"].startswith(f"{dev}:rise:")]
    assert len(rise) == 1 and rise[0]["category"] == "0301" and rise[0]["unit"] == "m/h"
    for dt in (2_000_000, 2_150_000):        # the rain stops (and stays stopped 2 min)
        publisher.send(topics.telemetry("weather", aws), reading(t0 + dt, rain_mmh=0.0))
    wait_for(lambda: [a["event"] for a in alarms(redis_client)
                      if a["episode"].startswith(f"village-{village}:flood")] == ["raise", "clear"],
             what="combined clear")


def test_video_ai_detection_raises_once_and_stores_no_identity(worker, publisher, redis_client):
    cam = "cam-00010"
    t = now_ms()
    for i in range(3):
        publisher.send(topics.ai(cam), {"ts": t + i, "label": "smoke_fire", "confidence": 0.9,
                                        "snapshot_url": f"https://vms.local/snap/{i}.jpg"})
    publisher.send(topics.ai(cam), {"ts": t, "label": "crowding", "confidence": 0.2})  # too weak
    publisher.send(topics.ai(cam), {"ts": t, "label": "smoke_fire", "confidence": 0.9,
                                    "face_id": "x"})   # identity fields are refused (V15)
    wait_for(lambda: deadletter.summary(redis_client)["total"] == 1, what="face_id refused")
    got = wait_for(lambda: alarms(redis_client, cam), what="AI alarm")
    assert [(a["event"], a["source"], a["category"]) for a in got] == [("raise", "video_ai", "0401")]
    assert got[0]["snapshot_url"] == "https://vms.local/snap/0.jpg"


def test_last_will_offline_then_back(worker, publisher, redis_client):
    dev = "mh-0003"
    publisher.send(topics.telemetry("manhole", dev), reading(now_ms(), water_cm=120.0))
    wait_for(lambda: redis_client.hget(keys.DEV_STATE, dev) == "normal", what="normal")
    publisher.send(topics.status(dev), b"offline")
    wait_for(lambda: redis_client.hget(keys.DEV_STATE, dev) == "offline", what="offline")
    assert redis_client.hget(keys.dev_last(dev), "online") == "0"
    publisher.send(topics.status(dev), {"state": "online"})
    wait_for(lambda: redis_client.hget(keys.DEV_STATE, dev) == "normal", what="back online")
