"""IncidentConfig: a deployment replaces the assumed defaults (deadlines, correlation, routing)."""

from __future__ import annotations

import pytest

from incidents.config import IncidentConfig, RoutingRule
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
