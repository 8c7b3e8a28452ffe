"""IncidentConfig: the rules a deployment configures (deadlines, correlation, routing).

Every default comes from ``incidents.defaults`` and is an assumption (the seeds give none). A
deployment changes them in the ``[incidents]`` table of its TOML file (``ONEMAP_CONFIG``), which
``IncidentTable`` validates key by key (unknown key or bad value: an error naming it) and
``IncidentConfig.from_dict`` turns into the rules the service applies (docs/incidents.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    StringConstraints,
    ValidationError,
    model_validator,
)

from incidents import defaults as D


def _longest_prefix(table: dict, code: str, fallback):
    best, best_len = fallback, -1
    for prefix, value in table.items():
        if code.startswith(prefix) and len(prefix) > best_len:
            best, best_len = value, len(prefix)
    return best


@dataclass(frozen=True)
class RoutingRule:
    """A configured routing rule for categories starting with ``prefix``.

    ``owner``: ``territory`` (town of the grid cell), ``line`` (the category's department) or
    ``city``. ``automatic``: an admin-marked rule that dispatches to the line owner without a
    person confirming (E30: everything else waits for a human).
    """

    prefix: str
    owner: str = "territory"
    automatic: bool = False


@dataclass(frozen=True)
class SituationRule:
    """A situation family (态势/事件群): alarms and machine cases of these ``categories``
    (prefixes) in one area (``area``: ``town`` = the same town, ``radius`` = within
    ``radius_m`` of the situation) and within ``window_s`` of its last source are ONE case.
    ``city_towns`` (town areas only; 0 = never): when this many towns have a situation of the
    family within the window (city-wide weather), they fold into ONE situation of the city
    center (``incidents.situations``: 全市态势); 1 = the family is always city-wide."""

    name: str
    label: str
    categories: tuple[str, ...]
    area: str = "town"
    radius_m: float = 3000.0
    window_s: float = 7200.0
    city_towns: int = 0

    def covers(self, category: str) -> bool:
        return any(category.startswith(p) for p in self.categories)


def _families(d: dict[str, dict]) -> tuple[SituationRule, ...]:
    return tuple(SituationRule(name, str(v.get("label", name)), tuple(v["categories"]),
                               str(v.get("area", "town")), float(v.get("radius_m", 3000.0)),
                               float(v.get("window_s", 7200.0)), int(v.get("city_towns", 0)))
                 for name, v in d.items())


@dataclass(frozen=True)
class IncidentConfig:
    """Deadlines per stage by category × severity, correlation, routing. Defaults are assumptions."""

    stage_seconds: dict[str, dict[str, int]] = field(default_factory=lambda: dict(D.STAGE_SECONDS))
    category_factor: dict[str, float] = field(default_factory=lambda: dict(D.CATEGORY_DEADLINE_FACTOR))
    warn_before_fraction: float = D.WARN_BEFORE_FRACTION
    escalate_after_fraction: float = D.ESCALATE_AFTER_FRACTION
    correlation: dict[str, tuple[float, float]] = field(default_factory=lambda: dict(D.CORRELATION))
    related: tuple[frozenset[str], ...] = D.RELATED_CATEGORIES
    routing_rules: tuple[RoutingRule, ...] = tuple(RoutingRule(p, o, a) for p, o, a in D.ROUTING_RULES)
    major_severities: frozenset[str] = D.MAJOR_SEVERITIES
    correlate: bool = True
    idempotency_ttl_s: int = D.IDEMPOTENCY_TTL_S
    queue_maxlen: int = D.QUEUE_MAXLEN
    feed_maxlen: int = D.FEED_MAXLEN
    id_block: int = D.ID_BLOCK
    situations: tuple[SituationRule, ...] = _families(D.SITUATION_FAMILIES)
    channel_min_stage_seconds: dict[str, dict[str, int]] = field(
        default_factory=lambda: {c: dict(v) for c, v in D.CHANNEL_MIN_STAGE_SECONDS.items()})
    recovery_quiet_s: float = D.RECOVERY_QUIET_S
    escalation_limit: int = D.ESCALATION_LIMIT
    escalation_window_s: float = D.ESCALATION_WINDOW_S
    audit_digest: str = "sha256"   # the audit trails' hash chain (SEC21): sha256 | sm3 (国密)

    def stage_limit(self, stage: str, category: str, severity: str, channel: str = "") -> float:
        """Seconds allowed for ``stage`` of an incident of this category and severity; a machine
        channel's floor (``channel_min_stage_seconds``) keeps alarms from all falling overdue at
        once in a storm."""
        k = (stage, category, severity, channel)
        cache = self.__dict__.setdefault("_limits", {})   # frozen: settings never change
        limit = cache.get(k)
        if limit is None:
            per_sev = self.stage_seconds.get(stage) or self.stage_seconds["handle"]
            base = per_sev.get(severity, per_sev.get("一般", 3600))
            limit = float(base) * _longest_prefix(self.category_factor, category, 1.0)
            floor = self.channel_min_stage_seconds.get(channel, {}).get(stage, 0)
            limit = cache[k] = max(limit, float(floor))
        return limit

    def family_of(self, category: str) -> SituationRule | None:
        """The situation family a category belongs to (the longest matching prefix), or None."""
        best: SituationRule | None = None
        best_len = -1
        for f in self.situations:
            for p in f.categories:
                if category.startswith(p) and len(p) > best_len:
                    best, best_len = f, len(p)
        return best

    def family(self, name: str) -> SituationRule | None:
        return next((f for f in self.situations if f.name == name), None)

    def correlation_for(self, category: str) -> tuple[float, float]:
        """(radius m, window s) for correlating a new event of this category."""
        return _longest_prefix(self.correlation, category, self.correlation.get("", (150.0, 7200.0)))

    def related_to(self, a: str, b: str) -> bool:
        """Same or related category (one is a prefix of the other, or one configured group)."""
        if a == b or a.startswith(b) or b.startswith(a):
            return True
        return any(a in g and b in g for g in self.related)

    def rule_for(self, category: str) -> RoutingRule | None:
        best: RoutingRule | None = None
        for r in self.routing_rules:
            if category.startswith(r.prefix) and (best is None or len(r.prefix) > len(best.prefix)):
                best = r
        return best

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> IncidentConfig:
        """Build from a mapping (the ``[incidents]`` table of the deployment's TOML file, see
        docs/incidents.md). Tables ``stage_seconds``, ``category_factor`` and ``correlation``
        override the defaults entry by entry; ``routing_rules`` ([{prefix, owner, automatic}])
        and ``related`` ([[codes]]) replace them. Unknown keys and bad values are an error naming
        the key (:class:`IncidentConfigError`): a typo must not pass silently."""
        try:
            table = IncidentTable.model_validate(d)
        except ValidationError as e:
            raise IncidentConfigError(e) from None
        base = cls()
        kw: dict[str, Any] = {}
        for k in table.model_fields_set:
            v = getattr(table, k)
            if k == "stage_seconds":
                merged = {st: dict(sev) for st, sev in base.stage_seconds.items()}
                for st, sev in v.items():
                    merged.setdefault(st, {}).update(sev)
                v = merged
            elif k == "category_factor":
                v = {**base.category_factor, **v}
            elif k == "correlation":
                v = {**base.correlation, **v}
            elif k == "routing_rules":
                v = tuple(RoutingRule(r.prefix, r.owner, r.automatic) for r in v)
            elif k == "related":
                v = tuple(frozenset(g) for g in v)
            elif k == "major_severities":
                v = frozenset(v)
            elif k == "situations":
                v = _families({name: f.model_dump() for name, f in v.items()})
            elif k == "channel_min_stage_seconds":
                v = {**base.channel_min_stage_seconds, **{c: dict(st) for c, st in v.items()}}
            kw[k] = v
        return cls(**kw)


# --- the [incidents] table: validated with pydantic, every key named in an error -----------------

Stage = Literal[tuple(D.STAGE_SECONDS)]  # type: ignore[valid-type]  (accept, register, ...)
Severity = Literal[D.SEVERITIES]  # type: ignore[valid-type]  (一般, 较大, 重大, 特别重大)
CategoryPrefix = Annotated[str, StringConstraints(pattern=r"^(\d\d)+$")]
"""A category code or a prefix of one: pairs of digits (``03``, ``0301``)."""


class _Table(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RoutingRuleTable(_Table):
    """One ``[[incidents.routing_rules]]`` entry (see :class:`RoutingRule`)."""

    prefix: CategoryPrefix = Field(description="Category code prefix the rule applies to.")
    owner: Literal["territory", "line", "city"] = Field(
        "territory", description="territory = the town of the grid cell (块), line = the "
        "category's department (条), city = the city center.")
    automatic: bool = Field(False, description="Dispatch to the line owner without a person "
                            "confirming (E30: only admin-marked rules).")

    @model_validator(mode="before")
    @classmethod
    def _from_list(cls, v: Any) -> Any:
        # the older list form ["11", "territory", true] (as in incidents.defaults.ROUTING_RULES)
        if isinstance(v, (list, tuple)):
            return dict(zip(("prefix", "owner", "automatic"), v, strict=False))
        return v


class SituationTable(_Table):
    """One ``[incidents.situations.<family>]`` entry (see :class:`SituationRule`)."""

    label: str = Field("", description="The family's name operators read (内涝/汛情).")
    categories: list[CategoryPrefix] = Field(min_length=1, description="Category prefixes of "
                                             "the family.")
    area: Literal["town", "radius"] = Field("town", description="town = the same town; radius "
                                            "= within radius_m of the situation.")
    radius_m: PositiveFloat = Field(3000.0, description="Radius (m) when area = radius.")
    window_s: PositiveFloat = Field(7200.0, description="A source joins while the situation's "
                                    "last source is at most this old (s).")
    city_towns: NonNegativeInt = Field(0, description="area = town: when this many towns have a "
                                       "situation of the family within the window, they fold "
                                       "into one city situation (0 = never, 1 = always city-wide).")


class IncidentTable(_Table):
    """The ``[incidents]`` table a deployment may set; every key optional (defaults: the demo
    assumptions of ``incidents.defaults``)."""

    stage_seconds: dict[Stage, dict[Severity, PositiveInt]] = Field(
        default_factory=dict, description="Stage deadline (s) by stage × severity; entries "
        "override the defaults one by one.")
    category_factor: dict[CategoryPrefix, PositiveFloat] = Field(
        default_factory=dict, description="Deadline multiplier by category prefix (longest wins).")
    warn_before_fraction: float = Field(D.WARN_BEFORE_FRACTION, gt=0, lt=1, description=
                                        "预警 when this fraction of the stage time is left.")
    escalate_after_fraction: float = Field(D.ESCALATE_AFTER_FRACTION, gt=0, description=
                                           "上报 when overdue by this fraction of the stage time.")
    correlation: dict[Annotated[str, StringConstraints(pattern=r"^(\d\d)*$")],
                      tuple[PositiveFloat, PositiveFloat]] = Field(
        default_factory=dict, description="[radius m, window s] by category prefix ('' = any).")
    related: list[Annotated[list[CategoryPrefix], Field(min_length=2)]] = Field(
        default_factory=list, description="Groups of categories that describe one real event "
        "(replaces the defaults).")
    routing_rules: list[RoutingRuleTable] = Field(
        default_factory=list, description="Routing rules (replace the defaults).")
    major_severities: list[Severity] = Field(
        default_factory=list, description="Severities that route straight to the city center.")
    correlate: bool = Field(True, description="Merge a new report into an open incident nearby.")
    idempotency_ttl_s: PositiveInt = Field(D.IDEMPOTENCY_TTL_S, description="How long a client "
                                           "idempotency key is remembered (s).")
    queue_maxlen: PositiveInt = Field(D.QUEUE_MAXLEN, description="Approximate cap of a center's "
                                      "queue stream.")
    feed_maxlen: PositiveInt = Field(D.FEED_MAXLEN, description="Approximate cap of om:inc:feed.")
    id_block: PositiveInt = Field(D.ID_BLOCK, description="Case numbers reserved at a time.")
    situations: dict[Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$")],
                     SituationTable] = Field(
        default_factory=dict, description="Situation families (态势): name → categories, area, "
        "window (replaces the defaults).")
    channel_min_stage_seconds: dict[Literal["iot", "video_ai", "device_fault", "grid_worker",
                                            "hotline", "walk_in", "external", "api"],
                                    dict[Stage, PositiveInt]] = Field(
        default_factory=dict, description="Least deadline (s) per channel × stage (machine "
        "cases: no 60 s accept in a storm); per channel over the defaults.")
    recovery_quiet_s: PositiveFloat = Field(D.RECOVERY_QUIET_S, description="已恢复 → 自动恢复 "
                                            "after this quiet period (s).")
    escalation_limit: PositiveInt = Field(D.ESCALATION_LIMIT, description="Automatic "
                                          "escalations per center per window; the rest wait.")
    escalation_window_s: PositiveFloat = Field(D.ESCALATION_WINDOW_S, description="The window "
                                               "of escalation_limit (s).")
    audit_digest: Literal["sha256", "sm3"] = Field("sha256", description="Digest of the "
                                                   "incident audit trails' hash chain (SM3: 国密).")


class IncidentConfigError(ValueError):
    """The ``[incidents]`` table is wrong: one line per problem, each naming its key
    (``incidents.stage_seconds.handel``), Chinese first."""

    def __init__(self, error: ValidationError) -> None:
        self.problems = validation_problems(error, "incidents")
        super().__init__("; ".join(self.problems))


_CN = {"extra_forbidden": "未知的配置项", "literal_error": "取值不在允许范围内",
       "missing": "缺少必填项"}


def validation_problems(error: ValidationError, root: str) -> list[str]:
    """One line per problem of a pydantic error: ``key.path: 中文 / English``. A bad mapping
    key is named as the key itself (pydantic's ``[key]`` marker is dropped)."""
    out: list[str] = []
    for e in error.errors(include_url=False):
        key = ".".join(str(p) for p in (root, *e["loc"]) if p != "[key]")
        en = "unknown key" if e["type"] == "extra_forbidden" else e["msg"]
        line = f"{key}: {_CN.get(e['type'], '取值无效')} / {en}"
        if line not in out:
            out.append(line)
    return out
