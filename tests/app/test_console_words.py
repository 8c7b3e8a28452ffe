"""The console's words without Dash (issue 21): names not codes, no English asides, the audit
trail saying who (系统 for the platform), to whom, the 回访 score, who took a case over, and which
photos are the report's and which the handler's (``app.screens.console.model``)."""

from __future__ import annotations

from types import SimpleNamespace

from app.screens.console import model

PZ = "440981001"


def test_reasons_lose_english_asides_and_codes(demo_city):
    dept = next(c for c in demo_city.centers if c.startswith("D"))
    text = f"规则 0108: 条线部门 {dept} (rule 0108: line owner); 自动派遣 {dept} (automatic dispatch)"
    out = model.readable(demo_city, text)
    name = model.short_center(demo_city, dept)
    assert out == f"规则 0108: 条线部门 {name}; 自动派遣 {name}", out
    assert model.readable(demo_city, "块: 网格所在镇街 (territory owner of the grid cell)") == \
        "块: 网格所在镇街"
    assert model.readable(demo_city, f"转 T{PZ}，事件 E20260101000001") == \
        f"转 {demo_city.town_names[PZ]}，事件 E20260101000001"          # case ids stay
    assert model.chinese("预警: 受理即将到期 (accept due soon)") == "预警: 受理即将到期"
    assert model.chinese("说明（English aside）后") == "说明后"
    assert model.chinese("满意度 (1–5)") == "满意度 (1–5)"                 # no Latin: kept


def test_the_trail_says_who_to_whom_and_the_score(demo_city):
    system = {"actor": "system", "name": "系统", "role": "city_operator", "center": "CITY",
              "action": "report", "state": "reported", "reason": "", "before": {}, "after": {}}
    assert model.who_did(demo_city, system) == "系统"
    assert model.trail_line(demo_city, system) == "系统 · 上报 → 上报"
    clerk = {"actor": "panzhou", "name": "潘州街道值班员", "role": "town_operator",
             "center": f"T{PZ}", "action": "dispatch", "state": "dispatched", "reason": "",
             "before": {"tasks": []}, "after": {"tasks": ["1:DCG:dispatched", "2:DSL:dispatched"]}}
    line = model.trail_line(demo_city, clerk)
    assert line.startswith(f"潘州街道值班员 (镇街值班员@{demo_city.town_names[PZ]}) · 派遣 → 派遣")
    assert f"派往 {model.short_center(demo_city, 'DCG')}、{model.short_center(demo_city, 'DSL')}" in line
    same = dict(clerk, name="市值班员", role="city_operator", center="CITY")
    assert model.who_did(demo_city, same) == "市值班员@市指挥中心"     # not "市值班员 (市值班员@…)"
    back = dict(clerk, action="callback", state="closed", before={"satisfaction": "0"},
                after={"satisfaction": "4"}, reason="市民满意 (satisfied)")
    assert model.trail_line(demo_city, back).endswith("· 回访 → 结案 · 满意度 4 分 · 市民满意")
    warn = dict(system, action="warn", state="accepted",
                reason="预警: 受理即将到期 (accept due soon)")
    assert "(" not in model.trail_line(demo_city, warn)


def test_owner_reason_after_a_take_over(demo_city):
    inc = SimpleNamespace(route_reason="块: 网格所在镇街 (territory owner of the grid cell)",
                          attachments=["/media/photo/" + "a" * 32, "/media/photo/" + "b" * 32,
                                       "https://elsewhere/x.jpg"])
    trail = [{"actor": "system", "role": "", "action": "report", "ts": 0,
              "before": {}, "after": {"center": f"T{PZ}"}}]
    assert model.owner_reason(demo_city, inc, trail) == "块: 网格所在镇街"
    trail.append({"actor": "commander", "name": "王指挥", "role": "city_commander",
                  "center": "CITY", "action": "take_over", "ts": 1_700_000_000, "reason": "重大舆情",
                  "before": {"center": f"T{PZ}"}, "after": {"center": "CITY"}})
    why = model.owner_reason(demo_city, inc, trail)
    assert why.startswith("接管: 王指挥 (市指挥长@市指挥中心)") and why.endswith("重大舆情")
    assert "网格所在镇街" not in why
    # photos: the report's, then those a 处置反馈 added (its before/after in the trail)
    trail.append({"actor": "chengguan", "role": "dept_operator", "action": "handle",
                  "before": {"attachments": ["/media/photo/" + "a" * 32]},
                  "after": {"attachments": ["/media/photo/" + "a" * 32, "/media/photo/" + "b" * 32]}})
    assert model.photo_kinds(inc, trail) == [("/media/photo/" + "a" * 32, model.BEFORE_PHOTO),
                                             ("/media/photo/" + "b" * 32, model.AFTER_PHOTO)]
    assert "处置后照片 1 张" in model.trail_line(demo_city, trail[-1])


def test_a_handle_carries_the_uploaded_photos():
    urls = ("/media/photo/" + "c" * 32,)
    body = model.action_body("handle", model.Inputs(text="已修复", photos=urls))
    assert body["attachments"] == list(urls) and body["note"] == "已修复"
    assert "attachments" not in model.action_body("handle", model.Inputs(text="已修复"))
    assert "attachments" not in model.action_body("note", model.Inputs(text="x", photos=urls))


def test_the_header_names_the_role_once():
    from app.screens.console.layout import who_am_i
    from incidents.actor import Actor

    def text(parts: list) -> str:
        return "".join(p if isinstance(p, str) else p.children for p in parts)
    assert text(who_am_i(Actor("ops", "city_operator", "CITY", "市值班员"))) == "市值班员"
    assert text(who_am_i(Actor("town", "town_operator", "T1", "东岸镇值班员"))) == "东岸镇值班员 · 镇街值班员"
