"""IncidentConfig: a deployment replaces the assumed defaults (deadlines, correlation, routing)."""

from __future__ import annotations

import pytest

from incidents.config import IncidentConfig, IncidentConfigError, RoutingRule
from incidents.service import IncidentService


def test_from_dict_overrides_entry_by_entry():
    cfg = IncidentConfig.from_dict({
        "stage_seconds": {"handle": {"一般": 43200}},
        "category_factor": {"0108": 0.5},
        "correlation": {"0108": [20, 600]},
        "routing_rules": [{"prefix": "0108", "owner": "line", "automatic": False}],
        "related": [["0107", "0104"]],
    })
    assert cfg.stage_limit("handle", "0107", "一般") == 43200
    assert cfg.stage_limit("handle", "0108", "一般") == 21600
    assert cfg.stage_limit("accept", "0107", "一般") == IncidentConfig().stage_limit("accept", "0107", "一般")
    assert cfg.correlation_for("0108") == (20.0, 600.0)
    assert cfg.rule_for("0108") == RoutingRule("0108", "line", False)
    assert cfg.rule_for("1201") is None
    assert cfg.related_to("0107", "0104") and not cfg.related_to("0301", "0302")
    with pytest.raises(ValueError, match="unknown"):
        IncidentConfig.from_dict({"stage_second": {}})
    with pytest.raises(ValueError, match="owner"):
        IncidentConfig.from_dict({"routing_rules": [["01", "nobody", False]]})


def test_service_follows_the_configured_rules(redis_client, demo_city, clock, who, here):
    cfg = IncidentConfig.from_dict({"routing_rules": [{"prefix": "0108", "owner": "line"}],
                                    "stage_seconds": {"accept": {"一般": 30}}})
    svc = IncidentService(redis_client, demo_city, cfg, clock=clock)
    inc = svc.report(who.worker, "0108", here.lon, here.lat)
    assert (inc.center, inc.tier) == ("DCG", "department")
    assert inc.due_ts == pytest.approx(clock() + 30)


def test_the_dispatch_worker_fires_deadlines_at_the_configured_times(redis_client, demo_city, clock,
                                                                     who, here):
    """What `onemap dispatch` runs, given an [incidents] table: 预警 when half the (configured)
    100 s are left, 督办 at 100 s, 上报 when overdue by a whole stage time more."""
    from incidents.worker import DispatchWorker  # noqa: PLC0415

    cfg = IncidentConfig.from_dict({"stage_seconds": {"accept": {"一般": 100}},
                                    "warn_before_fraction": 0.5, "escalate_after_fraction": 1.0})
    worker = DispatchWorker(redis_client, demo_city, config=cfg, clock=clock)
    inc = worker.service.report(who.worker, "0107", here.lon, here.lat, correlate=False)

    def fired() -> list[str]:
        worker.deadlines.tick()
        return [e["action"] for e in worker.service.timeline(inc.id, who.commander)
                if e["actor"] == "system"]

    for advance, expected in ((49, []), (2, ["warn"]), (48, ["warn"]), (1, ["warn", "urge"]),
                              (99, ["warn", "urge"]), (1, ["warn", "urge", "escalate"])):
        clock.advance(advance)
        assert fired() == expected, (clock() - inc.created_ts, expected)


@pytest.mark.parametrize(("table", "key"), [
    ({"stage_secnods": {}}, "incidents.stage_secnods"),
    ({"stage_seconds": {"handel": {"一般": 1}}}, "incidents.stage_seconds.handel"),
    ({"stage_seconds": {"handle": {"普通": 1}}}, "incidents.stage_seconds.handle.普通"),
    ({"stage_seconds": {"handle": {"一般": 0}}}, "incidents.stage_seconds.handle.一般"),
    ({"category_factor": {"1x": 2}}, "incidents.category_factor.1x"),
    ({"correlation": {"03": [100]}}, "incidents.correlation.03"),
    ({"routing_rules": [{"prefix": "01", "ownr": "city"}]}, "incidents.routing_rules.0.ownr"),
    ({"escalate_after_fraction": -1}, "incidents.escalate_after_fraction"),
    ({"major_severities": ["huge"]}, "incidents.major_severities.0"),
])
def test_every_bad_key_or_value_is_named(table, key):
    with pytest.raises(IncidentConfigError) as e:
        IncidentConfig.from_dict(table)

    assert any(p.startswith((f"{key}:", f"{key}.")) for p in e.value.problems), e.value.problems
