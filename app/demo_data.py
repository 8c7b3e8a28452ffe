"""Demo data: a plausible few weeks of closed-loop work, so the demo's screens are not empty.

Written through the real ``IncidentService`` with a clock moved through the past (every case
gets its full audit trail): some stages late, some cases still open, a few reopened after a failed
verification (核查不通过), callbacks (回访) giving 2–5 stars. Demo data only: labelled as such.
"""

from __future__ import annotations

import random
import time

import redis

from app import keys
from grid.model import City
from incidents.actor import Actor
from incidents.service import IncidentService

# Everyday categories a grid worker finds on patrol (grid.categories).
PATROL_CATEGORIES = ("0101", "0104", "0105", "0106", "0107", "0108", "0102", "0601", "0602",
                     "1001", "0201", "0302")


def populate(r: redis.Redis, city: City, n: int = 160, days: int = 20, seed: int = 7,
             open_share: float = 0.0) -> list[str]:
    """Report ``n`` incidents spread over the past ``days`` and work them through the loop.

    Each town gets its own "skill" (how fast and how well it works) so that the assessment
    ranking spreads. ``open_share``: fraction of the last cases left open at a random stage.
    Returns the incident ids.
    """
    rng = random.Random(seed)
    t = [time.time() - days * 86400]
    svc = IncidentService(r, city, clock=lambda: t[0])
    towns = list(city.towns["code"])
    skill = {tc: rng.uniform(0.3, 1.0) for tc in towns}
    ids: list[str] = []
    start = t[0]
    for k in range(n):
        town = rng.choice(towns)
        s = skill[town]
        cells = city.cells[city.cells["town_code"] == town]
        cell = cells.iloc[rng.randrange(len(cells))]
        p = cell.geometry.representative_point()
        worker = Actor(str(cell["worker_id"]), "grid_worker", f"T{town}", "网格员", str(cell["code"]))
        op = Actor(f"op-{town}", "town_operator", f"T{town}", "值班员")
        sup = Actor(f"sup-{town}", "supervisor", f"T{town}", "核查员")
        t[0] = start + (k / n) * (days - 1) * 86400 + rng.uniform(0, 3600)
        inc = svc.report(worker, rng.choice(PATROL_CATEGORIES), p.x, p.y, description="巡查发现",
                         correlate=False)
        ids.append(inc.id)
        stop_at = rng.randrange(6) if k >= n * (1 - open_share) else 99
        try:
            _work(svc, city, inc.id, op, sup, s, rng, t, stop_at)
        except Exception:  # noqa: BLE001 (a path the rules refuse: leave that case where it is)
            continue
    return ids


def _work(svc: IncidentService, city: City, inc_id: str, op: Actor, sup: Actor, s: float,
          rng: random.Random, t: list[float], stop_at: int) -> None:
    """Take one case through accept → dispatch → handle → verify → close → callback."""
    category = svc.get(inc_id, op).category
    t[0] += rng.uniform(60, 1500 / s)
    svc.accept(inc_id, op)
    if stop_at == 0 or rng.random() < 0.05:
        return
    t[0] += rng.uniform(60, 2400 / s)
    dept = city.department_for(category)
    dcode = dept.code if dept else "CG"
    svc.dispatch(inc_id, op, [dcode])
    dop = Actor(f"d-{dcode}", "dept_operator", f"D{dcode}", "部门")
    if stop_at == 1 or rng.random() < 0.08:
        return
    t[0] += rng.uniform(300, 3600)
    svc.start(inc_id, dop)
    if stop_at == 2:
        return
    t[0] += rng.uniform(1800, 100000 / s)
    svc.handle(inc_id, dop, note="已处置")
    if stop_at == 3:
        return
    t[0] += rng.uniform(600, 9000)
    passed = rng.random() < 0.75 + 0.2 * s
    svc.verify(inc_id, sup, passed=passed)
    if not passed:
        t[0] += rng.uniform(3600, 20000)
        svc.start(inc_id, dop)
        svc.handle(inc_id, dop, note="返工完成")
        t[0] += rng.uniform(600, 5000)
        svc.verify(inc_id, sup, passed=True)
    if stop_at == 4:
        return
    t[0] += rng.uniform(300, 3000)
    svc.close(inc_id, op)
    svc.callback(inc_id, op, satisfaction=max(1, min(5, round(rng.gauss(3 + 2 * s, 0.7)))))


def seed_once(r: redis.Redis, city: City, n: int = 400, days: int = 14) -> int:
    """Write the demo history the first time only (a marker key); returns how many were made."""
    if not r.set(keys.DEMO_SEEDED, str(time.time()), nx=True):
        return 0
    return len(populate(r, city, n=n, days=days, open_share=0.15))
