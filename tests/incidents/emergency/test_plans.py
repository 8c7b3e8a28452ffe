"""预案 import and validation (issue 16, X23/X24): the demo plans import; each kind of bad plan is
refused with its specific message naming the field; versions record who changed what."""

from __future__ import annotations

import copy

import pytest
import yaml

from incidents.actor import SYSTEM, Actor
from incidents.config import IncidentConfig
from incidents.emergency import plans as P
from incidents.errors import Forbidden
from incidents.policy import Policy

COMMANDER = Actor("boss", "city_commander", "CITY", "市指挥长")
OPERATOR = Actor("city-op", "city_operator", "CITY", "市值班员")


@pytest.fixture(scope="module")
def known(demo_city) -> P.Known:
    return P.Known(demo_city, frozenset(s.name for s in IncidentConfig().situations),
                   frozenset({"water_level", "manhole", "weather.rain_mmh", "electrical.voltage_v"}))


@pytest.fixture(scope="module")
def flood() -> dict:
    return yaml.safe_load(P.read_demo()["flood-typhoon.yaml"])


def test_demo_plans_parse_and_are_labelled(known) -> None:
    files = P.read_demo()
    assert {"flood-typhoon.yaml", "urban-waterlogging.yaml", "power-outage.yaml"} <= set(files)
    for text in files.values():
        plan = P.parse_plan(text, known)
        assert plan.demo is True
        assert [lv.level for lv in plan.levels] == list(P.RESPONSE_LEVELS[:len(plan.levels)])


def _bad(flood: dict, edit) -> dict:  # noqa: ANN001
    d = copy.deepcopy(flood)
    edit(d)
    return d


BAD = [
    ("deadline zero", lambda d: d["levels"][2]["tasks"][0]["items"][0].update(deadline_min=0),
     "levels[2].tasks[0].items[0].deadline_min: 应为正整数"),
    ("deadline text", lambda d: d["levels"][0]["tasks"][1]["items"][0].update(deadline_min="半小时"),
     "levels[0].tasks[1].items[0].deadline_min: 应为正整数"),
    ("deadline too long", lambda d: d["levels"][0]["tasks"][0]["items"][0].update(deadline_min=10**6),
     "levels[0].tasks[0].items[0].deadline_min: 不能大于 43200"),
    ("unknown center", lambda d: d["members"][0].update(unit="DXX"),
     "members[0].unit: DXX 不是本市的中心"),
    ("not a center code", lambda d: d["members"][1].update(unit="CITY"),
     "members[1].unit: CITY 不是部门或镇街中心编码"),
    ("task of a non-member", lambda d: d["levels"][1]["tasks"][0].update(unit="DRF"),
     "levels[1].tasks[0].unit: DRF 不是本预案的成员单位"),
    ("levels out of order", lambda d: d["levels"].reverse(), "levels[1].level: 级别须由低到高"),
    ("unknown level", lambda d: d["levels"][0].update(level="V"), "levels[0].level: 取值应为 'IV'"),
    ("wrong level name", lambda d: d["levels"][0].update(name="重大"), "levels[0].name: IV 级应为「一般」"),
    ("unknown hazard", lambda d: d.update(hazard="洪水"), "hazard: 取值应为 '防汛防台'"),
    ("missing headquarters", lambda d: d.pop("headquarters"), "headquarters: 缺少此项"),
    ("unknown field", lambda d: d.update(owner="x"), "owner: 未知的字段"),
    ("empty trigger", lambda d: d["levels"][0]["triggers"].append({}),
     "levels[0].triggers[2]: 至少须有一个条件"),
    ("unknown category", lambda d: d["levels"][0]["triggers"][0].update(categories=["0399"]),
     "levels[0].triggers[0].categories[0]: 未知的事件类别 0399"),
    ("unquoted category", lambda d: d["levels"][0]["triggers"][0].update(categories=[301]),
     "levels[0].triggers[0].categories[0]: 应为文本"),
    ("unknown family", lambda d: d["levels"][1]["triggers"][0].update(families=["typhoon"]),
     "levels[1].triggers[0].families[0]: 未知的态势类别 typhoon"),
    ("unknown alarm rule", lambda d: d["levels"][0]["triggers"][1].update(alarm_rules=["rain"]),
     "levels[0].triggers[1].alarm_rules[0]: 未知的告警规则 rain"),
    ("unknown alarm level", lambda d: d["levels"][0]["triggers"][1].update(alarm_level="purple"),
     "levels[0].triggers[1].alarm_level: 取值应为 'blue'"),
    ("office not a member", lambda d: d["headquarters"].update(office="DJY"),
     "headquarters.office: DJY 不是本预案的成员单位"),
    ("no tasks", lambda d: d["levels"][3].update(tasks=[]), "levels[3].tasks: 至少须有 1 项"),
    ("negative quantity", lambda d: d["levels"][0]["resources"][0].update(quantity=-2),
     "levels[0].resources[0].quantity: 应为正整数"),
    ("bad id", lambda d: d.update(id="防汛"), "id: 格式不符"),
]


@pytest.mark.parametrize(("what", "edit", "message"), BAD, ids=[b[0] for b in BAD])
def test_bad_plan_refused_naming_its_field(known, flood, what, edit, message) -> None:
    with pytest.raises(P.PlanError) as exc:
        P.parse_plan(_bad(flood, edit), known)
    assert any(p.startswith(message) for p in exc.value.problems), exc.value.problems


def test_bad_yaml_and_not_a_mapping(known) -> None:
    with pytest.raises(P.PlanError, match="YAML 格式错误 第 \\d 行"):
        P.parse_plan("id: x\nlevels: [a,\n  : b: c\n", known)
    with pytest.raises(P.PlanError, match="预案应为一个映射"):
        P.parse_plan("- a\n- b\n", known)


def test_versions_record_who_changed_what(redis_client, demo_city, known, clock) -> None:
    book = P.PlanBook(redis_client, known, Policy(demo_city), clock)
    first = book.load_demo(SYSTEM)
    assert {s.plan.id for s in first} == {"flood-typhoon", "urban-waterlogging", "power-outage"}
    assert all(s.version == 1 for s in first)
    again = book.load_demo(COMMANDER)                      # unchanged files: no new version
    assert [s.version for s in again] == [1, 1, 1]
    text = P.read_demo()["flood-typhoon.yaml"].replace("deadline_min: 30}", "deadline_min: 20}", 1)
    clock.advance(60)
    stored, changed = book.put(text, COMMANDER, "缩短气象报送时限")
    assert changed and stored.version == 2 and stored.by == "boss"
    assert stored.changes == ("levels[0].tasks[1].items[0].deadline_min",)
    hist = book.history("flood-typhoon")
    assert [h["version"] for h in hist] == [2, 1]
    assert hist[0]["actor"] == "boss" and hist[0]["reason"] == "缩短气象报送时限"
    assert hist[0]["changes"] == ["levels[0].tasks[1].items[0].deadline_min"]
    assert book.get("flood-typhoon", 1).plan.levels[0].tasks[1].items[0].deadline_min == 30
    assert book.get("flood-typhoon").plan.levels[0].tasks[1].items[0].deadline_min == 20
    with pytest.raises(Forbidden, match="只有市指挥长可以导入预案"):
        book.put(text, OPERATOR)
    with pytest.raises(P.PlanError):                     # a bad edit stores nothing
        book.put(text.replace("hazard: 防汛防台", "hazard: 洪水"), COMMANDER)
    assert book.get("flood-typhoon").version == 2
