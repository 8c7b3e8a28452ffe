"""The policy (规则): who may do what with a case, now. One home for every permission rule.

``IncidentService`` asks ``Policy.check`` before it changes a case, and refuses with the
exception it raises (``Forbidden``: scope S1/S2 or 监管分离 T11, audited; ``InvalidTransition``:
the lifecycle, ``lifecycle.TRANSITIONS``). The console's buttons, the API's action list for an
incident (``GET /api/incidents/<id>`` → ``actions``) and the phone's task buttons ask
``Policy.available`` — the same checks, run without raising — so a screen never offers what the
service refuses, nor hides what it allows (tests/incidents/test_policy.py drives random actors ×
random cases through every state to show it).

Arguments an action needs (a reason, departments, a score) are checked by the service when the
action is done; ``Offer.needs`` tells a screen which input to ask for, and
``dispatch_targets``/``assign_targets`` which choices to list.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from grid import centers as cc
from grid.model import CITY_CENTER, City
from incidents import lifecycle, scope
from incidents.actor import SYSTEM, Actor
from incidents.errors import Forbidden, IncidentError, InvalidTransition, NotFound
from incidents.incident import Incident, Task
from incidents.roles import spec
from incidents.vocab import Action, State, TaskState

_ONLY_NEW_MERGE = "只能合并尚未派遣的事件 (only cases not yet dispatched merge)"


@dataclass(frozen=True)
class Offer:
    """One action a user may take with a case now: what a button shows and which input it needs
    (``needs``: ``""``, ``"targets"`` 派遣单位, ``"reason"``, ``"note"``, ``"satisfaction"`` 满意度,
    ``"severity"`` 等级, ``"others"`` 合并的事件, ``"source"`` 拆分的来源)."""

    action: str
    label: str
    needs: str = ""
    hint: str = ""                    # why this is the way forward (e.g. after 监管分离)
    choices: tuple = field(default=(), compare=False)

    def to_dict(self) -> dict:
        d = {"action": self.action, "name": self.label, "needs": self.needs}
        if self.hint:
            d["hint"] = self.hint
        if self.choices:
            d["choices"] = list(self.choices)
        return d


def _registry() -> dict:
    from incidents.actions import REGISTRY  # noqa: PLC0415 (actions imports this module)

    return REGISTRY


NEEDS: dict[str, str] = {a: d.needs for a, d in _registry().items() if d.needs}
"""The input each action needs from the person doing it (``actions.Spec.needs``)."""

OFFERED: tuple[str, ...] = tuple(_registry())
"""The actions a person takes on one case, in the order a screen shows them (``actions``)."""

FORWARD_TO_CITY = ("监管分离：本中心处置过此事件，不能自行核查或结案；请「上报」市中心核查 "
                   "(your center handled this case: submit it to the city center for 核查)")


class Policy:
    """The rules over one city (its centers and cells: dispatch targets, tiers)."""

    def __init__(self, city: City) -> None:
        self.city = city
        self._cell_towns: dict[str, str] | None = None
        self._checks: dict[str, Callable[[Actor, Incident], None]] = {
            Action.ACCEPT: self._owner_step(Action.ACCEPT),
            Action.REGISTER: self._owner_step(Action.REGISTER),
            Action.DISPATCH: self._dispatch, Action.START: self._start, Action.HANDLE: self._handle,
            Action.VERIFY: self._verify, Action.REOPEN: self._verify, Action.CLOSE: self._close,
            Action.RETURN: self._return, Action.ESCALATE: self._escalate,
            Action.TAKE_OVER: self._take_over, Action.URGE: self._owner_step(Action.URGE),
            Action.SEVERITY: self._severity, Action.MERGE: self._merge, Action.SPLIT: self._split,
            Action.VOID: self._owner_step(Action.VOID), Action.CALLBACK: self._callback,
            Action.NOTE: self._note, Action.PUSH_UPPER: self._push_upper,
        }
        for a, declared in _registry().items():   # actions declared with their own rule
            if declared.check is not None:
                self._checks[a] = functools.partial(declared.check, self)

    # --- asking -----------------------------------------------------------------------------
    def check(self, action: str, actor: Actor, inc: Incident) -> None:
        """Raise ``Forbidden`` or ``InvalidTransition`` when ``actor`` may not do ``action`` with
        ``inc`` in its current state; the service calls this before every change."""
        self._checks[action](actor, inc)

    def refusal(self, action: str, actor: Actor, inc: Incident) -> IncidentError | None:
        """The refusal ``check`` would raise, or None when the action is allowed."""
        try:
            self.check(action, actor, inc)
        except (Forbidden, InvalidTransition, NotFound) as exc:
            return exc
        return None

    def allowed(self, actor: Actor, inc: Incident) -> list[str]:
        """The actions ``actor`` may take with ``inc`` now (``OFFERED`` order)."""
        return [a for a in OFFERED if self.refusal(a, actor, inc) is None]

    def available(self, actor: Actor, inc: Incident) -> list[Offer]:
        """What a screen offers ``actor`` for ``inc``: the allowed actions with their inputs,
        and, when 监管分离 alone stops the owner from checking its own work, the way forward
        (上报 to the city center for 核查), marked with a hint."""
        out: list[Offer] = []
        for a in self.allowed(actor, inc):
            choices: tuple = ()
            if a == Action.DISPATCH:
                choices = tuple(self.dispatch_targets(actor, inc))
                if not choices:
                    continue
            elif a == Action.SEVERITY:
                from incidents.defaults import SEVERITIES  # noqa: PLC0415

                choices = tuple(s for s in SEVERITIES if s != inc.severity)
            elif a == Action.SPLIT:
                choices = tuple(range(1, len(inc.sources)))
            hint = FORWARD_TO_CITY if a == Action.ESCALATE and self.separated(actor, inc) else ""
            out.append(Offer(a, Action(a).cn if a != Action.ESCALATE or not hint else "提交市中心核查",
                             NEEDS.get(a, ""), hint, choices))
        return out

    @staticmethod
    def can_read(actor: Actor, inc: Incident) -> bool:
        """May ``actor`` see ``inc`` at all (S1/S2)? A screen lists nothing else."""
        return scope.can_read(actor, inc) is None

    def separated(self, actor: Actor, inc: Incident) -> bool:
        """Would 监管分离 (and only it) stop ``actor`` from checking or closing ``inc`` now?"""
        step = {State.HANDLED: Action.VERIFY, State.VERIFIED: Action.CLOSE}.get(inc.state)
        if step is None or scope.can_own(actor, inc, step) is not None:
            return False
        return scope.separation(actor, inc) is not None

    # --- choices ------------------------------------------------------------------------------
    def dispatch_targets(self, actor: Actor, inc: Incident) -> list[str]:
        """Whom ``actor`` may send ``inc`` to (派遣/追加派遣): departments, towns (the city's or a
        department's cases; a town sends within itself, 跨镇街 through the city) and the grid
        worker of the case's cell (a town: every grid worker of its own). Not who works on it
        already, nor who just returned its part (退回)."""
        busy = {t.center for t in inc.tasks if t.open or t.state == TaskState.RETURNED}
        out: list[str] = []
        if inc.cell_code:
            out.append(cc.worker_code(inc.cell_code))
        out += [c.code for c in self.city.centers.values() if c.tier == "department"]
        if not cc.is_town(inc.center) or actor.role == "city_commander":
            out += [c.code for c in self.city.centers.values() if c.tier == "town"]
        own_town = cc.town_of(inc.center)
        if own_town:
            cells = self.city.cells
            out += [cc.worker_code(str(c)) for c in cells.loc[cells["town_code"] == own_town, "code"]]
        ok = []
        for code in dict.fromkeys(out):
            if code in busy:
                continue
            try:
                self.dispatch_target(inc, actor, code)
            except (IncidentError, ValueError):
                continue
            ok.append(code)
        return ok

    def dispatch_target(self, inc: Incident, actor: Actor, code: str) -> tuple[str, str]:
        """(handler center, its town code if a grid worker) of a dispatch target, checked: a known
        department, town or grid cell; not the city center; a town sends its own grid workers
        only (another town's ground goes through the city center, 跨镇街)."""
        from incidents import routing  # noqa: PLC0415

        try:
            c = routing.target_center(self.city, code)
        except KeyError:
            raise ValueError(f"未知的派遣单位 {code!r} (unknown department/center)") from None
        if c == CITY_CENTER:
            raise InvalidTransition("dispatch", inc.state, "市中心负责指挥，不作为处置单位 "
                                    "(the city center commands; it is no handler)", inc.id)
        town = ""
        if cc.is_worker(c):
            town = self.town_of_target(c) or ""
            if not town:
                raise ValueError(f"未知的网格 {c[1:]!r} (unknown grid cell)")
        sender = cc.town_of(inc.center)
        if sender and actor is not SYSTEM and actor.role != "city_commander":
            if town and town != sender:
                raise Forbidden("dispatch", actor, f"{c} 是其他镇街的网格员（跨镇街: 经市中心派遣） "
                                f"(grid worker {c} works in another town's grid)", inc.id)
            if cc.is_town(c) and c != inc.center:
                raise Forbidden("dispatch", actor, f"{c} 是其他镇街（跨镇街: 经市中心派遣） "
                                f"({c} is another town: through the city center)", inc.id)
        return c, town

    def town_of_target(self, target: str) -> str | None:
        """The town code of a grid worker (``W<cell>``) or a town center; None if unknown."""
        cell = cc.cell_of(target)
        if cell is not None:
            if self._cell_towns is None:
                cells = self.city.cells
                self._cell_towns = dict(zip(cells["code"].astype(str), cells["town_code"].astype(str),
                                            strict=True))
            return self._cell_towns.get(cell)
        c = self.city.centers.get(target)
        return c.town_code if c else None

    def assign_targets(self, actor: Actor) -> list[str]:
        """Whom ``actor`` may give a task (上情下达, ``scope.can_assign``): the city every center
        but itself; a town its own grid workers; a department any grid worker."""
        if not spec(actor.role).assigns:
            return []
        if actor.is_city:
            cands: Iterable[str] = (c for c in self.city.centers if c != CITY_CENTER)
            return [c for c in cands if scope.can_assign(actor, c, self.town_of_target(c)) is None]
        cells = self.city.cells
        town = cc.town_of(actor.center)
        if town:
            cells = cells[cells["town_code"] == town]
        return [cc.worker_code(str(c)) for c in cells["code"]
                if scope.can_assign(actor, cc.worker_code(str(c)), town or None) is None]

    def merge_ok(self, actor: Actor, other: Incident) -> IncidentError | None:
        """Why ``other`` may not be folded into a case by ``actor`` (合并), or None."""
        why = scope.can_own(actor, other, Action.MERGE)
        if why:
            return Forbidden(Action.MERGE, actor, why, other.id)
        if other.state not in lifecycle.PRE_DISPATCH:
            return InvalidTransition(Action.MERGE, other.state, _ONLY_NEW_MERGE, other.id)
        return None

    # --- sub-tasks ----------------------------------------------------------------------------
    def my_task(self, actor: Actor, inc: Incident, n: int | None, required: bool = True) -> Task | None:
        """The sub-task ``actor`` works on (explicit ``n``, or its own first open one)."""
        if n is not None:
            t = inc.task(n)
            if t is None:
                raise NotFound(f"{inc.id}#{n}", "sub-task")
            why = scope.can_handle(actor, t)
            if why:
                if not required:
                    return None
                raise Forbidden("handle", actor, why, inc.id)
            return t
        mine = [t for t in inc.tasks if t.open and scope.can_handle(actor, t) is None]
        if not mine:
            if not required:
                return None
            anyone = [t for t in inc.tasks if scope.can_handle(actor, t) is None]
            if anyone:
                raise InvalidTransition("handle", inc.state, "你的子任务已不在办理中 "
                                                             "(your sub-task is not open)", inc.id)
            raise Forbidden("handle", actor, "本事件没有派给你的子任务（监管分离/条块） "
                                             "(no sub-task of this case is yours)", inc.id)
        return mine[0]

    # --- one check per action -----------------------------------------------------------------
    @staticmethod
    def own(actor: Actor, inc: Incident, action: str) -> None:
        """The owning center's actions (受理, 派遣, 核查…): ``scope.can_own``."""
        why = scope.can_own(actor, inc, action)
        if why:
            raise Forbidden(action, actor, why, inc.id)

    @staticmethod
    def separate(actor: Actor, inc: Incident, action: str) -> None:
        """监管分离 (T11): ``scope.separation``."""
        why = scope.separation(actor, inc)
        if why:
            raise Forbidden(action, actor, why, inc.id)

    def _owner_step(self, action: str) -> Callable[[Actor, Incident], None]:
        def check(actor: Actor, inc: Incident) -> None:
            self.own(actor, inc, action)
            lifecycle.check(action, inc.state, inc.id)
        return check

    def _dispatch(self, actor: Actor, inc: Incident, auto: bool = False) -> None:
        if not auto:
            self.own(actor, inc, Action.DISPATCH)
        state = inc.state
        if (auto or inc.emergency) and state == State.REPORTED:
            state = State.ACCEPTED        # 应急模式 fast path / automatic rule: accepted on dispatch
        lifecycle.check(Action.DISPATCH, state, inc.id)

    def check_auto_dispatch(self, inc: Incident) -> None:
        """An admin-marked automatic rule dispatches without an owner's check (E30)."""
        self._dispatch(SYSTEM, inc, auto=True)

    def _start(self, actor: Actor, inc: Incident) -> None:
        lifecycle.check(Action.START, inc.state, inc.id)
        t = self.my_task(actor, inc, None)
        assert t is not None
        if t.state != TaskState.DISPATCHED:
            raise InvalidTransition(Action.START, t.state, task_is(t), inc.id)

    def _handle(self, actor: Actor, inc: Incident) -> None:
        lifecycle.check(Action.HANDLE, inc.state, inc.id)
        t = self.my_task(actor, inc, None)
        assert t is not None
        if not t.open:
            raise InvalidTransition(Action.HANDLE, t.state, task_is(t), inc.id)

    def _verify(self, actor: Actor, inc: Incident) -> None:
        self.own(actor, inc, Action.VERIFY)
        self.separate(actor, inc, Action.VERIFY)
        lifecycle.check(Action.VERIFY, inc.state, inc.id)

    def _close(self, actor: Actor, inc: Incident) -> None:
        self.own(actor, inc, Action.CLOSE)
        self.separate(actor, inc, Action.CLOSE)
        lifecycle.check(Action.CLOSE, inc.state, inc.id)
        if inc.open_tasks:
            raise InvalidTransition(Action.CLOSE, inc.state, "还有未完成的子任务 "
                                                            "(sub-tasks are still open)", inc.id)

    def _return(self, actor: Actor, inc: Incident) -> None:
        lifecycle.check(Action.RETURN, inc.state, inc.id)
        if self.my_task(actor, inc, None, required=False) is not None:
            return                        # a handler returns its own sub-task
        self.return_down(actor, inc)

    def return_down(self, actor: Actor, inc: Incident) -> None:
        """The owner returns a case it received from below (escalated) to that center."""
        self.own(actor, inc, Action.RETURN)
        if inc.state not in lifecycle.PRE_DISPATCH:
            raise InvalidTransition(Action.RETURN, inc.state, "事件已派出处置中，不能退回下级 "
                                    "(the case is out with its handlers)", inc.id)
        if not inc.origin:
            raise InvalidTransition(Action.RETURN, inc.state,
                                    "该事件不是下级上报的，请作废而非退回 "
                                    "(it came from no lower center; void it instead)", inc.id)

    def _escalate(self, actor: Actor, inc: Incident) -> None:
        self.own(actor, inc, Action.ESCALATE)
        lifecycle.check(Action.ESCALATE, inc.state, inc.id)
        if self.parent_of(inc.center) is None:
            raise InvalidTransition(Action.ESCALATE, inc.state, "市中心已是最高层级 "
                                    "(the city center is the top tier)", inc.id)

    def parent_of(self, center: str) -> str | None:
        """The tier above a center (上报 goes there); None at the top."""
        if center == CITY_CENTER:
            return None
        c = self.city.centers.get(center)
        return c.parent if c else CITY_CENTER

    def _take_over(self, actor: Actor, inc: Incident) -> None:
        if not (actor.is_city and spec(actor.role).reads_city and spec(actor.role).owns):
            raise Forbidden(Action.TAKE_OVER, actor, "只有市中心的指挥长/值班员可以接管 "
                            "(only the city center's commander/operators take over)", inc.id)
        lifecycle.check(Action.TAKE_OVER, inc.state, inc.id)
        if inc.center == CITY_CENTER:
            raise InvalidTransition(Action.TAKE_OVER, inc.state, "已由市中心办理 "
                                    "(the city center owns it already)", inc.id)

    def _severity(self, actor: Actor, inc: Incident) -> None:
        if actor is not SYSTEM:
            self.own(actor, inc, Action.SEVERITY)
        lifecycle.check(Action.SEVERITY, inc.state, inc.id)

    def _merge(self, actor: Actor, inc: Incident) -> None:
        self.own(actor, inc, Action.MERGE)
        lifecycle.check(Action.MERGE, inc.state, inc.id)

    def _split(self, actor: Actor, inc: Incident) -> None:
        self.own(actor, inc, Action.SPLIT)
        lifecycle.check(Action.SPLIT, inc.state, inc.id)
        if len(inc.sources) < 2:
            raise InvalidTransition(Action.SPLIT, inc.state, "只有一条来源，无可拆分 "
                                    "(one source only: nothing to split)", inc.id)

    def _callback(self, actor: Actor, inc: Incident) -> None:
        self.own(actor, inc, Action.CALLBACK)
        self.separate(actor, inc, Action.CALLBACK)      # a handler never rates its own work
        lifecycle.check(Action.CALLBACK, inc.state, inc.id)
        if inc.satisfaction:
            raise InvalidTransition(Action.CALLBACK, inc.state, "已回访过 (already called back)", inc.id)

    def _note(self, actor: Actor, inc: Incident) -> None:
        why = scope.can_read(actor, inc)
        if why and actor is not SYSTEM:
            raise Forbidden(Action.NOTE, actor, why, inc.id)
        lifecycle.check(Action.NOTE, inc.state, inc.id)

    def _push_upper(self, actor: Actor, inc: Incident) -> None:
        """上报省平台 (X13/X24 信息报送): the city center's commander and operators."""
        if not (actor.is_city and spec(actor.role).pushes_upper):
            raise Forbidden(Action.PUSH_UPPER, actor, "只有市中心可以上报省平台 "
                            "(only the city center pushes to the provincial platform)", inc.id)
        if inc.state == State.VOIDED:
            raise InvalidTransition(Action.PUSH_UPPER, inc.state, "已作废的事件不上报 "
                                    "(a voided case is not pushed)", inc.id)

    # --- 应急响应 (emergency plans and responses, issue 16) -------------------------------------
    RESPONSE_ACTIONS = ("import_plan", "read_plan", "activate", "level", "end", "take_over",
                        "read_response")
    """What is asked of ``check_response``: 导入/编辑预案, 查看预案, 启动响应, 调整级别, 终止响应,
    市接管, 查看响应看板."""

    def check_response(self, actor: Actor, action: str, *, town: str | None = None,
                       owner: str | None = None, level: str | None = None,
                       members: Iterable[str] = ()) -> None:
        """Who may do what with a plan (预案) or a response (应急响应): raise ``Forbidden``.

        ``town``: the response's territory (a town code; None = city-wide); ``owner``: the center
        commanding it now (``CITY`` or ``T<town>``); ``level``: IV/III/II/I asked for;
        ``members``: its member units (成员单位: a department reads the board it works on).
        Rules (T5 镇街应急联动, X19 集中统一指挥): the city's commander (``commands``) imports
        plans and activates, changes, ends and takes over any response; a town operator
        activates, changes and ends a level IV (一般) response of its own territory only, while
        it commands it (not after the city took it over); reading plans: every role that calls
        the API; a board: the city's readers, its own town, its member units."""
        if action not in self.RESPONSE_ACTIONS:
            raise ValueError(f"未知的应急操作 {action!r} (unknown response action)")
        role = spec(actor.role)
        commander = actor.is_city and role.commands
        own_town = cc.town_of(actor.center)
        if action == "read_plan":
            if role.calls_api:
                return
            why = "该角色不能查看预案 (this role does not read plans)"
        elif action == "read_response":
            if (actor.is_city and (role.reads_city or role.commands) or (own_town and own_town == town)
                    or actor.center in set(members)):
                return
            why = "只能查看本辖区或本单位参与的应急响应 (only responses of your territory or unit)"
        elif commander:
            if action == "take_over" and (owner == CITY_CENTER or not town):
                raise InvalidTransition(action, "active", "该响应已由市中心指挥 "
                                        "(the city center commands it already)")
            return
        elif action in ("import_plan", "take_over"):
            why = ("只有市指挥长可以导入预案、接管镇街响应 "
                   "(only the city commander imports plans and takes over responses)")
        elif action in ("activate", "level", "end") and actor.role == "town_operator":
            if not town or town != own_town:
                why = (f"镇街只能启动/指挥本辖区的应急响应（{town or '全市'} 不是 {own_town}） "
                       "(a town commands responses of its own territory only)")
            elif owner is not None and owner != actor.center:
                why = "该响应已由市中心接管 (the city center has taken this response over)"
            elif level is not None and level != "IV":
                why = "镇街只能启动/调整 IV 级（一般）响应，更高级别由市指挥长决定 " \
                      "(a town commands level IV only; higher levels are the city commander's)"
            else:
                return
        else:
            why = "只有市指挥长或本辖区镇街值班员可以指挥应急响应 " \
                  "(only the city commander or the town's operator commands a response)"
        raise Forbidden(action, actor, why)

    # --- 应急资源 (the resource register and 一键调度, issue 16) ---------------------------------
    def check_resource_dispatch(self, actor: Actor, resource: object, incident: Incident | None = None,
                                action: str = "dispatch") -> None:
        """Who may dispatch a resource (一键调度) and move its assignment (签收/出发/到场/释放):
        raise ``Forbidden``. ``resource``: a ``grid.resources.Held`` (its ``owner`` center and
        ``town``). Rules (X19 集中统一指挥, T5): the city's commander (``commands``) any
        resource; a town's operator its own town's resources within its territory, for a case
        of its territory; a department's operator its department's resources."""
        role = spec(actor.role)
        owner, town = str(getattr(resource, "owner", "")), str(getattr(resource, "town", ""))
        if actor.is_city and role.commands:
            return
        if role.responds and action != "dispatch" and actor.cell and owner == actor.center \
                and getattr(resource, "id", None) == actor.cell:
            return      # 救援队员: steps and position of its own team's dispatch (issue 17, X16)
        own_town = cc.town_of(actor.center)
        if own_town and role.owns and owner == actor.center and town == own_town:
            if incident is None or incident.town_code == own_town:
                return
            why = "镇街只能为本辖区的事件调度资源 (a town dispatches for cases of its territory)"
        elif cc.is_dept(actor.center) and role.owns and owner == actor.center:
            return
        else:
            why = ("只能调度本单位的资源；跨镇街、跨部门调度由市指挥长决定 "
                   "(only your own unit's resources; the city commander dispatches any)")
        raise Forbidden(action, actor, why)

    def check_resource_import(self, actor: Actor) -> None:
        """导入应急资源: the city's commander or administrator."""
        role = spec(actor.role)
        if not (actor.is_city and (role.commands or role.administers)):
            raise Forbidden("import_resources", actor, "只有市指挥长或管理员可以导入应急资源 "
                            "(only the city commander or an administrator imports resources)")

    def may_pin_wall(self, actor: Actor) -> str | None:
        """上墙 (issue 23): None if ``actor`` may choose what the city's wall shows: a role of the
        city center that works the city's queue (``owns``: commander, city operator; the hall's
        operators), else why not. The wall is the city's: a town, a department, a supervisor or
        the kiosk itself may not."""
        if actor.is_city and spec(actor.role).owns:
            return None
        return "只有市级指挥长、值班员可以设置大屏上墙画面 (only the city's hall operators pin wall cameras)"

    def may_watch(self, actor: Actor, camera: dict) -> str | None:
        """视频调阅 (V27 全程可控, issue 23): None if ``actor`` may watch ``camera`` (a registry
        row: ``town_code``, ``cell_code``, ``share``, ``owner``), else why not. The city's
        readers all; a town's roles its territory's (块); a department the cameras whose
        ``share`` names it (条; its name or code); a grid worker the public-space (``owner``
        public) cameras of their own cell. An administrator manages, and does not watch."""
        role = spec(actor.role)
        if actor.is_city and (role.reads_city or actor.role == "supervisor" or role.responds):
            return None
        town = cc.town_of(actor.center)
        if town:
            if str(camera.get("town_code")) != town:
                return f"摄像机不在 {actor.center} 的辖区内 (camera outside the territory)"
            if actor.role == "grid_worker" and (str(camera.get("cell_code")) != str(actor.cell)
                                                or camera.get("owner") != "public"):
                return "网格员只能调阅本网格的公共区域摄像机 (grid workers: public cameras of their cell)"
            return None
        dept = cc.dept_of(actor.center)
        if dept:
            shared = {s.strip() for s in str(camera.get("share") or "").split(",") if s.strip()}
            names = {d.name for d in self.city.departments if d.code == dept}
            if shared & ({dept, actor.center} | names):
                return None
            return f"该摄像机未共享给 {actor.center} (camera not shared to this department)"
        return f"角色 {actor.role} 不能调阅视频 (role may not watch video)"


def visible_devices(actor: Actor, frame, line_col: str | None):  # noqa: ANN001, ANN201 (DataFrame)
    """The devices (sensors, cameras) ``actor`` may see (S1/S2 分级接入), as a filtered frame: the
    city's roles all; a town its territory (块; a grid worker its own cell); a department its line
    (条: ``line_col`` names the owning department, or a camera's comma-separated ``share`` list)."""
    role = spec(actor.role)
    if actor.is_city and role.reads_city or actor.is_city and actor.role == "supervisor":
        return frame
    town = cc.town_of(actor.center)
    if town:
        f = frame[frame["town_code"].astype(str) == town]
        if actor.role == "grid_worker":
            f = f[f["cell_code"].astype(str) == str(actor.cell)]
        return f
    dept = cc.dept_of(actor.center)
    if dept and line_col and line_col in frame:
        col = frame[line_col].astype(str)
        if line_col == "share":
            return frame[col.str.split(",").apply(lambda s: dept in s or actor.center in s)]
        return frame[col.isin([dept, actor.center])]
    return frame.iloc[0:0]


def task_is(t: Task) -> str:
    """A sub-task's state, said for a refusal."""
    return f"子任务 {t.n} 已是「{TaskState(t.state).cn}」 (sub-task {t.n} is {t.state})"
