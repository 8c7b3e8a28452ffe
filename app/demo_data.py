"""Demo data: a plausible few weeks of closed-loop work, so the demo's screens are not empty.

Written through the real ``IncidentService`` with a clock moved through the past (every case
gets its full audit trail): some stages late, some cases still open, a few reopened after a failed
verification (核查不通过), callbacks (回访) giving 2–5 stars. Demo data only: labelled as such.

The history runs up to the moment it is written (its newest reports minutes old), with a daily
rhythm in Beijing time (more by day than at night), so the wall's 24-hour chart and the
assessment have a filled recent past. No step of a case lies after that moment: the recent
cases are left open where the clock stopped them.
"""

from __future__ import annotations

import datetime as dt
import random
import time

import redis

from app import keys
from app.timefmt import CST
from grid.model import City
from incidents.actor import Actor
from incidents.errors import IncidentError
from incidents.service import IncidentService

# Everyday categories a grid worker finds on patrol (grid.categories).
PATROL_CATEGORIES = ("0101", "0104", "0105", "0106", "0107", "0108", "0102", "0601", "0602",
                     "1001", "0201", "0302")

HOURLY_RHYTHM = (0.12, 0.08, 0.06, 0.06, 0.08, 0.15, 0.35, 0.7, 1.1, 1.35, 1.4, 1.3,
                 1.0, 0.95, 1.2, 1.35, 1.35, 1.2, 1.0, 0.85, 0.7, 0.5, 0.3, 0.2)
"""Relative rate of reports in each hour of the day, Beijing time (00时 … 23时): patrols and
calls by day, few at night. Demo default."""


RECENT_S = 3 * 86400
"""Cases reported in the last 3 days may be left anywhere in the loop (5 % after 受理, 8 % after
派遣); older ones went through (demo default)."""


def report_times(rng: random.Random, n: int, since: float, until: float) -> list[float]:
    """``n`` report times in [since, until], oldest first, following ``HOURLY_RHYTHM`` (CST);
    the newest is ``until`` itself (the history reaches the moment it ends)."""
    if n <= 0:
        return []
    top = max(HOURLY_RHYTHM)
    out: list[float] = []
    while len(out) < n - 1:
        ts = rng.uniform(since, until)
        if rng.random() * top < HOURLY_RHYTHM[dt.datetime.fromtimestamp(ts, CST).hour]:
            out.append(ts)
    return sorted(out) + [until]


def populate(r: redis.Redis, city: City, n: int = 160, days: int = 20, seed: int = 7,
             open_share: float = 0.0, now: float | None = None) -> list[str]:
    """Report ``n`` incidents spread over the ``days`` before ``now`` (default: this moment),
    the newest a few minutes old, and work them through the loop up to ``now``.

    Each town gets its own "skill" (how fast and how well it works) so that the assessment
    ranking spreads. ``open_share``: fraction of the last cases left open at a random stage
    (the newest ones are open anyway: their next step would lie after ``now``).
    Returns the incident ids.
    """
    rng = random.Random(seed)
    now = time.time() if now is None else now
    t = [now - days * 86400]
    svc = IncidentService(r, city, clock=lambda: t[0])
    towns = list(city.towns["code"])
    skill = {tc: rng.uniform(0.3, 1.0) for tc in towns}
    ids: list[str] = []
    times = report_times(rng, n, now - days * 86400, now - rng.uniform(120, 1800))
    for k in range(n):
        town = rng.choice(towns)
        s = skill[town]
        cells = city.cells[city.cells["town_code"] == town]
        cell = cells.iloc[rng.randrange(len(cells))]
        p = cell.geometry.representative_point()
        worker = Actor(str(cell["worker_id"]), "grid_worker", f"T{town}", "网格员", str(cell["code"]))
        op = Actor(f"op-{town}", "town_operator", f"T{town}", "值班员")
        sup = Actor(f"sup-{town}", "supervisor", f"T{town}", "核查员")
        t[0] = times[k]
        inc = svc.report(worker, rng.choice(PATROL_CATEGORIES), p.x, p.y, description="巡查发现",
                         correlate=False)
        ids.append(inc.id)
        stop_at = rng.randrange(6) if k >= n * (1 - open_share) else 99
        # a case of the last days may still be waiting anywhere; an old one was worked through
        # (a history full of two-week-old cases stuck after 受理 is a backlog the deadline
        # worker escalates to the city the moment the demo starts)
        recent = now - times[k] < RECENT_S
        try:
            _work(svc, city, inc.id, op, sup, s, rng, t, stop_at, now, recent)
        except IncidentError:  # a path the rules refuse: leave that case where it is
            continue
    return ids


