"""The ``om:alarms`` stream contract between sensors (producer) and incidents (consumer), once.

Why in ``grid/``: sensors and incidents are peers that never import each other, and both depend
on grid (the city model every package shares). The contract is a handful of words (the fields
of a stream entry, its events, sources and levels, and the level → severity table) and no
behaviour, so it belongs to the one package both sides may import; the alternative, a copy on
each side, is how the two drifted before.

The producer is ``sensors/scripts/ingest.lua`` (rules, S9) and ``sensors/scripts/health.lua``
(device faults, S4), run by ``sensors.ingest``/``sensors.health``; Lua cannot import Python, so
``tests/sensors/test_alarm_contract.py`` reads both scripts and checks that they write exactly
``ALARM_FIELDS`` in this order, the level names of ``LEVELS`` and the severities of
``SEVERITY_OF_LEVEL``; it also drives a real alarm from the producer through a real Redis stream
into ``incidents.intake`` (the consumer). ``sensors.kinds.base`` takes its level tables from here.

Each name is a ``str`` enum: a member *is* its stored string (``Field.SEVERITY == "severity"``),
so the stream, JSON and Lua keep plain strings while code names the word.
"""

from __future__ import annotations

from enum import StrEnum


def __getattr__(name: str) -> str:  # noqa: N807 (PEP 562: spelled under the current city)
    """``ALARMS_STREAM``: the stream (``sensors.keys.ALARMS``, ``om:alarms``; ``om:{<city>}:alarms``
    on a tagged keyspace, grid/keyspace.py); incidents read it in consumer group ``intake``."""
    if name == "ALARMS_STREAM":
        from grid import keyspace  # noqa: PLC0415

        return keyspace.city() + "alarms"
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class Field(StrEnum):
    """Fields of one ``om:alarms`` entry, in the order the producer writes them."""

    EPISODE = "episode"          # alarm episode id: the incident's idempotency key
    EVENT = "event"              # Event
    SOURCE = "source"            # Source
    DEVICE_ID = "device_id"
    DEVICE_TYPE = "device_type"  # a sensor kind's name (sensors/kinds) or "camera"
    CATEGORY = "category"        # incident category code (grid.categories)
    LEVEL = "level"              # Level
    SEVERITY = "severity"        # SEVERITY_OF_LEVEL[level]
    METRIC = "metric"
    VALUE = "value"
    UNIT = "unit"
    THRESHOLD = "threshold"
    LON = "lon"
    LAT = "lat"
    CELL_CODE = "cell_code"
    TOWN_CODE = "town_code"
    TS = "ts"                    # epoch ms of the reading
    MESSAGE = "message"          # Chinese text for operators
    SNAPSHOT_URL = "snapshot_url"


ALARM_FIELDS: tuple[str, ...] = tuple(Field)
"""Every field of an entry, in the producer's order."""


class Event(StrEnum):
    """What happened to an episode: raised (a new incident), level changed, cleared."""

    RAISE = "raise"
    LEVEL = "level"
    CLEAR = "clear"


class Source(StrEnum):
    """Where the alarm came from; the incident's channel has the same name (incidents.vocab)."""

    IOT = "iot"                    # 物联感知: a threshold rule
    VIDEO_AI = "video_ai"          # 视频AI: a detection
    DEVICE_FAULT = "device_fault"  # 设备故障: a silent device


class Level(StrEnum):
    """Alarm levels 蓝/黄/橙/红 (预警等级, GB/T 35965 colours); ``number`` is 1..4."""

    BLUE = "blue"
    YELLOW = "yellow"
    ORANGE = "orange"
    RED = "red"

    @property
    def number(self) -> int:
        return LEVELS.index(self) + 1

    @property
    def cn(self) -> str:
        return LEVEL_CN[self]


LEVELS: tuple[str, ...] = tuple(Level)
"""Levels from the least to the most severe (index + 1 = level number 1..4)."""

LEVEL_CN: dict[str, str] = {Level.BLUE: "蓝色", Level.YELLOW: "黄色", Level.ORANGE: "橙色",
                            Level.RED: "红色"}

SEVERITY_OF_LEVEL: dict[str, str] = {Level.BLUE: "一般", Level.YELLOW: "较大",
                                     Level.ORANGE: "重大", Level.RED: "特别重大"}
"""The incident severity (IV..I 级, incidents.defaults.SEVERITIES) an alarm level becomes."""


def severity_of(entry: dict) -> str | None:
    """The severity an entry asks for: its ``severity`` field if it is one of the table's, else
    the table's value for its ``level``; None when neither is known."""
    sev = entry.get(Field.SEVERITY) or ""
    if sev in SEVERITY_OF_LEVEL.values():
        return sev
    return SEVERITY_OF_LEVEL.get(entry.get(Field.LEVEL) or "")


__all__ = ["ALARM_FIELDS", "LEVELS", "LEVEL_CN", "SEVERITY_OF_LEVEL", "Event",
           "Field", "Level", "Source", "severity_of"]
