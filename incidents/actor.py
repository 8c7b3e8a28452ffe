"""Actor: who does an action, in which role, for which center (the subject of every scope check).

Roles (S1, S2 分级接入/分级控制; T10 一级监督、一级指挥):

| role | center | may |
|---|---|---|
| ``city_commander`` 市指挥长 | CITY | everything in the city; emergency mode; take over |
| ``city_operator`` 市值班员 | CITY | work the city queue; read everything |
| ``town_operator`` 镇街值班员 | T<town> | read/act on incidents in its territory (块) |
| ``dept_operator`` 部门值班员 | D<dept> | read/act on what is dispatched to its line (条) |
| ``supervisor`` 监督员/核查员 | CITY or T<town> | verify/close within its center's scope |
| ``grid_worker`` 网格员 | T<town>; ``cell`` = own cell | own reports and tasks only |
| ``wall_viewer`` 大屏 | CITY | read-only aggregates (kiosk token) |
| ``admin`` 管理员 | CITY | accounts, ops page; no incident actions |
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Role = Literal["city_commander", "city_operator", "town_operator", "dept_operator", "supervisor",
               "grid_worker", "wall_viewer", "admin"]
ROLES: tuple[Role, ...] = ("city_commander", "city_operator", "town_operator", "dept_operator",
                           "supervisor", "grid_worker", "wall_viewer", "admin")
ROLE_NAMES: dict[str, str] = {
    "city_commander": "市指挥长", "city_operator": "市值班员", "town_operator": "镇街值班员",
    "dept_operator": "部门值班员", "supervisor": "监督核查员", "grid_worker": "网格员",
    "wall_viewer": "大屏", "admin": "管理员",
}


@dataclass(frozen=True)
class Actor:
    """The subject of an action: a user in a role at a center."""

    user_id: str
    role: Role
    center: str                 # CITY, T<town code>, D<dept code>
    name: str = ""
    cell: str | None = None     # grid workers: their own grid cell code

    @property
    def is_city(self) -> bool:
        return self.center == "CITY"


SYSTEM = Actor("system", "city_operator", "CITY", "系统")