def _work(svc: IncidentService, city: City, inc_id: str, op: Actor, sup: Actor, s: float,
          rng: random.Random, t: list[float], stop_at: int, until: float = float("inf"),
          recent: bool = True) -> None:
    """Take one case through accept → dispatch → handle → verify → close → callback, as far
    as the clock gets before ``until`` (a step that would lie after it is not taken)."""
    category = svc.get(inc_id, op).category

    def later(lo: float, hi: float) -> bool:
        """Move the clock on; False when that is past ``until`` (the case stays where it is)."""
        t[0] += rng.uniform(lo, hi)
        return t[0] <= until

    if not later(60, 1500 / s):
        return
    svc.accept(inc_id, op)
    if stop_at == 0 or (rng.random() < 0.05 and recent):
        return
    if not later(60, 2400 / s):
        return
    dept = city.department_for(category)
    dcode = dept.code if dept else "CG"
    svc.dispatch(inc_id, op, [dcode])
    dop = Actor(f"d-{dcode}", "dept_operator", f"D{dcode}", "部门")
    if stop_at == 1 or (rng.random() < 0.08 and recent):
        return
    if not later(300, 3600):
        return
    svc.start(inc_id, dop)
    if stop_at == 2:
        return
    if not later(1800, 100000 / s):
        return
    svc.handle(inc_id, dop, note="已处置")
    if stop_at == 3:
        return
    if not later(600, 9000):
        return
    passed = rng.random() < 0.75 + 0.2 * s
    svc.verify(inc_id, sup, passed=passed)
    if not passed:
        if not later(3600, 20000):
            return
        svc.start(inc_id, dop)
        svc.handle(inc_id, dop, note="返工完成")
        if not later(600, 5000):
            return
        svc.verify(inc_id, sup, passed=True)
    if stop_at == 4:
        return
    if not later(300, 3000):
        return
    svc.close(inc_id, op)
    svc.callback(inc_id, op, satisfaction=max(1, min(5, round(rng.gauss(3 + 2 * s, 0.7)))))


def seed_once(r: redis.Redis, city: City, n: int = 400, days: int = 14,
              now: float | None = None) -> int:
    """Write the demo history the first time only (a marker key); returns how many were made.
    The history ends at the moment of seeding (``now``, default this moment)."""
    now = time.time() if now is None else now
    if not r.set(keys.DEMO_SEEDED, str(now), nx=True):
        return 0
    # 5 % left open at a random stage: a few late cases to show, not a backlog that the deadline
    # worker escalates to the city all at once when the demo starts (0.15 put ~35 two-week-old
    # cases into the city's 待办 before the first scenario)
    return len(populate(r, city, n=n, days=days, open_share=0.05, now=now))


DEMO_ROSTER_ROLES: dict[str, str] = {"city_commander": "leader", "city_operator": "officer",
                                     "town_operator": "officer", "dept_operator": "officer"}
"""Duty role (incidents.duty) each demo account stands at its own center: the 市指挥长 leads
the city's watch (带班领导), the operators are its 值班员 (demo default)."""


def seed_roster(r: redis.Redis, city: City, now: float | None = None) -> int:
    """值班值守 for the demo (issue 17, X34a): today's and tomorrow's 24-hour watches (Beijing
    days) at the demo accounts' centers, and their contacts (demo numbers, labelled), so a new
    case reaches someone. A shift already there is left as it is (an admin's swap or leave
    survives a restart). Returns how many shifts were written."""
    from app.users import demo_accounts  # noqa: PLC0415
    from incidents.duty import Roster, Shift, shift_id  # noqa: PLC0415
    from incidents.notify import Contacts  # noqa: PLC0415

    now = time.time() if now is None else now
    day0 = dt.datetime.fromtimestamp(now, CST).replace(hour=0, minute=0, second=0, microsecond=0)
    members: dict[str, dict[str, list[str]]] = {}
    contacts = Contacts(r)
    for n, acc in enumerate(demo_accounts(city), start=1):
        role = DEMO_ROSTER_ROLES.get(acc["role"])
        if role is None:
            continue
        watch = members.setdefault(acc["center"], {"leader": [], "chief": [], "officer": []})
        watch[role].append(acc["user_id"])
        if not contacts.get(acc["user_id"]):
            contacts.set(acc["user_id"], name=acc["name"], phone=f"1380000{n:04d}",
                         email=f"{acc['user_id']}@demo.onemap.invalid")   # demo contacts
    roster = Roster(r, clock=lambda: now)
    new = []
    for d in (0, 1):
        start = (day0 + dt.timedelta(days=d)).timestamp()
        for center, m in members.items():
            sid = shift_id(center, start)
            if roster.shift(center, sid) is None:
                new.append(Shift(sid, center, start, start + 86400, m))
    if new:
        roster.add(new, by="demo", what="demo")
    return len(new)
