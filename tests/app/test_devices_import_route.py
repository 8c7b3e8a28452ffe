"""``POST /api/admin/devices/import`` (设备台账导入, issue 18): admin only; every refusal names the row
and field (400), nothing half-written; a good file lands in the registry."""

from __future__ import annotations

import io

from sensors.registry import load_or_create
from tests.app.authkit import login


def _post(c, tok: str, text: str, name: str = "d.csv", **form: str):
    data = {"file": (io.BytesIO(text.encode()), name), **form}
    return c.post("/api/admin/devices/import", data=data, headers={"X-CSRFToken": tok},
                  content_type="multipart/form-data")


def test_admin_imports_devices_and_bad_rows_are_named(web, app_ctx):
    p = app_ctx.city.cells.geometry.iloc[7].representative_point()
    good = f"id,type,lon,lat\nroute-0001,gas,{p.x:.6f},{p.y:.6f}\n"
    bad = f"id,type,lon,lat\nroute-0002,gas,{p.x:.6f},{p.y:.6f}\nroute-0003,gas,{p.x:.6f},999\n"
    ops = web.test_client()
    assert _post(ops, login(ops, "ops"), good).status_code == 403
    c = web.test_client()
    tok = login(c, "admin")
    r = _post(c, tok, bad)
    assert r.status_code == 400, r.get_data(as_text=True)
    assert r.json["problems"] == [{"row": 2, "field": "lat", "message": r.json["problems"][0]["message"]}]
    assert app_ctx.devices.sensor("route-0002") is None
    assert _post(c, tok, "x", name="d.xlsx").status_code == 400
    r = _post(c, tok, good)
    assert r.status_code == 200 and r.json["added"] == 1, r.get_data(as_text=True)
    assert app_ctx.devices.sensor("route-0001")["town_code"]
    saved = load_or_create(app_ctx.city, app_ctx.settings.resolved_city_dir)
    assert saved.sensor("route-0001") is not None and saved.sensor("route-0002") is None
