"""The demo's history (app.demo_data): it runs up to the moment it is written, with a daily
rhythm in Beijing time, so the wall's 24-hour chart is not empty but for the live minutes."""

from __future__ import annotations

import datetime as dt
import random
import time

from app.demo_data import HOURLY_RHYTHM, populate, report_times, seed_once
from app.screens.wall import new_incidents_per_hour
from app.timefmt import CST
from incidents import keys as ik
from tests.app.authkit import app_ctx  # noqa: F401


def test_report_times_follow_the_daily_rhythm_and_end_now():
    now = 1_750_000_000.0
    times = report_times(random.Random(3), 4000, now - 14 * 86400, now - 600)
    assert len(times) == 4000 and times == sorted(times) and times[-1] == now - 600
    assert times[0] >= now - 14 * 86400
    hours = [dt.datetime.fromtimestamp(t, CST).hour for t in times]
    day = sum(1 for h in hours if 9 <= h < 18)          # 9 hours by day …
    night = sum(1 for h in hours if h < 6)              # … 6 at night
    assert day / 9 > 5 * night / 6
    assert len(HOURLY_RHYTHM) == 24
    # deterministic for a seed
    assert report_times(random.Random(3), 50, 0, 86400) == report_times(random.Random(3), 50, 0, 86400)


def test_history_reaches_now_and_fills_the_last_24_hours(app_ctx):  # noqa: F811
    r, now = app_ctx.redis, time.time()
    ids = populate(r, app_ctx.city, n=90, days=3, seed=5, open_share=0.15, now=now)
    created = sorted(float(s) for _, s in r.zrange(ik.ALL, 0, -1, withscores=True))
    assert len(created) == len(ids) == 90
    assert now - 2 * 3600 < created[-1] <= now          # the newest: within the last hours
    per_hour = new_incidents_per_hour(r, now - 24 * 3600)
    assert sum(per_hour) >= 15 and sum(1 for n in per_hour if n) >= 10, per_hour
    # no step of any case lies in the future: the recent ones are left open
    incs = app_ctx.incidents.store.load_many(ids)
    assert max(i.updated_ts for i in incs) <= now
    assert any(i.is_open for i in incs) and any(i.state == "closed" for i in incs)


def test_seed_once_writes_the_history_once(app_ctx):  # noqa: F811
    r = app_ctx.redis
    assert seed_once(r, app_ctx.city, n=12, days=1) == 12
    assert seed_once(r, app_ctx.city, n=12, days=1) == 0
    assert r.zcard(ik.ALL) == 12
