"""Alarm episodes in the record (issue 20, E18 复盘): the ``om:alarms`` events of an episode
(raise, level, clear; the contract of grid.contracts, as sensors' ingest writes them) folded
into one row — highest level, first start, last clear, its point — the same whatever the order
and however often the events arrive."""

from __future__ import annotations

import psycopg
import pytest

from app.pg import connector
from grid.contracts import ALARMS_STREAM, Field
from incidents.record.episodes import AlarmEpisodeCopier

T = 1_795_000_000_000       # ms


def event(r, episode: str, kind: str, level: str, dt_s: int) -> None:  # noqa: ANN001
    r.xadd(ALARMS_STREAM, {Field.EPISODE: episode, Field.EVENT: kind, Field.SOURCE: "iot",
                           Field.DEVICE_ID: "WL-001", Field.DEVICE_TYPE: "water_level",
                           Field.LEVEL: level, Field.METRIC: "level_m", Field.VALUE: "3.2",
                           Field.LON: "110.9", Field.LAT: "21.9", Field.TS: str(T + dt_s * 1000)})


def test_episode_events_fold_into_one_row_in_any_order_and_twice(redis_client, record_url):
    event(redis_client, "E1", "raise", "yellow", 0)
    event(redis_client, "E1", "level", "red", 60)
    event(redis_client, "E1", "level", "orange", 120)
    event(redis_client, "E1", "clear", "orange", 600)
    event(redis_client, "E2", "clear", "", 900)          # the clear first, its raise after
    event(redis_client, "E2", "raise", "blue", 300)
    copier = AlarmEpisodeCopier(redis_client, connector(record_url), batch=2)
    assert copier.drain() == 6

    def rows() -> list[tuple]:
        with psycopg.connect(record_url) as c:
            return c.execute("SELECT id, level, extract(epoch FROM started_at), "
                             "extract(epoch FROM cleared_at), ST_X(geom), record->>'event' "
                             "FROM alarm_episodes ORDER BY id").fetchall()

    first = rows()
    assert [(i, lv, float(s), float(c), x, ev) for i, lv, s, c, x, ev in first] == [
        ("E1", "red", T / 1000, T / 1000 + 600, pytest.approx(110.9), "raise"),
        ("E2", "blue", T / 1000 + 300, T / 1000 + 900, pytest.approx(110.9), "raise")]
    redis_client.xgroup_setid(ALARMS_STREAM, copier.group, "0")          # every event again
    assert AlarmEpisodeCopier(redis_client, connector(record_url), consumer="b").drain() == 6
    assert rows() == first
