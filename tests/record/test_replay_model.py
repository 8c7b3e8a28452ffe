"""复盘 (E18, M37–M39; issue 20): the replay model — events of a window merged from the record and
the live store in their original order (each once), the scene at a replayed moment, the speeds,
and the scope of the one policy (a town sees only its own)."""

from __future__ import annotations

import pytest

from app.pg import connector
from app.screens.replay import model
from incidents.record.archiver import Archiver
from incidents.record.episodes import AlarmEpisodeCopier

from .replaykit import STEP_S, scenario


def _load(svc, url: str | None, since: float, until: float, viewer):  # noqa: ANN001
    parts = [model.from_live(svc.r, svc.store.load_many, since, until)]
    if url:
        import psycopg  # noqa: PLC0415

        with psycopg.connect(url) as c:
            parts.insert(0, model.from_record(c, since, until))
    return model.events_of(model.merge(parts), viewer, since, until)


def test_record_and_live_merge_into_the_original_order_each_once(svc, who, here, clock,
                                                                 redis_client, record_url,
                                                                 demo_city):
    from tests.incidents.conftest import point_in  # noqa: PLC0415

    elsewhere = next(p for p in (point_in(demo_city, i) for i in range(len(demo_city.cells) - 1, 0, -1))
                     if p.town != here.town)
    since = clock()
    expected, ids = scenario(svc, who, clock, here, elsewhere, steps=5)
    # the first part reaches the record; what follows is only in Redis (not archived yet)
    Archiver(redis_client, connector(record_url, "t")).drain()
    AlarmEpisodeCopier(redis_client, connector(record_url, "e")).drain()
    more, _ = scenario(svc, who, clock, here, elsewhere, steps=8)
    until = clock() + 1
    evs = _load(svc, record_url, since, until, who.city_sup)
    keys_ = [e.key for e in evs]
    assert len(keys_) == len(set(keys_))
    assert set(expected) <= set(keys_)
    # the original order: by time, a case's entries in its trail's order
    assert [k for k in keys_ if k in set(expected)] == expected
    assert [e.ts for e in evs] == sorted(e.ts for e in evs)
    # the record alone (Redis flushed) still replays the archived part
    redis_client.flushall()
    only_record = [e.key for e in _load(svc, record_url, since, until, who.city_sup)]
    assert only_record == expected


def test_the_scene_at_a_moment_and_the_speeds(svc, who, here, clock, demo_city):
    from tests.incidents.conftest import point_in  # noqa: PLC0415

    elsewhere = next(p for p in (point_in(demo_city, i) for i in range(len(demo_city.cells) - 1, 0, -1))
                     if p.town != here.town)
    since = clock()
    expected, ids = scenario(svc, who, clock, here, elsewhere)
    until = clock() + 1
    evs = _load(svc, None, since, until, who.city_sup)
    assert [e.key for e in evs] == expected
    # after step 4 (alarm elsewhere raised): both alarms on, one case accepted
    f = model.frame(evs, since, since + 4 * STEP_S + 0.5)
    assert [e.key for e in f.feed] == expected[:f.shown][::-1]
    assert {a["id"] for a in f.alarms} == {"ep-here", "ep-else"}
    assert [(q["id"], q["state"]) for q in f.queue] == [(ids[0], "accepted")]
    # after step 6 the first alarm is cleared; at the end three cases wait, oldest first
    assert {a["id"] for a in model.frame(evs, since, since + 6 * STEP_S + 0.5).alarms} == {"ep-else"}
    end = model.frame(evs, since, until)
    assert [q["id"] for q in end.queue] == ids and end.shown == len(expected)
    # playback: skips the empty lead-in, then speed × wall time, stopped at the window's end
    start = model.start_of(evs, since - 3600, until)
    assert start == evs[0].ts - model.LEAD_S
    for speed in model.SPEEDS:
        assert model.position(start, until, speed, 100.0, 102.0) == min(until, start + 2 * speed)
    assert model.position(start, until, 60, 100.0, 10_000.0) == until
    with pytest.raises(ValueError, match="倍速"):
        model.position(start, until, 5, 100.0, 101.0)
    with pytest.raises(ValueError, match="时间格式"):
        model.window(None, "昨天", "今天", until)
    with pytest.raises(ValueError, match="晚于"):
        model.window(None, "2026-12-07 09:00", "2026-12-07 08:00", until)
    assert model.window(3600, None, None, until) == (until - 3600, until)


def test_a_town_replays_only_its_own(svc, who, here, clock, demo_city):
    from tests.incidents.conftest import point_in  # noqa: PLC0415

    elsewhere = next(p for p in (point_in(demo_city, i) for i in range(len(demo_city.cells) - 1, 0, -1))
                     if p.town != here.town)
    since = clock()
    expected, ids = scenario(svc, who, clock, here, elsewhere)
    until = clock() + 1
    mine = _load(svc, None, since, until, who.town)
    theirs = _load(svc, None, since, until, who.other_town)
    assert {e.ref for e in mine} == {ids[0], ids[2], "ep-here"}
    assert {e.ref for e in theirs} == {ids[1], "ep-else"}
    assert {e.town_code for e in mine} == {here.town}
    # the city sees everything; an administrator (no incident reading) nothing
    assert [e.key for e in _load(svc, None, since, until, who.commander)] == expected
    assert _load(svc, None, since, until, who.admin) == []
