"""A short scenario for 复盘 tests (issue 20): alarms and cases interleaved, ``STEP_S`` apart on
an injected clock, in two towns; returns the event keys in their original order."""

from __future__ import annotations

import redis

from grid.contracts import ALARMS_STREAM
from incidents import keys
from incidents.audit import timeline
from incidents.service import IncidentService
from tests.incidents.conftest import Actors, Clock, Place

STEP_S = 10.0


def alarm(r: redis.Redis, ep: str, event: str, p: Place, ts: float, level: str = "orange") -> str:
    """One ``om:alarms`` entry as the rule engine writes it."""
    r.xadd(ALARMS_STREAM, {"episode": ep, "event": event, "source": "iot", "device_id": f"D-{ep}",
                           "device_type": "water_level", "category": "0306", "level": level,
                           "severity": "较大", "metric": "level", "value": "12.3", "unit": "m",
                           "threshold": "12.0", "lon": f"{p.lon:.6f}", "lat": f"{p.lat:.6f}",
                           "cell_code": p.cell, "town_code": p.town, "ts": str(int(ts * 1000)),
                           "message": "水位超过警戒水位"})
    return f"a|{ep}|{event}"


def scenario(svc: IncidentService, who: Actors, clock: Clock, here: Place, elsewhere: Place,
             steps: int = 8) -> tuple[list[str], list[str]]:
    """(event keys in order, case ids). Steps: alarm raised here, a case reported here, accepted,
    an alarm elsewhere, a case reported elsewhere, the first alarm cleared, the first case
    registered, a second case here."""
    r = svc.r
    ids: list[str] = []
    done: list[tuple[float, str]] = []

    def tick() -> float:
        clock.advance(STEP_S)
        return clock()

    plan = [
        lambda: done.append((clock(), alarm(r, "ep-here", "raise", here, clock()))),
        lambda: ids.append(svc.report(who.worker, "0107", here.lon, here.lat, correlate=False,
                                      description="垃圾满溢").id),
        lambda: svc.accept(ids[0], who.town),
        lambda: done.append((clock(), alarm(r, "ep-else", "raise", elsewhere, clock(), "red"))),
        lambda: ids.append(svc.report(who.other_worker, "0108", elsewhere.lon, elsewhere.lat,
                                      correlate=False, description="道路破损").id),
        lambda: done.append((clock(), alarm(r, "ep-here", "clear", here, clock()))),
        lambda: svc.register(ids[0], who.town),
        lambda: ids.append(svc.report(who.worker, "0107", here.lon, here.lat, correlate=False,
                                      description="又一处").id),
    ][:steps]
    for step in plan:
        tick()
        step()
    for i in ids:
        done += [(e["ts"], f"i|{i}|{e['entry']}") for e in timeline(r, i)
                 if not str(e.get("action", "")).startswith("denied")]
    assert r.exists(keys.incident(ids[0]))
    return [k for _, k in sorted(done)], ids
