"""The console as a town/department clerk reads it (issue 21), through its callbacks: the form
dropdowns have their options in the first layout, the audit trail names 系统, whom a case was
sent to, the 回访 score and who took it over, and a department attaches 处置后照片 to its
处置反馈 (处置前后对比), shown as such in the panel."""

from __future__ import annotations

import base64
import io

from app.screens.console import ConsoleData, incident_panel
from app.users import UserStore
from incidents.actor import SYSTEM
from tests.app.test_api import PZ, point_in
from tests.app.test_console_callbacks import _panel
from tests.app.test_scope_console import Console, _outputs


def _layout_props(con: Console) -> dict[str, dict]:
    """The first layout the page gets: id → props of every component that has an id."""
    found: dict[str, dict] = {}

    def walk(node) -> None:  # noqa: ANN001
        if isinstance(node, list):
            for n in node:
                walk(n)
        elif isinstance(node, dict):
            props = node.get("props")
            if isinstance(props, dict):
                if isinstance(props.get("id"), str):
                    found[props["id"]] = props
                for v in props.values():
                    walk(v)
    resp = con.c.get("/console/_dash-layout")
    assert resp.status_code == 200
    walk(resp.json)
    return found


def test_form_dropdowns_have_their_options_in_the_first_layout(web, app_ctx):
    """类别, 地点 (and the commander's 区域) are filled on first paint, not by a later callback;
    the page loads the dropdowns' code with itself (eager loading, no second fetch)."""
    town = _layout_props(Console(web, "town"))
    assert len(town["new-category"]["options"]) > 20
    assert town["new-category"]["value"] in {o["value"] for o in town["new-category"]["options"]}
    marks = town["new-landmark"]["options"]
    assert len(marks) >= 3 and all(" " in m["label"] for m in marks)
    tname = UserStore(app_ctx.redis).get("town").name.replace("值班员", "")
    assert all(m["label"].startswith(tname) for m in marks)           # its own villages only
    assert "em-town" not in town                                      # the commander's form
    cmd = _layout_props(Console(web, "commander"))
    assert len(cmd["em-town"]["options"]) == len(app_ctx.city.towns)
    assert {o["label"] for o in cmd["em-town"]["options"]} == set(app_ctx.city.town_names.values())
    page = Console(web, "town").c.get("/console/").get_data(as_text=True)
    assert "async-dropdown" in page or "dash_core_components.js" in page


def _text(node) -> str:  # noqa: ANN001
    if isinstance(node, str | int | float):
        return str(node)
    kids = getattr(node, "children", None)
    kids = kids if isinstance(kids, list | tuple) else [kids] if kids is not None else []
    return " ".join(_text(k) for k in kids)


def test_the_trail_names_the_system_the_receiver_the_score_and_the_take_over(web, app_ctx):
    svc, city = app_ctx.incidents, app_ctx.city
    users = UserStore(app_ctx.redis)
    pz, cg, cmd = (users.get(u).actor for u in ("panzhou", "chengguan", "commander"))
    inc = svc.report(SYSTEM, "0108", *point_in(city, PZ, 5), description="井盖破损")
    svc.accept(inc.id, pz)
    svc.dispatch(inc.id, pz, ["DCG"])
    svc.handle(inc.id, cg, note="已更换井盖")
    svc.verify(inc.id, pz, passed=True)
    svc.close(inc.id, pz)
    svc.callback(inc.id, pz, 4, note="市民满意")
    data = ConsoleData(app_ctx)
    parts = incident_panel(data, pz, svc.get(inc.id, pz), svc.timeline(inc.id, pz))
    timeline = next(p for p in parts if getattr(p, "id", None) == "timeline")
    lines = [_text(li) for li in timeline.children]
    assert "系统 · 上报 → 上报" in lines[0] and "市值班员" not in lines[0]
    assert "派往 城管" in next(x for x in lines if "· 派遣 →" in x)
    assert "满意度 4 分" in lines[-1] and "回访" in lines[-1]
    details = _text(parts[1])
    assert "上报人 系统" in details and "system" not in details
    # 接管: the 归属 line says who took it, not "块: 网格所在镇街" any more
    other = svc.report(pz, "0108", *point_in(city, PZ, 7), description="路灯不亮")
    assert "网格所在镇街" in _text(incident_panel(data, pz, other, svc.timeline(other.id, pz))[1])
    assert f"上报人 {users.get('panzhou').name}" in _text(
        incident_panel(data, pz, other, svc.timeline(other.id, pz))[1])
    svc.take_over(other.id, cmd, reason="领导批示")
    other = svc.get(other.id, cmd)
    details = _text(incident_panel(data, cmd, other, svc.timeline(other.id, cmd))[1])
    assert "接管: 市指挥长@市指挥中心" in details and "领导批示" in details
    assert "网格所在镇街" not in details and "(territory" not in details


