"""The 12345 rates beside their targets (E36 服务评价率/满意率, E52 响应率 100 %, E4 按时回访;
issue 24). Dash-free and pure: the records in, the rates out (tested against hand-computed
values of a fixed data set).

Over the cases of the public closed in a period (``callback.CallbackDesk.closed_between``: one
record per case, its last closing):

- 回访率 callback rate = called back (满意 or 不满意重办) / due a callback;
- 按时回访率 on-time callback rate = called back by the deadline / due a callback;
- 评价率 evaluation rate = scored by the citizen (好差评) / due a callback;
- 满意率 satisfied rate = satisfied / judged; a case's judgement is the citizen's own score when
  there is one (4–5, 好 = 满意), else its callback (满意 ≥ 3 kept; 不满意 reopened);
- 响应率 response rate = accepted (受理) / received, from the KPI counters of the same days.

Each rate stands beside its target and whether that target binds (约束性) or is expected (预期性):
``HotlineConfig.targets``. A rate with nothing to count is None (shown as "—"), never 0 or 100 %.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from incidents import defaults as D

NAMES: dict[str, str] = {"callback_rate": "回访率", "callback_on_time_rate": "按时回访率",
                         "evaluation_rate": "评价率", "satisfied_rate": "满意率",
                         "response_rate": "响应率"}
"""Each rate's Chinese name, in the order a screen shows them."""
BINDING_NAMES = {True: "约束性", False: "预期性"}


@dataclass(frozen=True)
class Rate:
    """One rate: its value (0–1, None: nothing to count), numerator/denominator, its target
    and whether the target binds; ``met``: None without a value."""

    key: str
    name: str
    value: float | None
    num: int
    den: int
    target: float
    binding: bool

    @property
    def met(self) -> bool | None:
        return None if self.value is None else self.value >= self.target - 1e-9

    def as_dict(self) -> dict:
        return {"key": self.key, "name": self.name, "value": self.value, "num": self.num,
                "den": self.den, "target": self.target, "binding": self.binding,
                "kind": BINDING_NAMES[self.binding], "met": self.met}


def _rate(key: str, num: int, den: int, targets: Mapping[str, tuple[float, bool]]) -> Rate:
    target, binding = targets.get(key, D.RATE_TARGETS[key])
    return Rate(key, NAMES[key], round(num / den, 4) if den else None, num, den, target, binding)


def compute(records: Iterable[Mapping], evaluations: Mapping[str, Mapping],
            received: int, accepted: int,
            targets: Mapping[str, tuple[float, bool]] | None = None) -> list[Rate]:
    """The five rates of ``records`` (callback records: ``id``, ``status``, ``on_time``,
    ``satisfied``), ``evaluations`` (case id → the citizen's evaluation: ``score``) and the
    KPI counts ``received``/``accepted`` of the same days."""
    targets = targets or D.RATE_TARGETS
    recs = list(records)
    due = len(recs)
    called = [r for r in recs if r.get("status") in ("done", "reopened")]
    on_time = sum(str(r.get("on_time")) == "1" for r in called)
    scored = [r for r in recs if r.get("id") in evaluations]
    judged = satisfied = 0
    for r in recs:
        ev = evaluations.get(str(r.get("id")))
        if ev is not None:
            judged += 1
            satisfied += int(ev.get("score") or 0) >= 4
        elif r.get("status") in ("done", "reopened"):
            judged += 1
            satisfied += str(r.get("satisfied")) == "1"
    return [_rate("callback_rate", len(called), due, targets),
            _rate("callback_on_time_rate", on_time, due, targets),
            _rate("evaluation_rate", len(scored), due, targets),
            _rate("satisfied_rate", satisfied, judged, targets),
            _rate("response_rate", accepted, received, targets)]


__all__ = ["BINDING_NAMES", "NAMES", "Rate", "compute"]
