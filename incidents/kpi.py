"""KPIs per center (考核指标), kept incrementally by the same atomic script as each change.

Counters live in one hash per center per day (China Standard Time, UTC+8); recent stage
durations in a capped list for mean and p90. ``read`` sums the days (and, for the whole city,
the centers) asked for and derives the rates. Feeds the wall and the assessment (考核) page.

结案率 (``closure_rate``, ``human_closure_rate``, ``assessed_closure_rate``) is a cohort rate,
never above 100 %: of the cases received (assessed) on the window's days, the share closed so
far. A closure also counts ``*_cohort`` in the bucket of the day the case was received (a human
report's arrival, a machine case's acceptance), not of the closing day; a closed case reopened
(回访不满意) takes it back, so a case closed twice counts once, and a window's rate rises as its
cases close later. The flow counters (``closed``, ``closed_human``, ``assessed_closed``: closures
on the window's days, whenever received) stay: they are the 结案数. Days recorded before cohort
counting (no ``cohort_base`` in their hash) lack the closures made before it: ``read`` counts
their flow closures instead (plus their cases' cohort closures since), caps the window's rate at
100 % and says so in ``closure_basis`` (``flow``: only such days, ``mixed``): an old window reads
as it did, or 100 % where it read more. The day of the change itself counts as a cohort day and
may read low (its cases closed before the change are not in its cohort counters).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import orjson
import redis

from grid import keyspace
from incidents import defaults as D
from incidents import keys
from incidents.incident import TASK_OPEN, Incident, float_text
from incidents.lifecycle import PRE_DISPATCH
from incidents.vocab import Channel
from incidents.vocab import State as S

COUNTERS = ("received", "accepted", "accepted_on_time", "registered", "dispatched",
            "dispatched_on_time", "handled", "handled_on_time", "verified", "reopened", "closed",
            "voided", "escalated", "urged", "warned", "correlated", "satisfaction_sum",
            "satisfaction_n",
            # human-reported vs machine-generated (考核 on the bad day, issue 15): see MACHINE
            "received_human", "received_machine", "accepted_human", "accepted_human_on_time",
            "accepted_machine", "closed_human", "closed_machine", "assessed", "assessed_closed",
            # cohort closures, in the bucket of the day the case was received/assessed; and the
            # day's receipts and acceptances counted with them (> 0: a cohort-counted day)
            "closed_cohort", "closed_human_cohort", "assessed_closed_cohort", "cohort_base")
COHORT_RATES = {"closure_rate": ("closed_cohort", "closed", "received"),
                "human_closure_rate": ("closed_human_cohort", "closed_human", "received_human"),
                "assessed_closure_rate": ("assessed_closed_cohort", "assessed_closed", "assessed")}
"""rate: (cohort numerator, flow numerator of days recorded before it, denominator)."""
MACHINE = frozenset({Channel.IOT, Channel.VIDEO_AI, Channel.DEVICE_FAULT, Channel.EXTERNAL})
"""Machine-generated channels (物联感知, 视频AI, 设备故障, 外部预警): a case no person reported.

