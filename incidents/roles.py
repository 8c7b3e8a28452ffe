"""Roles (角色): the one table of what each role is, may see and may do (S1, S2 分级接入/分级控制;
T10 一级监督、一级指挥; T11 监管分离).

Every role set anywhere in OneMap derives from ``ROLE_TABLE``: the scope predicates
(``incidents.scope``), the action policy (``incidents.policy``), the login gate's screens and
API roles, each role's landing screen, and who may hold an account at the city center
(``app.users``). Adding a role is one row here (and its screens are named in the row).

| role | center | may |
|---|---|---|
| ``city_commander`` 市指挥长 | CITY | everything in the city; emergency mode; take over |
| ``city_operator`` 市值班员 | CITY | work the city queue; read everything; 督办 anywhere |
| ``town_operator`` 镇街值班员 | T<town> | read/act on incidents in its territory (块) |
| ``dept_operator`` 部门值班员 | D<dept> | read/act on what is dispatched to its line (条) |
| ``supervisor`` 监督核查员 | CITY or T<town> | verify/close/urge/call back within its center's scope |
| ``grid_worker`` 网格员 | T<town>; ``cell`` = own cell | own reports and tasks only |
| ``responder`` 救援队员 | the team's owner (CITY, T<town>, D<dept>); ``cell`` = its team's resource id | the phone: its team's dispatches (签收/出发/到场/完成), its position (X16, T7, G21) |
| ``wall_viewer`` 大屏 | CITY | read-only aggregates (kiosk token) |
| ``admin`` 管理员 | CITY | accounts, ops page; no incident actions |

Privileged roles (``needs_2fa``: the commander, the city operators, the administrator) give a
TOTP code after the password (SEC11, ``app.auth``). Roles that call reporters back or work their
cases (``sees_personal_data``: operators, supervisors, the commander) read reporters' phone
numbers and names; every other role reads them masked (SEC18, ``incidents.masking``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    """A user's role. A member is its stored string (``Role.ADMIN == "admin"``)."""

    CITY_COMMANDER = "city_commander"
    CITY_OPERATOR = "city_operator"
    TOWN_OPERATOR = "town_operator"
    DEPT_OPERATOR = "dept_operator"
    SUPERVISOR = "supervisor"
    GRID_WORKER = "grid_worker"
    RESPONDER = "responder"
    WALL_VIEWER = "wall_viewer"
    ADMIN = "admin"


@dataclass(frozen=True)
class RoleSpec:
    """What one role is and may do. ``centers``: the center kinds an account of the role sits at
    (``city``, ``town``, ``dept``). ``screens``: first path segments it may open; ``home``: where
    it lands."""

    role: Role
    cn: str
    centers: frozenset[str]
    screens: frozenset[str]
    home: str = "/console/"
    reads_city: bool = False          # reads every incident of the city (at the city center)
    reports: bool = False             # may report (上报) an incident
    handles: bool = False             # works sub-tasks (处置); never verifies them (T11)
    owns: bool = False                # works its center's queue (受理/立案/派遣/核查/结案…)
    commands: bool = False            # 指挥: emergency mode, 接管, any owner's action
    city_urges: bool = False          # at the city center: 督办/备注 any case (一级监督)
    supervises: bool = False          # verifies, closes, urges, calls back (监督核查)
    assigns: bool = False             # 上情下达: gives tasks
    calls_api: bool = True            # may call /api/* at all (scope then per incident)
    pushes_upper: bool = False        # 上报省平台
    administers: bool = False         # 系统管理: accounts, sessions, dead-letter replay (/ops)
    needs_2fa: bool = False           # 特权账号: a TOTP code after the password (SEC11)
    sees_personal_data: bool = False  # reads reporters' phone numbers and names unmasked (SEC18)
    responds: bool = False            # 救援队员: moves its own team's dispatches (X16, T7; issue 17)


_ALL_SCREENS = frozenset({"wall", "console", "m", "analytics", "ops", "replay"})

