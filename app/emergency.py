"""应急指挥 composed (issue 16; X23, X19, T5): the process's plan book and responses over an
``AppContext``, and the demo's background sweep.

``responses_for(ctx)``: the ``PlanBook`` (what plans may name: the city, the situation families,
the sensor kinds' alarm rules) and the ``Responses`` over the context's incident service; the
demo city's plans (高州市, each labelled demo) are imported when none is stored yet. The API
(``app.http.emergency_plans``) and the screens use one per server; the demo imports the plans at
start (``import_demo_plans``) and runs ``sweep_loop`` in a thread (``app.workers``); so does every
production dispatch worker (``onemap dispatch``, ``start_sweep``): the member units' tasks of
every active response are given even after a crash between an activation and its tasks
(``Responses.sweep`` is idempotent, safe beside other workers), and the trail notes of resource
dispatch steps a crash left unwritten are written (``ResourceDispatch.sweep``, once each). The
board's states (已签收/已完成/已超时) are read from the tasks' cases when the board is read.
"""

from __future__ import annotations

import logging
import threading

from app.context import AppContext
from incidents.actor import SYSTEM
from incidents.emergency.plans import Known, PlanBook
from incidents.emergency.response import Responses

log = logging.getLogger("onemap")

DEMO_CITY = "高州市"
"""The city the demo plans are written for (their units and towns are its own)."""
SWEEP_EVERY_S = 15.0
"""How often the demo's loop gives missing response tasks (a crash mid-activation is rare; a
quarter of a minute is well inside the shortest task deadline of the demo plans, 30 min)."""


def responses_for(ctx: AppContext) -> Responses:
    """The plan book and responses over ``ctx`` (the demo city's plans imported when none is
    stored yet, labelled demo)."""
    from sensors.kinds import KINDS  # noqa: PLC0415 (app composes sensors and incidents)

    s = ctx.incidents
    rules = frozenset({k.name for k in KINDS.values()}
                      | {f"{k.name}.{r.metric}" for k in KINDS.values() for r in k.rules})
    known = Known(ctx.city, frozenset(f.name for f in s.config.situations), rules)
    book = PlanBook(s.r, known, s.policy, s.clock)
    if not book.all() and ctx.city.name == DEMO_CITY:
        book.load_demo(SYSTEM)
    return Responses(s, book, kind_of=ctx.devices.device_type)


_ROADS: dict[str, object] = {}
_ROADS_LOCK = threading.Lock()


def roads_for(ctx: AppContext):  # noqa: ANN201 (grid.roads.RoadNetwork | None)
    """The configured road network (``road_network``, read once per process), or None: then
    一键调度 ranks by straight-line distance and says so. A file that cannot be read is logged
    (a warning naming the file and why) and straight-line is used: never a crash."""
    path = ctx.settings.road_network
    if not path:
        return None
    key = str(path)
    with _ROADS_LOCK:
        if key not in _ROADS:
            from grid.roads import RoadNetwork  # noqa: PLC0415

            try:
                _ROADS[key] = RoadNetwork.from_geojson(path)
                log.info("road network %s: %d nodes", key, _ROADS[key].graph.number_of_nodes())
            except (OSError, ValueError, KeyError, TypeError) as exc:
                log.warning("road network %s unusable, straight-line distances: %s", key, exc)
                _ROADS[key] = None
        return _ROADS[key]


def import_demo_plans(ctx: AppContext) -> int:
    """The demo's start: the demo plans stored (idempotent: unchanged files store nothing).
    Returns how many plans the book holds."""
    return len(responses_for(ctx).plans.all())


def sweep_once(rs: Responses, rd: object | None = None) -> dict[str, int]:
    """One pass: the missing response tasks given, the missing dispatch notes written."""
    out = {"tasks": rs.sweep(), "notes": 0}
    if rd is not None:
        out["notes"] = rd.sweep()  # type: ignore[attr-defined]
    return out


def sweep_loop(ctx: AppContext, stop: threading.Event, every_s: float = SWEEP_EVERY_S,
               stats: dict | None = None) -> None:
    """Sweep (``sweep_once``) at once and then every ``every_s`` until ``stop``; an error is
    logged and counted and the loop goes on (a worker never stops on one bad response).
    ``stats`` (the heartbeat's): passes, tasks given, notes written, errors."""
    from incidents.emergency.dispatch import ResourceDispatch  # noqa: PLC0415

    stats = stats if stats is not None else {}
    rs = responses_for(ctx)
    rd = ResourceDispatch(ctx.incidents, ctx.resource_register, roads=roads_for(ctx))
    while not stop.is_set():
        try:
            got = sweep_once(rs, rd)
            stats["em_sweeps"] = stats.get("em_sweeps", 0) + 1
            stats["em_tasks_given"] = stats.get("em_tasks_given", 0) + got["tasks"]
            stats["em_notes_written"] = stats.get("em_notes_written", 0) + got["notes"]
            if got["tasks"] or got["notes"]:
                log.info("emergency sweep: %d response task(s) given, %d dispatch note(s) written",
                         got["tasks"], got["notes"])
        except Exception as e:  # noqa: BLE001 (one bad response must not stop the loop)
            stats["em_sweep_errors"] = stats.get("em_sweep_errors", 0) + 1
            log.warning("emergency sweep failed: %s", e)
        stop.wait(every_s)


def start_sweep(ctx: AppContext, stop: threading.Event, stats: dict | None = None,
                every_s: float = SWEEP_EVERY_S) -> threading.Thread:
    """The emergency sweep in a daemon thread of a dispatch worker (``onemap dispatch``)."""
    t = threading.Thread(target=sweep_loop, args=(ctx, stop, every_s, stats), name="emergency",
                         daemon=True)
    t.start()
    return t


__all__ = ["DEMO_CITY", "SWEEP_EVERY_S", "import_demo_plans", "responses_for", "roads_for", "start_sweep",
           "sweep_loop", "sweep_once"]
