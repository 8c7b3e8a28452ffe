"""推演 composed (issue 16, X3): the simulator's scenarios as an exercise's triggers, and the
exercise runs over an ``AppContext`` (``incidents.emergency.exercise``).

``scenario_alarms`` runs a scenario of ``sensors.simulator`` (flood / fire / outage) over the
scenario town's devices in simulated time, with no broker and nothing published: each reading
the kinds' behaviour gives under the scenario is checked against the kind's value rules (the
device's own thresholds first, as ingest does), and each device's highest level reached is one
alarm, in the ``om:alarms`` entry's fields (device_type, metric, level, category, town_code,
lon, lat). These alarms exist only in the exercise's log: the real ingest, alarms and cases
never see them. (Ingest's hysteresis and minimum duration are not replayed: a scenario's alarms
are the levels its readings reach.)
"""

from __future__ import annotations

import json
import logging

from app.context import AppContext
from incidents.emergency.exercise import Exercises

log = logging.getLogger("onemap")

SCENARIO_SPAN_S = 600.0
"""Simulated time a scenario runs for an exercise (past its ramp-up: ``simulator.RAMP_S``)."""
SCENARIO_STEP_S = 30.0


def _level(rule, value: float, thresholds) -> str:  # noqa: ANN001 (sensors.kinds.base.Rule)
    """The highest level (blue..red) whose limit ``value`` crosses, '' when none."""
    from sensors.kinds.base import LEVELS  # noqa: PLC0415

    got = ""
    for lv, t in zip(LEVELS, thresholds, strict=False):
        if t is None:
            continue
        if (value >= t) if rule.direction == "above" else (value <= t):
            got = lv
    return got


def scenario_alarms(registry, name: str, town: str | None = None, seed: int = 0,  # noqa: ANN001
                    span_s: float = SCENARIO_SPAN_S, start: float = 0.0) -> tuple[str, list[dict]]:
    """(the scenario's town, its alarms): scenario ``name`` of the simulator run for ``span_s``
    of simulated time over the town's devices, nothing published (see the module docstring)."""
    from sensors.kinds.base import LEVELS  # noqa: PLC0415
    from sensors.simulator import Simulator  # noqa: PLC0415

    t = [start]
    readings: list[tuple[object, dict]] = []

    class _Dry(Simulator):
        """The simulator with its output kept here instead of published."""

        def _payload(self, d, now, metrics):  # noqa: ANN001, ANN202
            readings.append((d, dict(metrics)))
            return b""

        def _publish(self, topic, payload):  # noqa: ANN001, ANN202
            return None

    sim = _Dry(registry, "", rate=0, seed=seed, dropout_p=0.0, malformed_p=0.0, cameras=False,
               clock=lambda: t[0])
    sc = sim.run_scenario(name, town_code=town, duration_s=span_s + 3600.0)
    sim.devices = [d for d in sim.devices if d.town == sc.town_code]
    while t[0] <= start + span_s:
        sim.tick(t[0])
        t[0] += SCENARIO_STEP_S
    rows = {d: i for i, d in enumerate(registry.sensors["id"])}
    best: dict[tuple[str, str], dict] = {}
    for d, metrics in readings:
        meta_t = (d.meta or {}).get("thresholds", {})
        for rule in d.kind.rules:
            v = metrics.get(rule.metric)
            if rule.mode != "value" or not isinstance(v, int | float) or isinstance(v, bool):
                continue
            lv = _level(rule, float(v), meta_t.get(rule.id) or rule.thresholds)
            if not lv:
                continue
            k = (d.id, rule.id)
            if k in best and LEVELS.index(best[k]["level"]) >= LEVELS.index(str(getattr(lv, "value", lv))):
                continue
            row = registry.sensors.iloc[rows[d.id]]
            best[k] = {"device_id": d.id, "device_type": d.kind.name, "metric": rule.metric,
                       "rule": rule.id, "level": str(getattr(lv, "value", lv)), "value": float(v),
                       "category": rule.category or d.kind.category, "town_code": d.town,
                       "lon": float(row["lon"]), "lat": float(row["lat"]), "message": rule.label}
    return sc.town_code, sorted(best.values(), key=lambda a: (a["device_id"], a["rule"]))


def exercises_for(ctx: AppContext) -> Exercises:
    """The exercise runs over ``ctx``'s responses (their 推演 namespace) and resource register."""
    from app.emergency import responses_for  # noqa: PLC0415

    rs = responses_for(ctx)
    cfg = ctx.incidents.config

    def family_of(category: str) -> str:
        return next((f.name for f in cfg.situations if f.covers(category)), "")

    return Exercises(rs, ctx.resource_register, family_of)


def run(ctx: AppContext, actor, plan_id: str, scenario: str, town: str | None = None,  # noqa: ANN001
        seed: int = 0) -> dict:
    """``onemap exercise start``: the scenario's alarms, then the exercise run."""
    town, alarms = scenario_alarms(ctx.devices, scenario, town, seed)
    log.info("exercise: scenario %s in %s raised %d alarm(s)", scenario, town, len(alarms))
    return exercises_for(ctx).start(actor, plan_id, scenario, alarms, town=town,
                                    note=json.dumps({"seed": seed}))


__all__ = ["SCENARIO_SPAN_S", "exercises_for", "run", "scenario_alarms"]