ROLE_TABLE: dict[Role, RoleSpec] = {r.role: r for r in (
    RoleSpec(Role.CITY_COMMANDER, "市指挥长", frozenset({"city"}),
             frozenset({"wall", "console", "m", "analytics", "ops", "replay"}), reads_city=True, reports=True,
             owns=True, commands=True, city_urges=True, assigns=True, pushes_upper=True,
             needs_2fa=True, sees_personal_data=True),
    RoleSpec(Role.CITY_OPERATOR, "市值班员", frozenset({"city"}),
             frozenset({"wall", "console", "m", "analytics", "replay"}), reads_city=True, reports=True,
             owns=True, city_urges=True, assigns=True, pushes_upper=True, needs_2fa=True,
             sees_personal_data=True),
    RoleSpec(Role.TOWN_OPERATOR, "镇街值班员", frozenset({"town"}),
             frozenset({"wall", "console", "analytics", "replay"}),
             reports=True, handles=True, owns=True, assigns=True, sees_personal_data=True),
    RoleSpec(Role.DEPT_OPERATOR, "部门值班员", frozenset({"dept"}),
             frozenset({"wall", "console", "analytics"}),
             reports=True, handles=True, owns=True, assigns=True, sees_personal_data=True),
    RoleSpec(Role.SUPERVISOR, "监督核查员", frozenset({"city", "town"}),
             frozenset({"wall", "console", "analytics", "replay"}), home="/analytics/", reports=True,
             supervises=True, sees_personal_data=True),
    RoleSpec(Role.GRID_WORKER, "网格员", frozenset({"town"}), frozenset({"wall", "m"}), home="/m/",
             reports=True, handles=True),
    RoleSpec(Role.RESPONDER, "救援队员", frozenset({"city", "town", "dept"}), frozenset({"m"}),
             home="/m/", responds=True, calls_api=False),    # the phone's /m/api/* only
    RoleSpec(Role.WALL_VIEWER, "大屏", frozenset({"city"}), frozenset({"wall", "replay"}), home="/wall/",
             reads_city=True, calls_api=False),
    RoleSpec(Role.ADMIN, "管理员", frozenset({"city"}), frozenset({"wall", "analytics", "ops"}),
             home="/ops/", administers=True, needs_2fa=True),
)}
assert set(ROLE_TABLE) == set(Role), "every role has its row"
assert all(r.screens <= _ALL_SCREENS for r in ROLE_TABLE.values())

ROLES: tuple[str, ...] = tuple(r.value for r in Role)
ROLE_NAMES: dict[str, str] = {r.value: s.cn for r, s in ROLE_TABLE.items()}


def spec(role: str) -> RoleSpec:
    """The row of ``role`` (KeyError for an unknown role)."""
    return ROLE_TABLE[Role(role)]


def having(flag: str) -> frozenset[str]:
    """The roles whose row sets ``flag`` (e.g. ``having("owns")``)."""
    return frozenset(r.value for r, s in ROLE_TABLE.items() if getattr(s, flag))


def screen_roles() -> dict[str, frozenset[str]]:
    """Screen (first path segment) → the roles that may open it."""
    return {scr: frozenset(r.value for r, s in ROLE_TABLE.items() if scr in s.screens)
            for scr in sorted(_ALL_SCREENS)}


def home(role: str) -> str:
    """Where a role lands after login and on ``/``."""
    return spec(role).home


CITY_READERS = having("reads_city")
REPORTERS = having("reports")
HANDLER_ROLES = having("handles")
OWNER_ROLES = having("owns")
ASSIGNERS = having("assigns")
API_ROLES = having("calls_api")
CONSOLE_ROLES = screen_roles()["console"]
CITY_ACCOUNT_ROLES = frozenset(r.value for r, s in ROLE_TABLE.items() if s.centers == {"city"})
"""Roles whose accounts sit at the city center only (``app.users`` checks new accounts)."""
SUPERVISOR_ACTIONS = frozenset({"verify", "reopen", "close", "callback", "urge", "note"})
"""What a supervisor (监督核查员) does: check, close, press and call back; never handle or dispatch."""
