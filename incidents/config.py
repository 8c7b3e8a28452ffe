"""IncidentConfig: the rules a deployment configures (deadlines, correlation, routing).

Every default comes from ``incidents.defaults`` and is an assumption (the seeds give none).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

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

    def stage_limit(self, stage: str, category: str, severity: str) -> float:
        """Seconds allowed for ``stage`` of an incident of this category and severity."""
        k = (stage, category, severity)
        cache = self.__dict__.setdefault("_limits", {})   # frozen: settings never change
        limit = cache.get(k)
        if limit is None:
            per_sev = self.stage_seconds.get(stage) or self.stage_seconds["handle"]
            base = per_sev.get(severity, per_sev.get("一般", 3600))
            limit = cache[k] = float(base) * _longest_prefix(self.category_factor, category, 1.0)
        return limit

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
        """Build from a mapping (e.g. a TOML table ``[incidents]`` read by the app). Tables
        ``stage_seconds``, ``category_factor`` and ``correlation`` override the defaults entry by
        entry; ``routing_rules`` ([{prefix, owner, automatic}]) and ``related`` ([[codes]])
        replace them. Unknown keys are an error (a typo must not pass silently)."""
        base = cls()
        names = {f.name for f in fields(cls)}
        kw: dict[str, Any] = {}
        for k, v in d.items():
            if k not in names:
                raise ValueError(f"unknown incident setting {k!r}; known: {sorted(names)}")
            if k == "stage_seconds":
                merged = {st: dict(sev) for st, sev in base.stage_seconds.items()}
                for st, sev in v.items():
                    merged.setdefault(st, {}).update({s: int(x) for s, x in sev.items()})
                v = merged
            elif k == "category_factor":
                v = {**base.category_factor, **{p: float(x) for p, x in v.items()}}
            elif k == "correlation":
                v = {**base.correlation, **{p: (float(x[0]), float(x[1])) for p, x in v.items()}}
            elif k == "routing_rules":
                v = tuple(RoutingRule(**r) if isinstance(r, dict) else RoutingRule(*r) for r in v)
                for r in v:
                    if r.owner not in ("territory", "line", "city"):
                        raise ValueError(f"routing rule {r.prefix!r}: owner must be territory|line|city")
            elif k == "related":
                v = tuple(frozenset(g) for g in v)
            elif k == "major_severities":
                v = frozenset(v)
            kw[k] = v
        return cls(**kw)