def _png(shade: int) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (8, 6), (shade, 80, 120)).save(buf, "PNG")
    return buf.getvalue()


def _upload(con: Console, sel: str, blobs: list[bytes]):
    out = next(d["output"] for d in con.deps
               if any(i["id"] == "act-upload" for i in d["inputs"]))
    urls = [f"data:image/png;base64,{base64.b64encode(b).decode()}" for b in blobs]
    return con.post({"output": out, "outputs": _outputs(out),
                     "inputs": [{"id": "act-upload", "property": "contents", "value": urls}],
                     "changedPropIds": ["act-upload.contents"],
                     "state": [{"id": "sel", "property": "data", "value": sel}]})


def test_a_department_attaches_after_photos_to_its_handle(web, app_ctx):
    svc, city = app_ctx.incidents, app_ctx.city
    users = UserStore(app_ctx.redis)
    pz = users.get("panzhou").actor
    report_photo = "/media/photo/" + "d" * 32
    inc = svc.report(SYSTEM, "0108", *point_in(city, PZ, 11), description="井盖破损",
                     attachments=[report_photo])
    svc.accept(inc.id, pz)
    svc.dispatch(inc.id, pz, ["DCG"])
    cg = Console(web, "chengguan")
    assert _panel(cg, inc.id).json["response"]["photo-box"]["hidden"] is False   # 处置反馈 on offer
    assert _panel(Console(web, "panzhou"), inc.id).json["response"]["photo-box"]["hidden"] is True
    out = _upload(cg, inc.id, [_png(10), _png(200)]).json["response"]
    assert out["act-msg"]["className"] == "msg ok" and "2 张" in out["act-photos-text"]["children"]
    bad = _upload(cg, inc.id, [b"not an image"]).json["response"]
    assert bad["act-msg"]["className"] == "msg err" and "2 张" in bad["act-photos-text"]["children"]
    assert not any(ch.isascii() and ch.isalpha() for ch in bad["act-msg"]["children"])
    # another town's clerk cannot put photos on the case (scope on the server)
    assert _upload(Console(web, "town"), inc.id, [_png(30)]).status_code == 403
    msg = cg.act(inc.id, "handle", reason="已更换井盖").json["response"]["act-msg"]["children"]
    assert msg.startswith("✓ 处置反馈") and "处置后照片 2 张" in msg
    case = svc.store.load(inc.id)
    after = [u for u in case.attachments if u != report_photo]
    assert case.state == "handled" and len(after) == 2
    assert data_pending(app_ctx, "chengguan", inc.id) == []             # taken by the 处置反馈
    # the panel: the report's photo and the handler's, each said, each to enlarge
    from dash import html

    parts = incident_panel(ConsoleData(app_ctx), pz, svc.get(inc.id, pz), svc.timeline(inc.id, pz))
    figs = [f for p in parts if getattr(p, "className", "") == "photos" for f in p.children]
    got = {f.children[0].src: f.children[1].children for f in figs}
    assert got == {report_photo: "上报照片", after[0]: "处置后照片", after[1]: "处置后照片"}
    assert all(isinstance(f.children[0], html.Img) and "zoomable" in f.children[0].className
               for f in figs)
    # the photos are served to whoever may read the case (the phone's path and rules)
    c = Console(web, "panzhou").c
    assert c.get(after[0]).status_code == 200 and c.get(after[0]).mimetype == "image/png"
    assert Console(web, "town").c.get(after[0]).status_code == 403


def data_pending(app_ctx, user: str, incident_id: str) -> list[str]:  # noqa: ANN001
    return ConsoleData(app_ctx).pending_photos(UserStore(app_ctx.redis).get(user).actor, incident_id)
