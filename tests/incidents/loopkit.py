"""A case's whole loop by the town, for KPI tests: (受理 →) 立案 → 派遣 城管 → 处置 → 核查 → 结案."""

from __future__ import annotations


def close_loop(svc, who, inc_id: str, clock, *, accept: bool = True) -> None:  # noqa: ANN001
    """The town accepts (unless already accepted), registers, dispatches 城管, which handles it
    10 minutes later; the town's own supervisor verifies and the town closes it."""
    if accept:
        svc.accept(inc_id, who.town)
    svc.register(inc_id, who.town)
    svc.dispatch(inc_id, who.town, ["CG"])
    svc.start(inc_id, who.cg)
    clock.advance(600)
    svc.handle(inc_id, who.cg, note="已处置")
    svc.verify(inc_id, who.town_sup, passed=True)
    svc.close(inc_id, who.town)
