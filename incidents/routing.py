"""Routing across 1+N (路由): who owns a new incident, and what to suggest to the operator.

Default rules (configurable, IncidentConfig): territory owner (块) = the town/street sub-center
of the grid cell; line owner (条) = the department of the category (``City.department_for``);
major (重大/特别重大) or sudden (突发) events → the city center (T3); events across towns, or
escalated, go up one tier; emergency mode (应急模式) sends new events inside its area to the
city center with priority. Suggestions never dispatch by themselves (E30), except rules an
admin marks automatic.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache

from shapely.geometry import Point, shape
from shapely.geometry.base import BaseGeometry

from grid.categories import is_sudden
from grid.model import CITY_CENTER, City, Location, dept_center_code, town_center_code
from incidents.config import IncidentConfig


@dataclass(frozen=True)
class Route:
    """Where a new incident goes, and why."""

    center: str
    tier: str
    reason: str
    priority: int = 0
    emergency: bool = False
    auto_dispatch: tuple[str, ...] = ()          # department centers, for automatic rules
    suggested: tuple[str, ...] = field(default=())  # department centers to suggest


def parse_area(area: dict | str) -> BaseGeometry:
    """A GeoJSON geometry, Feature or FeatureCollection (dict or text) → one shapely geometry."""
    return _parse_area(area if isinstance(area, str) else json.dumps(area, sort_keys=True))


@lru_cache(maxsize=32)
def _parse_area(text: str) -> BaseGeometry:
    obj = json.loads(text)
    if obj.get("type") == "FeatureCollection":
        from shapely.ops import unary_union  # noqa: PLC0415

        return unary_union([shape(f["geometry"]) for f in obj["features"]])
    if obj.get("type") == "Feature":
        return shape(obj["geometry"])
    return shape(obj)


def in_emergency(emergency: dict | None, lon: float, lat: float, now: float) -> bool:
    """True when emergency mode is on, not expired, and its area holds the point."""
    if not emergency or float(emergency.get("until", 0) or 0) < now:
        return False
    return parse_area(emergency["area"]).intersects(Point(lon, lat))


def line_owner(city: City, category: str) -> str | None:
    """The department center (条) of a category, or None."""
    d = city.department_for(category)
    return d.center_code if d else None


def route(city: City, config: IncidentConfig, category: str, severity: str,
          loc: Location | None, *, lon: float, lat: float, now: float,
          emergency: dict | None = None, towns_touched: int = 1) -> Route:
    """Decide the owning center of a new incident (the 1+N default rules, in order)."""
    line = line_owner(city, category)
    suggested = (line,) if line else ()
    if in_emergency(emergency, lon, lat, now):
        return Route(CITY_CENTER, "city", "应急模式: 应急区域内，市中心优先 "
                                          "(inside the emergency area)", 1, True,
                     suggested=suggested)
    if severity in config.major_severities:
        return Route(CITY_CENTER, "city", f"重大: {severity}事件直报市中心 "
                                          f"(severity {severity} goes to the city center)", 1,
                     suggested=suggested)
    if is_sudden(category):
        return Route(CITY_CENTER, "city", "突发: 突发类事件直报市中心 "
                                          "(sudden category goes to the city center)", 1,
                     suggested=suggested)
    if loc is None:
        return Route(CITY_CENTER, "city", "辖区外/无网格: 由市中心研判 (no grid cell, city center decides)",
                     suggested=suggested)
    if towns_touched > 1:
        return Route(CITY_CENTER, "city", f"跨镇街: 涉及{towns_touched}个镇街，上提一级 "
                                          f"(spans {towns_touched} towns, one tier up)",
                     suggested=suggested)
    rule = config.rule_for(category)
    center, tier, reason = town_center_code(loc.town_code), "town", ("块: 网格所在镇街 "
                                                                     "(territory owner of the grid cell)")
    if rule is not None:
        if rule.owner == "city":
            center, tier, reason = CITY_CENTER, "city", (f"规则 {rule.prefix}: 市中心 "
                                                         f"(rule {rule.prefix}: city center)")
        elif rule.owner == "line" and line:
            center, tier, reason = line, "department", (f"规则 {rule.prefix}: 条线部门 {line} "
                                                        f"(rule {rule.prefix}: line owner)")
        if rule.automatic and line and line != center:
            return Route(center, tier, reason + f"; 自动派遣 {line} (automatic dispatch)",
                         auto_dispatch=(line,), suggested=suggested)
    return Route(center, tier, reason, suggested=suggested)


def target_center(city: City, code: str) -> str:
    """Normalise a dispatch target: 'CG' → 'DCG'; center codes and W<cell> pass through."""
    if code in city.centers or code.startswith("W"):
        return code
    d = dept_center_code(code)
    if d in city.centers:
        return d
    raise KeyError(code)
