"""The incident (事件): one model for every channel, its sub-tasks and sources.

An incident is stored as one Redis hash (``keys.incident(id)``); lists (sub-tasks, sources,
links, attachments, centers) are JSON fields so that one atomic script moves all of it.
"""

from __future__ import annotations

from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Any

import orjson

from grid.categories import category_name
from incidents.vocab import Channel, State, TaskState

STATES: tuple[str, ...] = tuple(s.value for s in State)
STATE_NAMES: dict[str, str] = State.names()
FINAL_STATES: frozenset[str] = frozenset({State.CLOSED.value, State.VOIDED.value})
OPEN_STATES: frozenset[str] = frozenset(STATES) - FINAL_STATES
STAGE_OF_STATE: dict[str, str] = {
    State.REPORTED: "accept", State.ACCEPTED: "register", State.REGISTERED: "dispatch",
    State.DISPATCHED: "handle", State.IN_PROGRESS: "handle", State.HANDLED: "verify",
    State.VERIFIED: "close",
}
"""The deadline stage that runs while the incident is in a state (the next step to be done)."""

STAGE_NAMES: dict[str, str] = {"accept": "受理", "register": "立案", "dispatch": "派遣",
                               "handle": "处置", "verify": "核查", "close": "结案"}

CHANNELS: dict[str, str] = Channel.names()

TASK_STATE_NAMES: dict[str, str] = TaskState.names()
TASK_OPEN: frozenset[str] = frozenset({TaskState.DISPATCHED.value, TaskState.IN_PROGRESS.value})
TASK_STATES: tuple[str, ...] = tuple(s.value for s in TaskState)


@dataclass(eq=False)
class Task:
    """A sub-task (子任务) of an incident given to one handler center (or grid worker)."""

    n: int
    center: str                       # D<dept>, T<town> or W<cell> (a grid worker)
    state: str = "dispatched"
    dispatched_ts: float = 0.0
    started_ts: float = 0.0
    handled_ts: float = 0.0
    handler: str = ""                 # user id who started / reported back
    note: str = ""
    due_ts: float = 0.0               # its own handle deadline, set when dispatched (KPI on time)
    town: str = ""                    # a grid worker's task (W<cell>): the cell's town code

    @property
    def worked(self) -> bool:
        """Somebody worked on it: started, or reported back. A task returned before it was
        started was never worked (退回: "not ours"); one returned after was."""
        return bool(self.started_ts or self.handler)

    def __eq__(self, other: object) -> bool:
        # the instance dicts, compared in C: a change compares every sub-task of the incident
        # before and after (the dataclass' own __eq__ builds two tuples per comparison)
        if other.__class__ is not Task:
            return NotImplemented
        return self.__dict__ == other.__dict__

    __hash__ = None  # type: ignore[assignment]  (mutable, like the dataclass default)

    @property
    def place(self) -> str:
        return f"h:{self.center}"

    @property
    def open(self) -> bool:
        return self.state in TASK_OPEN


