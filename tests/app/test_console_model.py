"""The console's data model without Dash: the panel's controls from the policy's offers, action
bodies, target names (``app.screens.console.model``)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from app.screens.console import model
from app.screens.console.ids import Id, act_button
from incidents.policy import OFFERED, Offer

PZ = "440981001"


def test_one_button_per_offerable_action_with_free_access_keys():
    assert [a for a, _ in model.BUTTONS] == list(OFFERED)
    keys = [k for _, k in model.BUTTONS if k]
    assert len(keys) == len(set(keys)) and "w" not in keys     # Alt+W: the new-incident form
    assert Id.SEL == "sel" and act_button("accept") == {"type": "act", "action": "accept"}


def test_controls_come_from_the_offers(demo_city):
    cells = demo_city.cells[demo_city.cells["town_code"] == PZ]
    own, other = (str(c) for c in cells["worker_id"].iloc[:2])
    inc = SimpleNamespace(sources=[{"channel": "grid_worker"},
                                   {"channel": "hotline", "reporter": "panzhou",
                                    "description": "市民来电：井盖松动"}])
    offers = [Offer("dispatch", "派遣", "targets", choices=(own, "DCG", other)),
              Offer("escalate", "提交市中心核查", "", "监管分离：请上报市中心核查"),
              Offer("severity", "定级", "severity", choices=("较大", "重大")),
              Offer("merge", "合并", "others", choices=("E-1",)),
              Offer("split", "拆分", "source", choices=(1,)),
              Offer("note", "备注", "note")]
    c = model.controls(demo_city, inc, offers, suggested=["DSL", "DCG"], titles={"E-1": "井盖"})
    assert c.offered == ["dispatch", "escalate", "severity", "merge", "split", "note"]
    assert c.labels["escalate"] == "提交市中心核查" and c.hints == ("监管分离：请上报市中心核查",)
    assert [t["value"] for t in c.targets] == [own, "DCG", other]          # the policy's order
    assert c.targets[0]["label"].startswith("网格员 ") and " · " in c.targets[0]["label"]
    assert c.preselect == ("DCG",)                 # suggested and offered; 水利 is not offered
    assert c.inputs == {"depts", "severity", "others", "source", "reason"}
    assert [s["value"] for s in c.severities] == ["较大", "重大"]
    assert c.others == ({"label": "E-1 · 井盖", "value": "E-1"},)
    assert c.sources[0]["value"] == 1 and "12345热线" in c.sources[0]["label"] and c.source == 1
    assert model.controls(demo_city, inc, []) == model.Controls()


@pytest.mark.parametrize(("action", "given", "why"), [
    ("dispatch", model.Inputs(), "派遣单位"), ("reopen", model.Inputs(text=" "), "原因"),
    ("note", model.Inputs(), "备注"), ("severity", model.Inputs(), "等级"),
    ("merge", model.Inputs(), "合并"), ("split", model.Inputs(), "拆分"),
])
def test_an_action_without_its_input_is_told_not_sent(action, given, why):
    with pytest.raises(ValueError, match=why):
        model.action_body(action, given)


def test_action_bodies_carry_the_chosen_inputs():
    b = model.action_body("merge", model.Inputs(text="重复", others=("E-1", "E-2")))
    assert b["others"] == ["E-1", "E-2"] and b["reason"] == "重复"
    assert model.action_body("split", model.Inputs(source=2))["source_index"] == 2
    assert model.action_body("severity", model.Inputs(severity="重大"))["severity"] == "重大"
    assert model.action_body("dispatch", model.Inputs(depts=("W1",)))["depts"] == ["W1"]


def test_names(demo_city):
    assert model.short_center(demo_city, "CITY") == "市指挥中心"
    assert model.short_center(demo_city, f"T{PZ}") == demo_city.town_names[PZ]
    assert model.target_label(demo_city, "DCG") == model.short_center(demo_city, "DCG")
    assert model.action_name("denied:verify") == "越权被拒 (核查通过)"
    assert model.action_name("escalate") == "上报上级"


def test_the_alarm_metric_not_the_first_one():
    """The sparkline shows the metric whose alarm raised the case (issue 15): the source's own
    ``metric``, else the rule named in the alarm episode's key; not the device's first metric."""
    import pandas as pd

    frame = pd.DataFrame({"id": ["mh-1", "wl-1"], "type": ["manhole", "water_level"]})
    inc = SimpleNamespace(sources=[
        {"channel": "iot", "ref": "mh-1", "key": "alarm:mh-1:water:1700000000000"},
        {"channel": "iot", "ref": "wl-1", "metric": "level_m", "key": ""},
        {"channel": "hotline", "ref": "12345-1"}])
    assert model.alarm_metrics(inc, frame) == {"mh-1": "water_cm", "wl-1": "level_m"}


def test_bulk_message_says_each_refusal():
    res = [{"id": f"E{k}", "ok": k > 1, "reason": "" if k > 1 else "已受理"} for k in range(20)]
    assert model.bulk_message("受理", res) == "✓ 18 受理 · ✗ 2: E0: 已受理; E1: 已受理"
    assert model.bulk_message("受理", res, shown=1).endswith("; 另 1 件")
