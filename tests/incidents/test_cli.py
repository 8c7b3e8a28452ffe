"""``onemap dispatch`` as a real process: it takes alarms in and fires deadlines; ``--check``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from incidents import keys
from incidents.actor import SYSTEM


def wait_for(pred, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise TimeoutError


@pytest.mark.slow
def test_dispatch_process_takes_alarms_in(redis_service, redis_client, demo_city_dir, here, svc, who):
    env = {**os.environ, "ONEMAP_REDIS_URL": redis_service.url, "ONEMAP_CITY_DIR": str(demo_city_dir)}
    proc = subprocess.Popen([sys.executable, "-m", "app.cli", "dispatch", "--name", "d1"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        redis_client.xadd(keys.ALARMS, {
            "episode": "smoke-1:fire:1", "event": "raise", "source": "iot", "device_id": "smoke-1",
            "category": "0401", "level": "red", "severity": "较大", "lon": repr(here.lon),
            "lat": repr(here.lat), "ts": "1", "message": "烟感报警"})
        inc_id = wait_for(lambda: svc.reported_with(SYSTEM, "alarm:smoke-1:fire:1"))
        inc = svc.get(inc_id, who.commander)
        assert (inc.channel, inc.center, inc.category) == ("iot", "CITY", "0401")
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0, proc.stderr.read()
    check = subprocess.run([sys.executable, "-m", "app.cli", "dispatch", "--check"], env=env,
                           capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    redis_client.zadd(keys.place("q:CITY"), {"E-ghost": 1})      # a ghost in a queue
    check = subprocess.run([sys.executable, "-m", "app.cli", "dispatch", "--check"], env=env,
                           capture_output=True, text=True, timeout=60)
    assert check.returncode == 1 and "E-ghost" in check.stdout