@dataclass
class Incident:
    """One incident (or a top-down task, ``kind == "task"``). See docs/incidents.md."""

    id: str
    category: str
    severity: str = "一般"
    kind: str = "incident"            # incident | task (上情下达)
    channel: str = "api"
    title: str = ""
    description: str = ""
    lon: float = 0.0
    lat: float = 0.0
    cell_code: str = ""
    village_code: str = ""
    town_code: str = ""
    reporter: str = ""
    reporter_center: str = ""
    center: str = ""                  # the owning center now (dispatches, verifies, closes)
    tier: str = "town"                # city | town | department
    place: str = ""                   # q:<center> | x:<center> | "" when closed/voided
    state: str = "reported"
    priority: int = 0                 # 1 = emergency mode / major (served first)
    created_ts: float = 0.0
    updated_ts: float = 0.0
    version: int = 0
    stage: str = ""                   # the deadline stage running now
    stage_ts: float = 0.0             # when it began
    due_ts: float = 0.0               # when it is due (0 = none)
    handle_limit_s: float = 0.0       # a task's own handle deadline (上情下达), 0 = configured
    urged: int = 0
    escalations: int = 0
    reopen_count: int = 0
    satisfaction: int = 0             # 回访 1..5 (0 = not yet)
    route_reason: str = ""
    void_reason: str = ""
    merged_into: str = ""
    emergency: int = 0
    situation: str = ""               # a situation (态势) of this family (flood, outage, …), or ""
    recovered_ts: float = 0.0         # 已恢复: when every alarm source cleared (0 = not recovered)
    human_ts: float = 0.0             # when a person's report last joined this machine case
    tasks: list[Task] = field(default_factory=list)
    sources: list[dict] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    attachments: list[str] = field(default_factory=list)
    centers: list[str] = field(default_factory=list)     # every center involved so far
    origin: list[str] = field(default_factory=list)      # centers it came up from (for 退回)
    suggested_depts: list[str] = field(default_factory=list)
    times: dict[str, float] = field(default_factory=dict)  # state → first time reached
    intake: str = field(default="", compare=False)       # transient: created|correlated|duplicate

    # --- derived ----------------------------------------------------------------------------
    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    @property
    def open_tasks(self) -> list[Task]:
        return [t for t in self.tasks if t.open]

    @property
    def active_tasks(self) -> list[Task]:
        """Sub-tasks not returned: the ones the incident waits for."""
        return [t for t in self.tasks if t.state != TaskState.RETURNED]

    @property
    def handler_centers(self) -> set[str]:
        """Every center that handles or handled the case (监管分离, T11): each sub-task's
        center unless it was returned unworked; on an incident, a grid worker's sub-task
        (``W<cell>``) also counts for the worker's town, whose own team it is (T24). A top-down
        task (上情下达) is checked by whoever gave it, its own grid worker's patrol included."""
        out = set()
        town_too = self.kind != "task"
        for t in self.tasks:
            if t.state != TaskState.RETURNED or t.worked:
                out.add(t.center)
                if t.town and town_too:
                    out.add(f"T{t.town}")
        return out

    @property
    def handler_users(self) -> set[str]:
        return {t.handler for t in self.tasks if t.handler}

    def task(self, n: int) -> Task | None:
        return next((t for t in self.tasks if t.n == n), None)

    def overdue(self, now: float) -> bool:
        return self.is_open and self.due_ts > 0 and now > self.due_ts

    @property
    def category_name(self) -> str:
        return category_name(self.category)

    # --- (de)serialisation --------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (sub-tasks as dicts), plus display names."""
        d = asdict(self)
        d.pop("intake", None)
        d["state_name"] = STATE_NAMES.get(self.state, self.state)
        d["category_name"] = self.category_name
        d["channel_name"] = CHANNELS.get(self.channel, self.channel)
        return d

    def to_hash(self, lean: bool = False) -> dict[str, str]:
        """The Redis hash mapping (all strings). ``lean``: without the fields that still hold
        their empty default (``from_hash`` restores them), except the ones raw readers ask for
        (``HASH_ALWAYS``): a new incident is written as ~30 fields, not 42."""
        d = self.__dict__
        if not lean:
            return {f: ENCODERS[f](d[f]) for f in _HASH_FIELDS}
        omit = _OMIT_IF_DEFAULT
        return {f: ENCODERS[f](d[f]) for f in _HASH_FIELDS
                if f not in omit or d[f] != omit[f]}

    @classmethod
    def from_hash(cls, h: dict[str, str]) -> Incident:
        """From the Redis hash; fields it lacks take their defaults. Builds the instance dict
        directly (no ``__init__`` with 45 keywords: this runs for every incident read)."""
        inc = object.__new__(cls)
        d = inc.__dict__
        d.update(_SCALAR_DEFAULTS)
        for name, factory in _FACTORY_DEFAULTS:
            d[name] = factory()
        for name, raw in h.items():
            dec = _DECODERS.get(name)
            if dec is not None:
                d[name] = dec(raw)
        missing = [f for f in _REQUIRED if f not in d]
        if missing:
            raise ValueError(f"incident hash without {missing}")
        return inc


_JSON_FIELDS = {"sources", "links", "attachments", "centers", "origin", "suggested_depts", "times"}
_FLOAT_FIELDS = {"lon", "lat", "created_ts", "updated_ts", "stage_ts", "due_ts", "handle_limit_s",
                 "recovered_ts", "human_ts"}
