"""Push to the screens (issue 15, "Live under load"): ``GET /events`` of the web process served
as in production (uvicorn: the ASGI stream beside the Flask app, app.live), real redis-server,
real HTTP clients on loopback (app.live.client)."""

from __future__ import annotations

import queue

import pytest

from app.live.client import Stream, login
from app.live.logs import QuietAccess, quiet
from app.live.serve import Background
from incidents.actor import Actor
from tests.app.authkit import PASSWORD

OPS = Actor("ops", "city_operator", "CITY", "市值班员")


@pytest.fixture
def served(web, app_ctx):
    """The web process's ASGI app (uvicorn) on a free loopback port."""
    bg = Background(web, app_ctx, "127.0.0.1", 0, threads=8, access_log=False).start()
    yield bg
    bg.stop()


def town_point(city, code: str) -> tuple[float, float]:
    cells = city.cells[city.cells["town_code"] == code]
    p = cells.geometry.iloc[len(cells) // 2].representative_point()
    return float(p.x), float(p.y)


def report_in(ctx, town: str) -> str:
    lon, lat = town_point(ctx.city, town)
    return ctx.incidents.report(OPS, "0101", lon, lat, channel="hotline",
                                description="路面积水 (live test)").id


def open_stream(served, user: str | None, screen: str = "console", last: str | None = None):
    base = f"http://127.0.0.1:{served.port}"
    cookie = login(base, user, PASSWORD) if user else None
    return Stream("127.0.0.1", served.port, cookie, screen, last)


def test_a_change_reaches_its_console_and_not_another_towns(served, app_ctx, accounts):
    """A case in one town reaches that town's console (its id, by event) and the city's; the
    other town's console is told nothing: never another center's case ids (S1/S2)."""
    town = accounts["town"]["center"][1:]
    mine, other, city = (open_stream(served, u) for u in ("town", "panzhou", "ops"))
    try:
        for s in (mine, other, city):
            assert s.status == 200
            s.next("hello")
        inc = report_in(app_ctx, town)
        got = mine.next("change", timeout=10)
        assert inc in got.data["ids"] and got.id == got.data["f"]
        assert inc in city.next("change", timeout=10).data["ids"]
        # the other town: nothing about it. A second case in ITS town is the first thing it hears
        inc2 = report_in(app_ctx, accounts["panzhou"]["center"][1:])
        heard = other.next("change", timeout=10)
        assert heard.data["ids"] == [inc2] and not heard.data.get("more")
        assert inc not in str(heard.data)
    finally:
        for s in (mine, other, city):
            s.close()


def test_the_stream_refuses_anonymous_and_other_roles_screens(served, accounts):
    """No session: 401, no stream. A forged cookie: 401. A screen the role may not open: 403."""
    anon = open_stream(served, None)
    assert anon.status == 401 and b"login_required" in anon.body
    forged = Stream("127.0.0.1", served.port, "session=eyJfdXNlcl9pZCI6Im9wczoxIn0.Zm9v.YmFy")
    assert forged.status == 401
    worker = next(u for u, a in accounts.items() if a["role"] == "grid_worker")
    assert open_stream(served, worker, "console").status == 403
    assert open_stream(served, worker, "m").status == 200


def test_a_grid_workers_phone_is_told_of_its_new_task(served, app_ctx, accounts):
    """The phone's stream names a task assigned to this worker (and not another worker's)."""
    workers = [u for u, a in accounts.items() if a["role"] == "grid_worker"]
    mine, other = open_stream(served, workers[0], "m"), open_stream(served, workers[1], "m")
    try:
        mine.next("hello")
        other.next("hello")
        boss = Actor("panzhou" if accounts[workers[0]]["center"] == accounts["panzhou"]["center"]
                     else "town", "town_operator", accounts[workers[0]]["center"], "值班员")
        task = app_ctx.incidents.assign_task(boss, workers[0], "汛前巡查排水口")
        assert task.id in mine.next("change", timeout=10).data["ids"]
        with pytest.raises(queue.Empty):
            other.next("change", timeout=1.5)
    finally:
        mine.close()
        other.close()


def test_a_reconnect_with_last_event_id_gets_what_it_missed(served, app_ctx, accounts):
    """Closed, a change happens, reopened with Last-Event-ID: the missed case comes first."""
    town = accounts["town"]["center"][1:]
    s = open_stream(served, "town")
    last = s.next("hello").id
    s.close()
    inc = report_in(app_ctx, town)
    again = open_stream(served, "town", last=last)
    try:
        got = again.next(timeout=10)
        assert got.kind == "change" and inc in got.data["ids"]
    finally:
        again.close()


def test_the_stream_survives_a_redis_restart(tmp_path, demo_city, demo_devices):
    """redis-server stops and starts again under open streams: the hub reconnects by itself and
    the next change is pushed on the same connection."""
    from app.config import Settings
    from app.context import AppContext
    from app.server import create_server
    from app.services import restart_redis_server, start_redis_server
    from app.users import ensure_demo_users

    svc = start_redis_server(tmp_path / "redis")
    try:
        ctx = AppContext(Settings(secret_key="r" * 64, data_dir=tmp_path), svc.url)
        ctx.__dict__["city"], ctx.__dict__["devices"] = demo_city, demo_devices
        accounts = {a["user_id"]: a for a in ensure_demo_users(ctx.redis, demo_city, PASSWORD)}
        bg = Background(create_server(ctx), ctx, "127.0.0.1", 0, threads=4, access_log=False).start()
        try:
            s = open_stream(bg, "ops")
            s.next("hello")
            hub = bg.app.hub
            assert hub.connected.is_set()
            svc = restart_redis_server(svc)
            inc = None
            # the hub notices the drop and comes back; a change written after that is pushed
            for _ in range(100):
                if hub.reconnects and hub.connected.is_set():
                    break
                s.closed.wait(0.1)
            assert hub.reconnects >= 1 and hub.connected.is_set() and not s.closed.is_set()
            inc = report_in(ctx, accounts["town"]["center"][1:])
            assert inc in s.next("change", timeout=15).data["ids"]
            s.close()
        finally:
            bg.stop()
    finally:
        svc.stop()


def test_access_lines_of_streams_and_dash_updates_are_quiet_errors_kept():
    """The access filter drops successful stream/Dash-update lines, keeps the rest and errors."""
    import logging

    assert quiet("/events", 200) and quiet("/console/_dash-update-component", 204)
    assert not quiet("/console/_dash-update-component", 500) and not quiet("/events", 401)
    assert not quiet("/api/incidents", 200)
    rec = logging.LogRecord("uvicorn.access", logging.INFO, "", 0, '%s - "%s %s HTTP/%s" %d',
                            ("127.0.0.1:1", "POST", "/console/_dash-update-component", "1.1", 200),
                            None)
    assert QuietAccess().filter(rec) is False
    rec.args = ("127.0.0.1:1", "POST", "/console/_dash-update-component", "1.1", 500)
    assert QuietAccess().filter(rec) is True


def test_an_idle_feed_keeps_the_hub_connected(served, app_ctx, accounts):
    """Nothing changes for longer than one XREAD BLOCK: the hub's connection is not taken for
    a dead one (redis-py 8 gives every socket a 5 s read timeout by default, the block is 5 s:
    the demo logged "Redis unreachable" every few seconds when idle) and the next change still
    arrives at once."""
    import threading

    from app.live.hub import BLOCK_MS

    hub = served.app.hub
    s = open_stream(served, "ops")
    try:
        s.next("hello")
        idle = threading.Event()      # nothing to wait for but the time an idle feed blocks
        for _ in range(int(BLOCK_MS / 250) + 8):
            assert hub.reconnects == 0 and hub.connected.is_set()
            idle.wait(0.25)
        inc = report_in(app_ctx, accounts["town"]["center"][1:])
        assert inc in s.next("change", timeout=10).data["ids"]
        assert hub.reconnects == 0
    finally:
        s.close()
