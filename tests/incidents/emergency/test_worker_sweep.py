"""The production dispatch worker (``onemap dispatch``, a real process) runs the emergency sweep
(issue 16): the member units' tasks an activation left ungiven (a crash between the response
and its tasks) are given, and a resource dispatch step whose trail note a crash left unwritten
gets its note, once, beside the deadline worker and the alarm intake."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from grid import keys as rkeys
from grid.resources import Register
from incidents import keys
from incidents.actor import SYSTEM
from incidents.config import IncidentConfig
from incidents.emergency.dispatch import ResourceDispatch
from incidents.emergency.plans import Known, PlanBook
from incidents.emergency.response import Responses


class _Crash(Exception):
    pass


def _wait(pred, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if v := pred():
            return v
        time.sleep(0.05)
    raise TimeoutError


def _crash(step: str) -> None:
    raise _Crash(step)


@pytest.mark.slow
def test_onemap_dispatch_sweeps_responses_and_dispatch_notes(redis_service, redis_client, demo_city_dir,
                                                            svc, who, here) -> None:
    book = PlanBook(svc.r, Known(svc.city, frozenset(s.name for s in IncidentConfig().situations)),
                    svc.policy, svc.clock)
    book.load_demo(SYSTEM)
    resp = Responses(svc, book)
    r = resp.activate(who.commander, "flood-typhoon", "IV", town=here.town, dispatch=False)
    assert not redis_client.hlen(keys.response_tasks(r["id"]))       # the crash: no tasks yet
    reg = Register(redis_client, svc.city)
    reg.ensure_demo()
    team = next(h for h in reg.all() if h.category == "team" and h.town == here.town)
    d = ResourceDispatch(svc, reg, between=_crash)
    with pytest.raises(_Crash):                     # committed, its trail note not yet written
        d.dispatch(who.commander, team.record.id, response=r["id"])
    aid = redis_client.zrange(rkeys.ASG_ALL, 0, -1)[0]
    assert not redis_client.hget(rkeys.assignment(aid), "noted:requested")

    env = {**os.environ, "ONEMAP_REDIS_URL": redis_service.url, "ONEMAP_CITY_DIR": str(demo_city_dir)}
    proc = subprocess.Popen([sys.executable, "-m", "app.cli", "dispatch", "--name", "sweeper"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        _wait(lambda: redis_client.hlen(keys.response_tasks(r["id"])) == 5)
        _wait(lambda: redis_client.hget(rkeys.assignment(aid), "noted:requested"))
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0, proc.stderr.read()
    board = resp.board(who.commander, r["id"])
    assert {t["unit"] for u in board["units"] for t in u["tasks"]} == {"DSL", "DQX", f"T{here.town}"}
    assert len(redis_client.zrange(keys.ALL, 0, -1)) == 5          # each task one case, once
    assert resp.sweep() == 0
