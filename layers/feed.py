"""实时动态: stream entries (``om:alarms``, ``om:inc:feed``) → the small items a live tick sends.

Pure functions over the contract's fields (docs/architecture.md), so the wall's tick stays a thin
loop: XREAD what came after the browser's last ids, turn each entry into a compact dict, send.
"""

from __future__ import annotations

import time

from grid.categories import category_name
from incidents import feed as incident_feed
from incidents.incident import STATE_NAMES
from layers import palette
from layers.incidents import CLOSED_STATES, stage_opacity, tier_of

OVERDUE_ACTIONS = frozenset({"urge"})   # 督办: the deadline worker urges what is past due
INCIDENT_NEW_ACTIONS = frozenset({"report", "assign_task"})   # what opens an incident


def _f(v: str | None) -> float | None:
    try:
        return round(float(v), 5) if v not in (None, "") else None
    except ValueError:
        return None


def alarm_item(entry_id: str, f: dict) -> dict:
    """One ``om:alarms`` entry → {ep, ev, lv, lon, lat, dev, cat, msg, ts, town}."""
    return {"id": entry_id, "ep": f.get("episode") or entry_id, "ev": f.get("event", "raise"),
            "lv": f.get("level", "red"), "lon": _f(f.get("lon")), "lat": _f(f.get("lat")),
            "dev": f.get("device_id", ""), "type": f.get("device_type", ""),
            "cat": f.get("category", ""), "msg": f.get("message", "")[:80],
            "ts": int(float(f.get("ts") or entry_id.split("-")[0])), "town": f.get("town_code", ""),
            "color": palette.LEVEL_COLORS.get(f.get("level", ""), palette.LEVEL_COLORS["red"])}


def incident_item(entry_id: str, f: dict) -> dict:
    """One ``om:inc:feed`` entry → {id, state, action, tier, sev, lon, lat, closed, overdue, …}."""
    f = incident_feed.fields(f)
    state = f.get("state", "")
    sev = f.get("severity", "一般")
    size = palette.SEVERITY_SIZES.get(sev, 9)
    return {"sid": entry_id, "id": f.get("id", ""), "state": state, "action": f.get("action", ""),
            "center": f.get("center", ""), "tier": tier_of(f.get("center")), "cat": f.get("category", ""),
            "sev": sev, "lon": _f(f.get("lon")), "lat": _f(f.get("lat")),
            "closed": state in CLOSED_STATES, "overdue": f.get("action", "") in OVERDUE_ACTIONS,
            "new": f.get("action", "") in INCIDENT_NEW_ACTIONS,
            "color": palette.SEVERITY_COLORS.get(sev, palette.SEVERITY_COLORS["一般"]),
            "size": size, "ring": size + 9, "op": stage_opacity(state),
            "ts": int(float(f.get("ts") or entry_id.split("-")[0])), "town": f.get("town_code", "")}


def _clock(ts_ms: int) -> str:
    # the wall shows China Standard Time whatever the server's zone (UTC+8)
    return time.strftime("%H:%M:%S", time.gmtime(ts_ms / 1000 + 8 * 3600))


def _ts_ms(ts: int) -> int:
    return ts if ts > 10**11 else ts * 1000   # feed ts may be epoch s, alarms are epoch ms


def alarm_text(a: dict, town_names: dict[str, str]) -> dict:
    """Ticker line of an alarm event."""
    verb = {"raise": "告警", "level": "升级", "clear": "解除"}.get(a["ev"], a["ev"])
    lv = palette.LEVEL_NAMES.get(a["lv"], a["lv"])
    where = town_names.get(a["town"], "")
    what = category_name(a["cat"]) if a["cat"] else a["type"]
    return {"key": f"a{a['id']}", "time": _clock(_ts_ms(a["ts"])), "tag": f"{lv}{verb}",
            "color": a["color"] if a["ev"] != "clear" else palette.STATE_COLORS["normal"],
            "text": " · ".join(x for x in (what, where, a["msg"] or a["dev"]) if x),
            "dev": a["dev"]}


def incident_text(i: dict, town_names: dict[str, str]) -> dict:
    """Ticker line of an incident change."""
    where = town_names.get(i["town"], "")
    tier = palette.TIER_NAMES.get(i["tier"], "")
    tag = "新事件" if i["new"] else ("超期督办" if i["overdue"] else
                                    STATE_NAMES.get(i["state"], i["state"] or i["action"]))
    color = palette.OVERDUE_COLOR if i["overdue"] else i["color"]
    return {"key": f"i{i['sid']}", "time": _clock(_ts_ms(i["ts"])), "tag": tag, "color": color,
            "text": " · ".join(x for x in (category_name(i["cat"]) if i["cat"] else "", i["sev"],
                                           where, tier) if x),
            "dev": i["id"]}