The assessment (考核) counts a human-reported case against the center that received it from the
moment it arrived; a machine case only from the moment a center accepted it (``assessed``: the
fair volume, ``assessed_closed``: its closures). A storm of 225 device-fault cases that nobody
accepted (or that the system closed as 自动恢复) ranks no town last. A machine case's closure is
the accepted case's outcome and goes to the center that closes it (the owner since acceptance,
unless it moved up: 上报/接管)."""


def is_machine(inc: Incident) -> bool:
    """Whether ``inc`` was machine-generated (its intake channel is one of ``MACHINE``)."""
    return inc.channel in MACHINE


def was_accepted(inc: Incident) -> bool:
    """Whether a person of a center accepted ``inc``: 受理 (it reached 已受理), or dispatched it
    straight from 上报 on the 应急模式 fast path. An admin-marked automatic rule's dispatch
    (routing: ``auto_dispatch``) is not a person accepting: the machine case stays unassessed."""
    return S.ACCEPTED in inc.times or (S.DISPATCHED in inc.times and bool(inc.emergency))


def accepted_ts(inc: Incident) -> float:
    """When a person first accepted ``inc`` (``was_accepted``; ``times`` keeps each state's
    first time): the day its ``assessed`` counted a machine case. 0 when nobody did."""
    ts = [t for t in (inc.times.get(S.ACCEPTED),
                      inc.times.get(S.DISPATCHED) if inc.emergency else None) if t]
    return min(ts) if ts else 0.0


STAGES = ("accept", "dispatch", "handle", "verify", "close", "total")


def day_of(ts: float) -> str:
    """The KPI day (yyyymmdd, China Standard Time) of an epoch time."""
    n = int((ts + D.KPI_DAY_OFFSET_S) // 86400)
    day = _DAYS.get(n)
    if day is None:   # strftime costs more than the rest of a KPI plan: once per day number
        day = _DAYS[n] = time.strftime("%Y%m%d", time.gmtime(n * 86400))
    return day


_DAYS: dict[int, str] = {}


class KpiPlan:
    """Collects KPI increments for one change; turned into commands for apply.lua (its ``KPI``
    and ``LCAP`` pseudo-commands: the day/center registrations and the trim of the durations
    list run only when needed, inside the script). A counter and its on-time counterpart share
    one ``KPI`` command."""

    __slots__ = ("now", "day", "cmds")

    def __init__(self, now: float) -> None:
        self.now = now
        self.day = day_of(now)
        self.cmds: list[Sequence[str]] = []

    def incr(self, center: str, counter: str, n: int = 1, also: str = "", also_n: int = 0,
             day: str = "") -> None:
        """``counter`` += n and ``also`` += also_n (a zero increment changes nothing: the
        reader counts a missing field as 0; a negative one takes back). ``day``: another day's
        bucket than the change's (a cohort closure: the day the case was received); the
        ``KPI`` command registers that day and center like any other."""
        if also_n:
            words: tuple[str, ...] = (counter, str(n), also, str(also_n)) if n else (also, str(also_n))
        elif n:
            words = (counter, str(n))
        else:
            return
        day = day or self.day
        hkey, dkey, ckey = _bucket_keys(center, day)
        self.cmds.append(("KPI", hkey, dkey, day, ckey, center, *words))

    def duration(self, center: str, stage: str, seconds: float) -> None:
        self.cmds.append(("LCAP", keys.kpi_durations(center, self.day, stage),
                          float_text(round(max(seconds, 0.0), 3)), _KEPT))


_KEPT = str(D.KPI_DURATIONS_KEPT)
_BUCKETS: dict[tuple[str, str, str], tuple[str, str, str]] = {}


def _bucket_keys(center: str, day: str) -> tuple[str, str, str]:
    """(counters hash, days set, centers set) of a center's day: built once per center and day
    (a KPI plan runs for every change)."""
    ck = (keyspace.city(), center, day)      # per city (grid/keyspace.py)
    k = _BUCKETS.get(ck)
    if k is None:
        if len(_BUCKETS) > 4096:      # a long-running process crosses many days
            _BUCKETS.clear()
        k = _BUCKETS[ck] = (keys.kpi(center, day), keys.kpi_days(center),
                                       keys.kpi_centers())
    return k


def plan(old: Incident | None, new: Incident, action: str, now: float,
         task_n: int | None = None) -> list[Sequence[str]]:
    """The KPI commands implied by the change ``old`` → ``new`` (``old`` None = created)."""
    k = KpiPlan(now)
    on_time = old is not None and (old.due_ts <= 0 or now <= old.due_ts)
    machine = is_machine(new)
    if old is None:
        k.incr(new.center, "received", 1, "cohort_base", 1)
        # a human report is assessed from its arrival; a machine case from its acceptance
        k.incr(new.center, "received_machine" if machine else "received_human", 1,
               "" if machine else "assessed", 0 if machine else 1)
        return k.cmds
    c = old.center
    if action == "correlate":
        k.incr(c, "correlated")
    if old.state == S.REPORTED and new.state in (S.ACCEPTED, S.DISPATCHED):
        k.incr(c, "accepted", 1, "accepted_on_time", int(on_time))
        k.duration(c, "accept", now - old.stage_ts)
        if machine and was_accepted(new):   # from now on the case is this center's (its
            k.incr(c, "accepted_machine", 1, "assessed", 1)    # accept time is not judged)
            k.incr(c, "cohort_base")        # a day of acceptances only is cohort-counted too
        elif not machine:
            k.incr(c, "accepted_human", 1, "accepted_human_on_time", int(on_time))
    if new.state == S.REGISTERED and old.state == S.ACCEPTED:
        k.incr(c, "registered")
    if new.state == S.DISPATCHED and old.state in PRE_DISPATCH:
        k.incr(c, "dispatched", 1, "dispatched_on_time", int(on_time))
        k.duration(c, "dispatch", now - old.times.get("accepted", old.stage_ts))
    if action == "handle" and task_n is not None:
        t = new.task(task_n)
        if t is not None:
            # against the sub-task's own deadline: the case's clock restarts when it moves up
            # (上报), which must not turn a late department's work into on-time work
            due = t.due_ts or old.due_ts
            k.incr(t.center, "handled", 1, "handled_on_time", int(due <= 0 or now <= due))
            k.duration(t.center, "handle", now - t.dispatched_ts)
    if old.state == S.HANDLED and new.state == S.VERIFIED:
        k.incr(c, "verified")
        k.duration(c, "verify", now - old.stage_ts)
    if old.state == S.HANDLED and new.state == S.DISPATCHED:
        k.incr(c, "reopened")
    if new.state == S.CLOSED and old.state != S.CLOSED:
        # closure rate = closed / received of the center that received it, wherever it closed
        # (escalated, taken over); the close stage's time is the closing center's
        k.incr(received_by(new), "closed")
        k.duration(new.center, "close", now - old.stage_ts)
        k.duration(new.center, "total", now - new.created_ts)
        if not machine:
            k.incr(received_by(new), "closed_human", 1, "assessed_closed", 1)
        elif was_accepted(old):      # 自动恢复 of a case nobody accepted is nobody's closure
            k.incr(new.center, "closed_machine", 1, "assessed_closed", 1)
        _cohort(k, new, machine, 1)
    elif old.state == S.CLOSED and new.state != S.CLOSED:
        _cohort(k, old, machine, -1)    # reopened (回访不满意): its next closure counts again
    if new.state == S.VOIDED and old.state != S.VOIDED:
        k.incr(received_by(new), "voided")
    if action == "escalate" and new.center != c:   # not the top tier's "overdue past the limit"
        k.incr(c, "escalated")
    if action == "urge":
        k.incr(c, "urged")
    if action == "warn":
        k.incr(c, "warned")
    if action == "callback" and new.satisfaction and not old.satisfaction:
        k.incr(new.center, "satisfaction_sum", new.satisfaction, "satisfaction_n", 1)
    return k.cmds


def _cohort(k: KpiPlan, inc: Incident, machine: bool, n: int) -> None:
    """A closure (``n`` 1) or its reopening (-1) in the cohort counters: in the bucket of the day
    ``inc`` was received (``closed_cohort``, ``closed_human_cohort``) and assessed
    (``assessed_closed_cohort``: a human report's arrival, a machine case's acceptance). The
    centers are the flow counters' (and ``inc`` is the closed case either way, so a reopening
    takes back exactly what its closure gave): a machine case at the center that closes it, the
    owner since acceptance; moved up after acceptance (上报/接管) it lands beside the center that
    accepted it (the case does not record that one): ``read`` caps every rate at 100 %."""
    first = received_by(inc)
    day = day_of(inc.created_ts)
    k.incr(first, "closed_cohort", n, day=day)
    if not machine:
        k.incr(first, "closed_human_cohort", n, "assessed_closed_cohort", n, day=day)
    elif was_accepted(inc):
        k.incr(inc.center, "assessed_closed_cohort", n, day=day_of(accepted_ts(inc)))


def _tasks_overdue(r: redis.Redis, center: str, now: float) -> int:
    """Open sub-tasks at ``center`` (a department, a town handling) past their own deadline:
    what a handler is late with, beside the cases it owns."""
    items = r.zrange(keys.place(f"h:{center}"), 0, -1)
    if not items:
        return 0
    p = r.pipeline(transaction=False)
    for item in items:
        p.hget(keys.incident(item.split("#", 1)[0]), "tasks")
    late = 0
    for item, raw in zip(items, p.execute(), strict=True):
        n = int(item.split("#", 1)[1]) if "#" in item else 0
        for t in orjson.loads(raw or "[]"):
            if t.get("n") == n and t.get("state") in TASK_OPEN and 0 < t.get("due_ts", 0) < now:
                late += 1
    return late


def received_by(inc: Incident) -> str:
    """The center whose ``received`` counted the incident: the first owner (the centers it has
    moved up from are in ``origin``, the first one first)."""
    return inc.origin[0] if inc.origin else inc.center


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    i = min(len(s) - 1, max(0, int(round(q * (len(s) - 1)))))
    return s[i]


def read(r: redis.Redis, center: str | None, since: float | None, until: float | None,
         now: float, owners: list[str] | None = None) -> dict:
    """KPIs of one center (or the whole city, summed over centers, when ``center`` is None)
    over the whole days (UTC+8) from ``since`` to ``until``. ``owners``: every center that can
    own an incident (for the city's overdue count: the sum of their overdue indexes)."""
    scopes = [center] if center else sorted(r.smembers(keys.kpi_centers()))
    lo = day_of(since) if since is not None else "00000000"
    hi = day_of(until) if until is not None else "99999999"
    p = r.pipeline(transaction=False)
    for sc in scopes:
        p.smembers(keys.kpi_days(sc))
    wanted = [(sc, d) for sc, ds in zip(scopes, p.execute(), strict=True)
              for d in sorted(ds) if lo <= d <= hi]
    for sc, d in wanted:
        p.hgetall(keys.kpi(sc, d))
        for st in STAGES:
            p.lrange(keys.kpi_durations(sc, d, st), 0, D.KPI_DURATIONS_KEPT - 1)
    counted = [center] if center else (owners or scopes)
    for c in counted:
        p.zcount(keys.overdue(c), "-inf", f"({now}")
    if center:
        p.zcard(keys.overdue(center))
    else:
        p.zcard(keys.OPEN)
    res = p.execute()
    counts = dict.fromkeys(COUNTERS, 0)
    durs: dict[str, list[float]] = {st: [] for st in STAGES}
    # per rate: [numerator, denominator]; per basis: the days with receipts counted either way
    cohort = {name: [0, 0] for name in COHORT_RATES}
    basis = {"cohort": 0, "flow": 0}
    i = 0
    for _ in wanted:
        day = {f: int(v) for f, v in res[i].items()}
        for f, v in day.items():
            counts[f] = counts.get(f, 0) + v
        counted_by_cohort = day.get("cohort_base", 0) > 0
        if day.get("received"):
            basis["cohort" if counted_by_cohort else "flow"] += 1
        for name, (num_c, num_f, den) in COHORT_RATES.items():
            # a day recorded before cohort counting: its flow closures, plus its cases' closures
            # (and reopenings) counted in the cohort since
            cohort[name][0] += day.get(num_c, 0) + (0 if counted_by_cohort else day.get(num_f, 0))
            cohort[name][1] += day.get(den, 0)
        i += 1
        for st in STAGES:
            durs[st].extend(float(x) for x in res[i])
            i += 1
    overdue_now = sum(int(x) for x in res[i:i + len(counted)])
    open_now = int(res[i + len(counted)])
    tasks_overdue = _tasks_overdue(r, center, now) if center else 0

    def rate(a: str, b: str) -> float | None:
        return round(counts[a] / counts[b], 4) if counts[b] else None

    out: dict = {"center": center or "ALL", "since": since, "until": until, **counts,
                 "open_now": open_now, "overdue_now": overdue_now + tasks_overdue,
                 "tasks_overdue_now": tasks_overdue,
                 "accepted_on_time_rate": rate("accepted_on_time", "accepted"),
                 "dispatched_on_time_rate": rate("dispatched_on_time", "dispatched"),
                 "handled_on_time_rate": rate("handled_on_time", "handled"),
                 # cohort rates (the module docstring): ≤ 100 %
                 **{name: (round(min(1.0, max(0, num) / den), 4) if den else None)
                    for name, (num, den) in cohort.items()},
                 "closure_basis": (None if not (basis["cohort"] or basis["flow"]) else
                                   "flow" if not basis["cohort"] else
                                   "cohort" if not basis["flow"] else "mixed"),
                 # the fair measures: assessed_closure_rate (human from arrival, machine from
                 # acceptance: MACHINE), and these
                 "human_accepted_on_time_rate": rate("accepted_human_on_time", "accepted_human"),
                 "reopen_rate": None,
                 "satisfaction": (round(counts["satisfaction_sum"] / counts["satisfaction_n"], 2)
                                  if counts["satisfaction_n"] else None)}
    if counts["verified"] or counts["reopened"]:
        out["reopen_rate"] = round(counts["reopened"] / (counts["verified"] + counts["reopened"]), 4)
    out["stage_seconds"] = {st: {"n": len(v), "mean": (sum(v) / len(v)) if v else None,
                                 "p90": _pct(v, 0.9)} for st, v in durs.items()}
    return out
