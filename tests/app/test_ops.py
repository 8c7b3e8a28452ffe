"""/ops/ health page (issue 6): processes, Redis, broker, queues, dead letters, rates."""

from __future__ import annotations

import time

from app import heartbeat
from app.screens import ops
from tests.app.authkit import accounts, app_ctx, login, web  # noqa: F401


def test_snapshot_reports_processes_queues_and_deadletters(app_ctx, mqtt_service):  # noqa: F811
    from incidents import keys as ik

    r = app_ctx.redis
    app_ctx.mqtt_url = mqtt_service.url
    t = time.time()
    heartbeat.beat(r, "ingest", "a", {"messages": 10}, clock=lambda: t - 2)
    heartbeat.beat(r, "ingest", "a", {"messages": 210}, clock=lambda: t)
    heartbeat.beat(r, "dispatch", "b", {}, clock=lambda: t - 3600)   # long dead
    r.xgroup_create(ik.queue("T440981001"), ik.QUEUE_GROUP, id="0", mkstream=True)
    r.xadd(ik.queue("T440981001"), {"id": "x"})
    r.xadd(ik.ALARMS, {"episode": "e1"})
    from sensors import deadletter
    for _ in range(3):
        deadletter.record(r, "not_json", "t/x", b"{not json", device_id="wl-1")
    snap = ops.snapshot(app_ctx)
    assert snap["redis"]["ok"] and snap["broker"]["ok"]
    procs = {(p["kind"], p["alive"]) for p in snap["processes"]}
    assert procs == {("ingest", True), ("dispatch", False)}
    assert snap["rates"] == {"ingest.messages": 100.0}
    q = {x["queue"]: x for x in snap["queues"]}
    assert q["T440981001"]["length"] == 1 and q["T440981001"]["groups"] == ik.QUEUE_GROUP
    assert any(x["key"] == ik.ALARMS for x in snap["queues"])
    assert snap["deadletters"]["by_reason"]["not_json"] == 3
    assert snap["deadletters"]["latest"][0]["reason"] == "not_json"
    assert ops.render(snap)  # draws


def test_broker_down_is_reported():
    from app.services import free_port

    out = ops.broker_health(f"mqtt://127.0.0.1:{free_port()}", timeout=0.5)
    assert out["ok"] is False and out["error"]


def test_ops_is_for_admins_only(web, accounts, app_ctx):  # noqa: F811
    c = web.test_client()
    login(c, "admin")
    assert c.get("/ops/").status_code == 200
    web_beats = [b for b in heartbeat.read(app_ctx.redis) if b.kind == "web"]
    assert len(web_beats) == 1 and web_beats[0].info["requests"] >= 1
    c2 = web.test_client()
    login(c2, "panzhou")
    assert c2.get("/ops/").status_code == 403
