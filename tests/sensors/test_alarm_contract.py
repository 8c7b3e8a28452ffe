"""The om:alarms stream contract (grid.contracts), producer → consumer, on real Redis.

The producer is sensors' Lua (ingest.lua rules, health.lua device faults), run by the real
ingest worker; the consumer is incidents.intake. Both sides must speak grid.contracts: the
Lua scripts are read and compared with it (Lua cannot import it), and one alarm is driven from
readings through the stream into an incident whose severity follows the level table.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from grid import contracts
from grid.contracts import ALARM_FIELDS, LEVELS, SEVERITY_OF_LEVEL, Event, Field, Level, Source
from incidents import defaults as incident_defaults
from incidents import keys as incident_keys
from incidents.actor import SYSTEM
from incidents.intake import AlarmIntake, episode_key
from incidents.service import IncidentService
from sensors import keys, topics
from sensors.ingest import IngestWorker
from sensors.kinds import base
from tests.sensors.conftest import reading

SCRIPTS = Path(__file__).resolve().parents[2] / "sensors" / "scripts"
T0 = 1_800_000_000.0


class Clock:
    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> float:
        return self.t


def _lua_xadd_fields(source: str) -> list[str]:
    """The field names of the script's XADD on the alarms stream, in order."""
    m = re.search(r"redis\.call\('XADD', K\.alarms, (.*?)\)\n", source, re.S)
    assert m, "no XADD on K.alarms"
    args = [a.strip() for a in m.group(1).split(",")]
    after = args[args.index("'*'") + 1:]
    return [a.strip("'") for a in after[0::2]]


def _lua_table(source: str, name: str) -> list[str]:
    m = re.search(rf"local {name} = \{{([^}}]*)\}}", source)
    assert m, name
    return re.findall(r"'([^']*)'", m.group(1))


@pytest.mark.parametrize("script", ["ingest.lua", "health.lua"])
def test_the_lua_producers_write_the_contract(script):
    src = (SCRIPTS / script).read_text(encoding="utf-8")
    assert _lua_xadd_fields(src) == list(ALARM_FIELDS)
    assert _lua_table(src, "LV") == list(LEVELS)
    assert _lua_table(src, "SEV") == [SEVERITY_OF_LEVEL[lv] for lv in LEVELS]
    for ev in re.findall(r"alarm\('(\w+)'", src):
        assert ev in set(Event)


def test_both_sides_name_the_same_stream_and_tables():
    assert keys.ALARMS == incident_keys.ALARMS == contracts.ALARMS_STREAM
    assert tuple(SEVERITY_OF_LEVEL[lv] for lv in LEVELS) == incident_defaults.SEVERITIES
    assert base.LEVELS is LEVELS and base.SEVERITY is SEVERITY_OF_LEVEL   # sensors take them
    assert [Level(lv).number for lv in LEVELS] == [1, 2, 3, 4]
    assert contracts.severity_of({Field.LEVEL: "red"}) == "特别重大"
    assert contracts.severity_of({Field.SEVERITY: "bogus", Field.LEVEL: "yellow"}) == "较大"


@pytest.mark.also_on_cluster   # issue 20: ingest.lua → om:{city}:alarms → apply.lua on one slot
def test_an_alarm_goes_from_the_producer_through_redis_into_an_incident(
        redis_client, demo_city, compiled):
    clock = Clock()
    producer = IngestWorker(redis_client, compiled, "mqtt://127.0.0.1:1", clock=clock)
    svc = IncidentService(redis_client, demo_city, clock=clock)
    consumer = AlarmIntake(svc, consumer="contract-test")
    dev = "gas-0001"

    def send(*values: float) -> None:
        for v in values:
            clock.t += 1
            producer.process([(topics.telemetry("gas", dev),
                               json.dumps(reading(int(clock.t * 1000), lel_pct=v)).encode())])

    send(1.0, 30.0, 31.0, 32.5)                     # over the orange limit (25 %LEL)
    entries = [f for _, f in redis_client.xrange(contracts.ALARMS_STREAM)]
    assert [(f[Field.EVENT], f[Field.LEVEL], f[Field.SOURCE]) for f in entries] == [
        (Event.RAISE, Level.ORANGE, Source.IOT)]
    assert list(entries[0]) == list(ALARM_FIELDS)
    assert consumer.poll(block_ms=None) == 1
    inc_id = svc.reported_with(SYSTEM, episode_key(entries[0][Field.EPISODE]))
    inc = svc.get(inc_id, SYSTEM)
    assert (inc.severity, inc.category, inc.channel) == (
        SEVERITY_OF_LEVEL[Level.ORANGE], entries[0][Field.CATEGORY], "iot")

    send(55.0, 56.0, 57.0)                          # over the red limit (50 %LEL): a level entry
    entries = [f for _, f in redis_client.xrange(contracts.ALARMS_STREAM)]
    assert [(f[Field.EVENT], f[Field.LEVEL]) for f in entries[1:]] == [(Event.LEVEL, Level.RED)]
    assert consumer.poll(block_ms=None) == 1
    assert svc.get(inc_id, SYSTEM).severity == SEVERITY_OF_LEVEL[Level.RED] == "特别重大"
    assert consumer.stats.get("severity") == 1
