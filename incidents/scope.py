"""Scope (分级接入/分级控制, S1/S2) and supervision separation (监管分离, T11).

Pure predicates over (Actor, Incident); the service calls them for every read and action and
raises ``Forbidden`` (audited) when one says no. Roles: see ``incidents.actor``.
"""

from __future__ import annotations

from grid import centers as cc
from grid.model import CITY_CENTER
from incidents.actor import Actor
from incidents.incident import Incident, Task
from incidents.roles import CITY_READERS, HANDLER_ROLES, REPORTERS, SUPERVISOR_ACTIONS, spec

__all__ = ["CITY_READERS", "HANDLER_ROLES", "REPORTERS", "SUPERVISOR_ACTIONS", "can_assign",
           "can_handle", "can_join", "can_own", "can_read", "separation", "town_of", "worker_ids"]


def worker_ids(actor: Actor) -> set[str]:
    """The ids a grid worker's tasks may be addressed to."""
    ids = {actor.user_id}
    if actor.cell:
        ids.add(cc.worker_code(actor.cell))
    return ids


def town_of(actor: Actor) -> str | None:
    return cc.town_of(actor.center)


def can_read(actor: Actor, inc: Incident) -> str | None:
    """None if the actor may read the incident, else the reason why not."""
    if actor.role in CITY_READERS or (actor.role == "supervisor" and actor.is_city):
        return None
    if actor.role == "admin":
        return "管理员管理账号，不办理事件 (admins manage accounts, not incidents)"
    if actor.role == "grid_worker":
        mine = worker_ids(actor)
        # a report correlated into another's incident is one of its sources: still theirs, unless
        # it joined a case outside their scope (``foreign``: they hold a receipt, nothing more)
        if (inc.reporter in mine or any(t.center in mine for t in inc.tasks)
                or any(s.get("reporter") in mine and not s.get("foreign") for s in inc.sources)):
            return None
        return "网格员只看自己上报的事件和自己的任务 (grid workers see only their own reports and tasks)"
    if actor.center in inc.centers or actor.center == inc.center:
        return None
    town = town_of(actor)
    if town and inc.town_code == town:
        return None
    return f"不在 {actor.center} 的管辖范围内（块/条） (outside the scope of {actor.center})"


def can_join(actor: Actor, inc: Incident) -> str | None:
    """None if a report by ``actor`` that correlates into ``inc`` joins it *within* the actor's
    scope (the reporter then reads the case, as a source of it), else why not: the report is
    still linked, but as a foreign source, and the reporter gets a receipt only (issue 19, scope
    is total: no access is gained by reporting). A grid worker's scope here is their own town
    (块): a report near a neighbour's case in the same town is theirs to follow."""
    why = can_read(actor, inc)
    if why is None:
        return None
    if actor.role == "grid_worker" and town_of(actor) and inc.town_code == town_of(actor):
        return None
    return why


def can_own(actor: Actor, inc: Incident, action: str) -> str | None:
    """None if the actor may do an owning-center action (accept, dispatch, verify, …)."""
    role = spec(actor.role)
    if role.commands:
        return None
    if role.supervises:
        if action not in SUPERVISOR_ACTIONS:
            return ("监督核查员只核查、结案、督办和回访 "
                    f"(supervisors verify, close, urge and call back; they do not {action})")
        if actor.is_city or inc.center == actor.center:
            return None
        return f"该事件归 {inc.center} 办理 (the case belongs to {inc.center})"
    if role.owns:
        if inc.center == actor.center:
            return None
        if role.city_urges and actor.is_city and action in ("urge", "note"):   # 一级监督
            return None
        return (f"该事件归 {inc.center} 办理，不归 {actor.center} "
                f"(the case belongs to {inc.center}, not {actor.center})")
    return f"该角色无此权限 (role {actor.role} may not {action})"


def separation(actor: Actor, inc: Incident) -> str | None:
    """监管分离 (T11): whoever handled the case never verifies, closes or calls back on it:
    not its handling centers (a grid worker's task counts for the worker's town, T24; a task
    returned after it was worked still counts), not the users who worked a sub-task."""
    if actor.center in inc.handler_centers:
        return (f"监管分离: {actor.center} 处置过本事件，不能核查、结案或回访 "
                f"({actor.center} handled this case and may not verify, close or call back on it)")
    if actor.user_id in inc.handler_users:
        return (f"监管分离: {actor.user_id} 处置过本事件，不能核查、结案或回访 "
                f"({actor.user_id} handled this case and may not verify, close or call back on it)")
    return None


def can_handle(actor: Actor, task: Task) -> str | None:
    """None if the actor may work a sub-task (start, report back, return it)."""
    if actor.role not in HANDLER_ROLES:
        return f"该角色不处置子任务（监管分离） (role {actor.role} does not handle sub-tasks)"
    if actor.role == "grid_worker":
        return None if task.center in worker_ids(actor) else "不是你的任务 (not your task)"
    if task.center == actor.center:
        return None
    return (f"子任务 {task.n} 派给 {task.center}，不是 {actor.center} "
            f"(sub-task {task.n} is for {task.center}, not {actor.center})")


def can_assign(actor: Actor, target: str, target_town: str | None) -> str | None:
    """上情下达: may this actor give a task to ``target`` (center or W<cell>)?"""
    role = spec(actor.role)
    if role.assigns and role.reads_city and actor.is_city:
        return None if target != CITY_CENTER else ("市中心不能给自己下达任务 "
                                                   "(the city center cannot assign to itself)")
    if actor.role == "town_operator" and cc.is_worker(target):
        return None if target_town == town_of(actor) else "不是本镇街的网格员 (grid worker outside the town)"
    if actor.role == "dept_operator" and cc.is_worker(target):
        return None
    return (f"{actor.center} 不能向 {target} 下达任务 "
            f"({actor.role} at {actor.center} may not assign tasks to {target})")
