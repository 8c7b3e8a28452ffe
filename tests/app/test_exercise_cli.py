"""``onemap exercise`` as a real process (推演, X3, issue 16): the simulator's flood scenario
triggers the demo 防汛防台 plan as an exercise (every line says 演练), ``list`` shows the run,
``replay`` prints its events in the same order, and the real picture is untouched (no case, no
real response, every resource as it was)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from grid import keys as rkeys
from incidents import keys


def _cli(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "app.cli", "exercise", *args], env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.slow
def test_exercise_start_list_replay(redis_service, redis_client, demo_city_dir) -> None:
    env = {**os.environ, "ONEMAP_REDIS_URL": redis_service.url, "ONEMAP_CITY_DIR": str(demo_city_dir)}
    got = _cli(env, "start", "flood-typhoon", "--scenario", "flood")
    assert got.returncode == 0, got.stderr
    lines = got.stdout.strip().splitlines()
    assert all(line.startswith("[演练]") for line in lines), got.stdout
    assert "开始推演：预案 flood-typhoon，情景 flood" in lines[0] and "复制实时态势" in lines[1]
    assert any("情景告警" in x for x in lines) and any("建议启动" in x for x in lines)
    assert any("启动" in x and "级响应（推演）" in x for x in lines)
    assert any("调派（演练）" in x for x in lines)
    eid = re.search(r"推演 (EX\d+)", lines[-1]).group(1)

    listed = _cli(env, "list")
    assert listed.returncode == 0 and listed.stdout.startswith(f"[演练] {eid}\t"), listed.stdout
    replayed = _cli(env, "replay", eid)
    assert replayed.returncode == 0 and replayed.stdout.strip().splitlines() == lines[:-1]

    # the real picture: no case, no real response, no assignment, every resource available
    assert redis_client.zcard(keys.ALL) == 0 and redis_client.zcard(keys.responses_all(False)) == 0
    assert redis_client.zcard(rkeys.ASG_ALL) == 0
    assert {redis_client.hget(rkeys.item(i), "state") or "available"
            for i in redis_client.smembers(rkeys.IDS)} <= {"available"}
    assert redis_client.zcard(keys.responses_all(True)) == 1
