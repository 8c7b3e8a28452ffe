"""app.heartbeat: beats, ages, derived message rates (ops page, issue 6)."""

from __future__ import annotations

from app import heartbeat


def test_beat_read_age_and_rates(redis_client):
    t = [1000.0]
    clock = lambda: t[0]  # noqa: E731
    heartbeat.beat(redis_client, "ingest", "h:1", {"messages": 100, "lag": "x"}, clock=clock)
    t[0] = 1010.0
    heartbeat.beat(redis_client, "ingest", "h:1", {"messages": 1100, "lag": "x"}, clock=clock)
    heartbeat.beat(redis_client, "web", "h:2", {}, clock=clock)
    t[0] = 1015.0
    beats = heartbeat.read(redis_client, clock=clock)
    assert [(b.kind, b.name) for b in beats] == [("ingest", "h:1"), ("web", "h:2")]
    ingest = beats[0]
    assert ingest.rates == {"messages": 100.0}
    assert ingest.age_s == 5.0 and ingest.alive
    t[0] = 1010.0 + heartbeat.STALE_AFTER_S + 1
    assert not heartbeat.read(redis_client, clock=clock)[0].alive


def test_counter_reset_gives_no_negative_rate(redis_client):
    t = [0.0]
    heartbeat.beat(redis_client, "dispatch", "a", {"n": 50}, clock=lambda: t[0])
    t[0] = 5.0
    heartbeat.beat(redis_client, "dispatch", "a", {"n": 3}, clock=lambda: t[0])  # restarted
    assert heartbeat.read(redis_client, clock=lambda: t[0])[0].rates == {}
    heartbeat.forget(redis_client, "dispatch", "a")
    assert heartbeat.read(redis_client) == []


def test_start_beating_thread_beats_until_stopped(redis_client):
    import threading
    import time

    stop = threading.Event()
    n = [0]

    def info():
        n[0] += 10
        return {"messages": n[0]}

    t = heartbeat.start_beating(redis_client, "ingest", stop, info, name="w1", every_s=0.05)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not (heartbeat.read(redis_client)
                                               and heartbeat.read(redis_client)[0].rates):
        time.sleep(0.02)
    b = heartbeat.read(redis_client)[0]
    assert (b.kind, b.name) == ("ingest", "w1") and b.rates["messages"] > 0
    stop.set()
    t.join(5)
    assert not t.is_alive()
