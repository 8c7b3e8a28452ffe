"""Situations (态势/事件群): a bad day's alarms as a few cases, not a storm of them.

A **situation** is one incident (``Incident.situation`` = its family's name) that every alarm
and machine case of one family (``IncidentConfig.situations``: e.g. flood = water level, rain,
manhole water, 内涝 categories) in one area (the same town, or within a radius) and time window
joins as a **source** (``inc.sources``: one per alarm episode, with its device, channel, level
and whether it cleared). An outage (many devices silent in one town) is the ``outage`` family:
one 设备故障 situation listing the devices, routed like any 设备故障 case (the admin-marked
automatic rule sends it to the owning department).

A person's report (hotline, grid worker) of a family's category in the situation's area joins
it too, and is never swallowed: it is a source like the alarms (its reporter keeps reading the
case), the case's ``human_ts`` is set (the queue shows "新的人工上报"), the owner's queue stream
gets an entry (action ``correlate``) and ``om:inc:notices`` a notice naming the reporter.

**City-wide situations** (全市态势, ``SituationRule.city_towns``): weather is not a town's. When
an alarm would open a family's situation in a town and ``city_towns`` towns (this one counted)
have one of the family within the window, ONE situation of the city center opens instead (slot
area ``city``; routed one tier up as a case spanning towns) and the towns' situations fold into
it (``fold_plan``): their sources move over (``merged_from``), each is voided as merged, audited
``merge`` by the system. A town situation a person reported into, acted on or dispatched stays its
town's, linked from the city one (never swallowed). From then on every alarm and person's report
of the family in a town without a kept situation of its own joins the city situation (``areas``)
while it is joinable. A flood in one town stays that town's situation.

**Recovery** (已恢复 → 自动恢复): each alarm's clear marks its source ``cleared``; when every
source of a machine case has cleared and no person acted on it, ``recovered_ts`` is set (the queue
shows 已恢复) and the case is due in ``om:inc:recover`` after ``recovery_quiet_s``; the deadline
worker then closes it as 自动恢复 (audited ``auto_recover``; final state 作废 with that reason, not a
handled closure), and a person may reopen it (重新打开, ``reactivate``). A case with a person's
report among its sources, or touched by a person (any audited change by someone else than the
system), never closes by itself.

Pure helpers here; the writes are the service's (``IncidentService.report``/``alarm_clear``/
``auto_recover``), through the one write path.
"""

from __future__ import annotations

from collections.abc import Iterable

import redis

from incidents import audit, keys
from incidents import defaults as D
from incidents.actor import SYSTEM
from incidents.config import IncidentConfig, SituationRule
from incidents.incident import OPEN_STATES, Incident
from incidents.lifecycle import PRE_DISPATCH


def is_machine(channel: str) -> bool:
    """An alarm's channel (物联感知, 视频AI, 设备故障): not a person's report."""
    return channel in D.MACHINE_CHANNELS


CITY_AREA = "city"
"""The area key of a city-wide situation (全市态势): never a town code (digits) nor ``gw-…``."""
CITY_PLACE = "全市"
"""The place a city-wide situation's title names."""


def folds_to_city(rule: SituationRule, region: str) -> bool:
    """Does a situation of this family in ``region`` (a town) take part in the city-wide fold?"""
    return rule.city_towns > 0 and rule.area == "town" and region not in ("", "-", CITY_AREA) \
        and not region.startswith("gw-")


def areas(rule: SituationRule, region: str) -> list[str]:
    """The slots a report in ``region`` looks for an open situation in, in order: its town's own
    (after a fold only one a person kept is still joinable: its town goes on working it, with
    its new alarms and calls), then the city's (once the family went city-wide, every other
    town's alarms and reports join it)."""
    return [region, CITY_AREA] if folds_to_city(rule, region) else [region]


