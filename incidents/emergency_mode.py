"""应急模式 (emergency mode) of the incident service (mixed into ``IncidentService``): the city
commander's switch that routes new reports in an area to the city center with priority, audited
(``emergency_log``). Plans and response levels (预案, issue 16) build on it."""

from __future__ import annotations

import json

import redis

from incidents import audit, keys, routing
from incidents.actor import Actor
from incidents.incident import (
    to_json,
)

EMERGENCY_MAX_S = 7 * 86400
"""应急模式 is switched on for at most 7 days at a time (a longer window is refused)."""


class EmergencyMode:
    """The emergency-mode switch, its state and its log."""

    def _read_emergency(self) -> tuple[str, dict]:
        """(version, emergency hash) read together; cached until a report's guard says stale."""
        p = self.r.pipeline(transaction=True)
        p.get(keys.EMERGENCY_VERSION)
        p.hgetall(keys.EMERGENCY)
        v, h = p.execute()
        self._emergency_cache = (v or "", h or {})
        return self._emergency_cache

    def emergency_on(self, area: dict, until: float, actor: Actor, reason: str = "") -> dict:
        """应急模式 on: new incidents inside ``area`` (GeoJSON) until ``until`` (epoch s) route to
        the city center with priority. City commander only; audited (``emergency_log``)."""
        now = self.clock()
        self._commander_only(actor, "emergency_on", now)
        if not until > now:                     # also NaN
            raise ValueError("结束时间须晚于现在 (until must be in the future)")
        if not until <= now + EMERGENCY_MAX_S:    # 1e12 minutes, inf: a typo, not a plan (issue 19)
            raise ValueError("应急模式最长 7 天，期满可再次启动 "
                             "(emergency mode lasts at most 7 days; switch it on again after)")
        routing.parse_area(area)  # validate before storing
        state = {"area": json.dumps(area, ensure_ascii=False), "until": repr(float(until)),
                 "since": repr(now), "by": actor.user_id, "reason": reason}
        self._switch_emergency(actor, "emergency_on", reason, now, state)
        return self.emergency_state() or {}

    def emergency_off(self, actor: Actor, reason: str = "") -> None:
        """应急模式 off (city commander only; audited)."""
        now = self.clock()
        self._commander_only(actor, "emergency_off", now)
        self._switch_emergency(actor, "emergency_off", reason, now, None)

    def _commander_only(self, actor: Actor, action: str, now: float) -> None:
        if actor.role != "city_commander":
            self._deny(actor, action, "只有市指挥长可以启动/解除应急模式 "
                       "(only the city commander switches emergency mode)", None, now)

    def _switch_emergency(self, actor: Actor, action: str, reason: str, now: float,
                          state: dict | None) -> None:
        """Replace the emergency mode and append its audit entry (who, role, center, when, why,
        before/after: E32) in one MULTI/EXEC; the version bump makes reports route again."""
        while True:
            with self.r.pipeline(transaction=True) as p:
                try:
                    p.watch(keys.EMERGENCY)
                    before = p.hgetall(keys.EMERGENCY)
                    p.multi()
                    p.delete(keys.EMERGENCY)
                    if state:
                        p.hset(keys.EMERGENCY, mapping=state)
                    p.incr(keys.EMERGENCY_VERSION)
                    p.xadd(keys.EMERGENCY_LOG, {"e": to_json({
                        "ts": now, "actor": actor.user_id, "name": actor.name, "role": actor.role,
                        "center": actor.center, "action": action, "reason": reason,
                        "before": _emergency_view(before), "after": _emergency_view(state or {})})})
                    p.execute()
                    return
                except redis.WatchError:
                    continue

    def emergency_log(self, actor: Actor, limit: int = 100) -> list[dict]:
        """应急模式 switches, newest first (ts, actor, name, role, center, action, reason, before,
        after): city roles only."""
        if not self._city_wide(actor):
            self._deny(actor, "emergency_log", "应急记录仅限市中心查看 "
                                               "(the emergency log is the city center's)", None, self.clock())
        return [audit.entry(i, f) for i, f in self.r.xrevrange(keys.EMERGENCY_LOG, count=limit)]

    def emergency_state(self) -> dict | None:
        """The active emergency mode (area as a dict, until, since, by, reason) or None."""
        h = self.r.hgetall(keys.EMERGENCY)
        if not h or float(h.get("until", 0)) < self.clock():
            return None
        return {"area": json.loads(h["area"]), "until": float(h["until"]),
                "since": float(h.get("since", 0)), "by": h.get("by", ""), "reason": h.get("reason", "")}

    def _towns_touched(self, area: dict) -> int:
        geom = routing.parse_area(area)
        towns = self.city.towns
        return int(towns.geometry.intersects(geom).sum())


def _emergency_view(h: dict) -> dict:
    """An emergency hash as the audit shows it (area as GeoJSON, times as numbers)."""
    if not h:
        return {}
    return {"area": json.loads(h["area"]) if h.get("area") else None,
            "until": float(h.get("until") or 0), "since": float(h.get("since") or 0),
            "by": h.get("by", ""), "reason": h.get("reason", "")}