_INT_FIELDS = {"version", "priority", "urged", "escalations", "reopen_count", "satisfaction",
               "emergency"}


_ORJSON_OPTS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def to_json(value: Any) -> str:
    """Compact JSON, UTF-8 kept (orjson: several times faster than json on the write path)."""
    return orjson.dumps(value, option=_ORJSON_OPTS).decode()


def to_json_bytes(value: Any) -> bytes:
    """Compact JSON as UTF-8 bytes: what a script argument carries as it is (a ``str`` would be
    decoded from orjson's bytes, then encoded again by the packer)."""
    return orjson.dumps(value, option=_ORJSON_OPTS)


_ALL_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Incident))
_HASH_FIELDS: tuple[str, ...] = tuple(f for f in _ALL_FIELDS if f != "intake")


def _encoder(name: str):
    """The encoding function of one field (chosen once, not per value)."""
    if name == "tasks":
        return lambda value: to_json([t.__dict__ for t in value])
    if name in _JSON_FIELDS:
        return to_json
    if name in _FLOAT_FIELDS:
        return float_text
    return str


def float_text(value: float) -> str:
    """A float as the shortest text that reads back as the same float (what ``repr`` gives),
    from orjson: ~4x faster than ``repr``, whose digit generation was ~8 % of the client's work
    per dispatch cycle (timestamps, coordinates). Infinity and NaN, which JSON lacks, by
    ``repr``."""
    v = float(value)
    if v - v == 0.0:          # finite (inf - inf and nan - nan are nan)
        return orjson.dumps(v).decode()
    return repr(v)


ENCODERS: dict[str, Any] = {f: _encoder(f) for f in _HASH_FIELDS}
"""Field name → its encoding function (the hot path looks each up once per changed field)."""

HASH_ALWAYS: frozenset[str] = frozenset({
    "id", "category", "severity", "kind", "state", "center", "tier", "place", "lon", "lat",
    "town_code", "due_ts", "created_ts", "title", "priority", "sources", "version"})
"""Fields written even when empty: the ones read raw (HMGET) by the map frame, correlation and
the scripts."""


def encode(name: str, value: Any) -> str:
    """One field's hash value."""
    return ENCODERS[name](value)


def _decoder(name: str):
    """The decoding function of one field (chosen once, not per value)."""
    if name == "tasks":
        return _decode_tasks
    if name in _JSON_FIELDS:
        empty = dict if name == "times" else list
        return lambda raw: orjson.loads(raw) if raw else empty()
    if name in _FLOAT_FIELDS:
        return lambda raw: float(raw or 0)
    if name in _INT_FIELDS:
        return lambda raw: int(raw or 0)
    return str


def _decode_tasks(raw: str) -> list[Task]:
    """Sub-tasks from their JSON: instance dicts filled directly (the JSON holds every field
    ``encode`` wrote); anything else, e.g. an older layout, goes through ``Task(**t)``."""
    out = []
    for t in orjson.loads(raw or "[]"):
        if t.keys() == _TASK_FIELDS:
            task = object.__new__(Task)
            task.__dict__.update(t)
        else:
            task = Task(**t)
        out.append(task)
    return out


_TASK_FIELDS = {f.name for f in fields(Task)}
_DECODERS = {f: _decoder(f) for f in _HASH_FIELDS}
_SCALAR_DEFAULTS = {f.name: f.default for f in fields(Incident) if f.default is not MISSING}
_FACTORY_DEFAULTS = tuple((f.name, f.default_factory) for f in fields(Incident)
                          if f.default_factory is not MISSING)
_OMIT_IF_DEFAULT: dict[str, Any] = {
    name: default for name, default in [*_SCALAR_DEFAULTS.items(),
                                        *((n, factory()) for n, factory in _FACTORY_DEFAULTS)]
    if name in _HASH_FIELDS and name not in HASH_ALWAYS and default in ("", 0, [], {})}
"""Fields a lean hash leaves out while they hold this (empty) default."""
_REQUIRED = tuple(f.name for f in fields(Incident)
                  if f.default is MISSING and f.default_factory is MISSING)


def decode(name: str, raw: str) -> Any:
    """One field's value from its hash string."""
    return _DECODERS[name](raw)