def town_situations(r: redis.Redis, load_many, rule: SituationRule, towns: Iterable[str],  # noqa: ANN001
                    now: float) -> dict[str, list[Incident]]:
    """Every town's joinable situations of this family (its slots of this window and the
    previous one): town code → situations. One MGET and one load for the whole city."""
    towns = [t for t in towns if t]
    w = window_of(rule, now)
    from incidents.unit_of_work import _idem  # noqa: PLC0415

    names = [keys.idem(_idem("report", SYSTEM, slot_key(rule, t, k)) or "")
             for t in towns for k in (w, w - 1)]
    ids = r.mget(names) if names else []
    owner = {i: towns[n // 2] for n, i in enumerate(ids) if i}
    out: dict[str, list[Incident]] = {}
    for inc in load_many(list(dict.fromkeys(owner))):
        if joinable(inc, rule, now):
            out.setdefault(owner[inc.id], []).append(inc)
    return out


def fold_plan(r: redis.Redis, load_many, rule: SituationRule, region: str,  # noqa: ANN001
              towns: Iterable[str], now: float) -> list[Incident] | None:
    """Before an alarm opens a situation in town ``region``: the other towns' situations of the
    family that a city situation would take in, when with this town they reach ``city_towns``
    towns; else None (the town's own situation opens). ``[]``: city-wide at once
    (``city_towns`` = 1)."""
    if not folds_to_city(rule, region):
        return None
    spread = town_situations(r, load_many, rule, [t for t in towns if t != region], now)
    if len(spread) + 1 < rule.city_towns:
        return None
    return [inc for incs in spread.values() for inc in incs]


def foldable(inc: Incident, touched: bool) -> bool:
    """May a town situation be folded into the city's (its sources moved, itself voided as
    merged)? Only while no person has a stake in it: not yet dispatched, no person's report among
    its sources (that report's owner was told; it stays where it was told), ``touched`` (by a
    person: ``touched_by_person``) false. Otherwise it is only linked."""
    return inc.state in PRE_DISPATCH and not has_human_source(inc) and not touched


def area_of(rule: SituationRule, town_code: str, gateway: str = "") -> str:
    """The area key of a situation: the gateway a silent device sits behind (outages), else the
    town ('-' outside every town)."""
    if gateway:
        return f"gw-{gateway}"
    return town_code or "-"


def window_of(rule: SituationRule, now: float) -> int:
    """The fixed window a situation's slot key is made for (the previous window's is looked at
    too, so a situation lives on across the boundary while it has sources)."""
    return int(now // rule.window_s)


def slot_key(rule: SituationRule, area: str, window: int) -> str:
    """The idempotency key (user SYSTEM, action report) naming the open situation of a family in
    an area for one window: the creating script sets it atomically, so one situation opens
    however many intake workers race."""
    return f"situation:{rule.name}:{area}:{window}"


def last_source_ts(inc: Incident) -> float:
    return max((float(s.get("ts") or 0) for s in inc.sources), default=inc.created_ts)


def joinable(inc: Incident, rule: SituationRule, now: float) -> bool:
    """Open, of this family, and its last source within the window."""
    return (inc.state in OPEN_STATES and inc.situation == rule.name
            and now - last_source_ts(inc) <= rule.window_s)


def slot_candidates(r: redis.Redis, rule: SituationRule, area: str, now: float) -> list[str]:
    """Incident ids the slot keys of this window and the previous one name (newest first)."""
    w = window_of(rule, now)
    from incidents.unit_of_work import _idem  # noqa: PLC0415

    names = [keys.idem(_idem("report", SYSTEM, slot_key(rule, area, k)) or "") for k in (w, w - 1)]
    return [i for i in r.mget(names) if i]


def all_cleared(inc: Incident) -> bool:
    """Every source is an alarm and every one has cleared (已恢复)."""
    return bool(inc.sources) and all(is_machine(s.get("channel", "")) and s.get("cleared")
                                     for s in inc.sources)


def has_human_source(inc: Incident) -> bool:
    return any(not is_machine(s.get("channel", "")) for s in inc.sources)


def touched_by_person(r: redis.Redis, incident_id: str) -> bool:
    """Has anyone but the system changed the case (its audit trail; refusals do not count)?"""
    for x, f in r.xrange(keys.audit(incident_id)):
        e = audit.entry(x, f)
        if e.get("actor") != SYSTEM.user_id and not str(e.get("action", "")).startswith("denied:"):
            return True
    return False


def new_human_sources(inc: Incident, since: float = 0.0) -> list[dict]:
    """A person's reports that joined this machine case or situation after ``since`` (the
    console's "新的人工上报" marker; ``since`` = when the viewer last looked)."""
    if not inc.human_ts:
        return []
    return [s for s in inc.sources[1:] if not is_machine(s.get("channel", ""))
            and float(s.get("ts") or 0) > since]


def title(rule: SituationRule, place: str) -> str:
    return f"态势：{place}{rule.label}"


def family_for(config: IncidentConfig, category: str) -> SituationRule | None:
    return config.family_of(category) if config.situations else None


__all__ = ["CITY_AREA", "CITY_PLACE", "all_cleared", "area_of", "areas", "family_for", "fold_plan",
           "folds_to_city", "foldable", "town_situations", "has_human_source", "is_machine", "joinable",
           "last_source_ts", "new_human_sources", "slot_candidates", "slot_key",
           "touched_by_person", "window_of", "title"]
