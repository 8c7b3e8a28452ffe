"""应急指挥 composed (issue 16; X23, X19, T5): the process's plan book and responses over an
``AppContext``, and the demo's background sweep.

``responses_for(ctx)``: the ``PlanBook`` (what plans may name: the city, the situation families,
the sensor kinds' alarm rules) and the ``Responses`` over the context's incident service; the
demo city's plans (高州市, each labelled demo) are imported when none is stored yet. The API
(``app.http.emergency_plans``) and the screens use one per server; the demo imports the plans at
start (``import_demo_plans``) and runs ``sweep_loop`` in a thread (``app.workers``): the member
units' tasks of every active response are given even after a crash between an activation and
its tasks (``Responses.sweep`` is idempotent, safe beside other workers).
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


def import_demo_plans(ctx: AppContext) -> int:
    """The demo's start: the demo plans stored (idempotent: unchanged files store nothing).
    Returns how many plans the book holds."""
    return len(responses_for(ctx).plans.all())


def sweep_loop(ctx: AppContext, stop: threading.Event, every_s: float = SWEEP_EVERY_S) -> None:
    """Give the missing tasks of every active response every ``every_s`` until ``stop``; an
    error is logged and the loop goes on (a worker never stops on one bad response)."""
    rs = responses_for(ctx)
    while not stop.is_set():
        try:
            made = rs.sweep()
            if made:
                log.info("emergency sweep: %d response task(s) given", made)
        except Exception as e:  # noqa: BLE001 (one bad response must not stop the loop)
            log.warning("emergency sweep failed: %s", e)
        stop.wait(every_s)


__all__ = ["DEMO_CITY", "SWEEP_EVERY_S", "import_demo_plans", "responses_for", "sweep_loop"]
