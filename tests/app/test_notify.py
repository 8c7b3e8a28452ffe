"""Notifications that reach someone (issue 17; T25 "呼得应", X34a): an unacknowledged priority
notification escalates 值班员 → 值班长 → 带班领导 → the upper center's watch at the configured
times (injected clock) and stops on acknowledgement; quiet hours and the per-person rate limit
hold non-priority SMS (deferred, never dropped); a notifier killed with SIGKILL after "sending"
is recorded, then restarted, delivers once per channel. Real Redis, real local SMS gateway."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import datetime

import pytest

from app.channels import InAppSender, SmsSender, inbox
from incidents import keys
from incidents.defaults import NOTIFY_DEDUP_DAYS, NOTIFY_KEEP_S
from incidents.duty import CST, Roster
from incidents.notify import Contacts, NotifyConfig, NotifyWorker, delivery_id
from tests.app.smsgateway import APP_KEY, SECRET, Gateway

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ROSTER = """center,date,start,end,role,person
T01,2026-11-20,08:00,20:00,值班员,duty-a
T01,2026-11-20,08:00,20:00,值班长,chief-a
T01,2026-11-20,08:00,20:00,带班领导,lead-a
CITY,2026-11-20,08:00,20:00,值班长,city-chief
CITY,2026-11-20,08:00,20:00,带班领导,city-lead
CITY,2026-11-20,08:00,20:00,值班员,city-duty
"""


def at(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=CST).timestamp()


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def subjects(r, person: str) -> list[str]:
    return [e["subject"] for e in reversed(inbox(r, person))]


def test_unacknowledged_priority_escalates_along_the_chain_and_stops_on_ack(redis_client) -> None:
    clock = Clock(at("2026-11-20 10:00"))
    Roster(redis_client, clock).import_csv(ROSTER, by="admin")
    config = NotifyConfig.from_table({"ack_minutes": {"04": {"重大": 4}}})   # 消防 重大: 4 min
    worker = NotifyWorker(redis_client, {"inapp": InAppSender(redis_client)}, config=config,
                          clock=clock, watch_feed=False)
    worker.ensure_groups()
    fire = "inc:F1:T01"
    worker.chains.new_work(fire, "T01", subject="【重大】新事件：火灾", body="火灾", category="0401",
                           severity="重大")
    worker.drain()
    # step 0: the on-duty 值班员, and the 带班领导 in copy (priority)
    assert subjects(redis_client, "duty-a") == ["【重大】新事件：火灾"]
    assert subjects(redis_client, "lead-a") == ["【重大】新事件：火灾"]
    assert subjects(redis_client, "chief-a") == []
    clock.t += 239
    worker.drain()
    assert subjects(redis_client, "chief-a") == []                      # not yet: 4 minutes
    clock.t += 1
    worker.drain()
    assert subjects(redis_client, "chief-a") == ["【升级】【重大】新事件：火灾（4分钟无人确认）"]
    clock.t += 240
    worker.drain()
    assert len(subjects(redis_client, "lead-a")) == 2                  # 带班领导, as a step now
    assert subjects(redis_client, "city-chief") == []
    clock.t += 240
    worker.drain()
    assert subjects(redis_client, "city-chief") == ["【升级】【重大】新事件：火灾（4分钟无人确认）"]
    assert len(subjects(redis_client, "city-lead")) == 1
    chain = worker.outbox.chain(fire)
    assert chain["step"] == "3"
    assert [float(chain[f"step{n}_ts"]) - at("2026-11-20 10:00") for n in (1, 2, 3)] == [240, 480, 720]
    assert redis_client.zscore(keys.NOTIFY_ESC, fire) is None          # the chain has ended
    steps = [e for e in worker.outbox.audit_entries() if e.get("chain") == fire]
    assert [e["what"] for e in steps] == ["chain_start", "escalate", "escalate", "escalate"]

    # a second case: the 值班长 acknowledges after the first step; nothing more happens
    flood = "inc:F2:T01"
    worker.chains.new_work(flood, "T01", subject="【重大】新事件：内涝", body="内涝", category="0302",
                           severity="重大")
    worker.drain()
    clock.t += config.ack_seconds("0302", "重大")
    worker.drain()
    assert subjects(redis_client, "chief-a")[-1].startswith("【升级】【重大】新事件：内涝")
    with pytest.raises(PermissionError):                               # not reached by it
        worker.outbox.acknowledge(flood, "city-chief")
    assert worker.outbox.acknowledge(flood, "chief-a") is True
    assert worker.outbox.acknowledge(flood, "duty-a") is False         # the first one stands
    clock.t += 3600
    worker.drain()
    assert len([s for s in subjects(redis_client, "lead-a") if "内涝" in s]) == 1
    assert [s for s in subjects(redis_client, "city-chief") if "内涝" in s] == []
    acks = [e for e in worker.outbox.audit_entries() if e["what"] == "ack"]
    assert [(a["person"], a["first"]) for a in acks] == [("chief-a", True), ("duty-a", False)]
    assert worker.outbox.chain(flood)["acked_by"] == "chief-a"

    # a center with nobody on watch: the upper center's watch is reached at once
    worker.chains.new_work("inc:F3:T02", "T02", subject="【重大】新事件：塌方", body="塌方",
                           category="0303", severity="重大")
    worker.drain()
    assert [s for s in subjects(redis_client, "city-chief") if "塌方" in s] == [
        "【升级】【重大】新事件：塌方（T02无人值守）"]


def test_rate_limit_and_quiet_hours_hold_non_priority_sms(redis_client) -> None:
    clock = Clock(at("2026-11-20 10:00"))
    with Gateway() as gw:
        sms = SmsSender(gw.url, APP_KEY, SECRET, sleep=lambda s: None)
        Contacts(redis_client).set("duty-a", phone="13800000001")
        config = NotifyConfig(rate_limit=(3, 600.0), quiet_hours=(22, 7))
        worker = NotifyWorker(redis_client, {"sms": sms}, config=config, clock=clock,
                              watch_feed=False)
        worker.ensure_groups()
        dids = [worker.outbox.enqueue(f"inc:{n}:T01", "duty-a", "sms", subject="s", body="b")
                for n in range(5)]
        urgent = worker.outbox.enqueue("inc:U:T01", "duty-a", "sms", subject="急", body="b",
                                       priority=True)
        worker.drain()
        status = [worker.outbox.delivery(d)["status"] for d in dids]
        assert status == ["sent"] * 3 + ["deferred"] * 2                 # 3 per 10 minutes
        assert worker.outbox.delivery(urgent)["status"] == "sent"       # priority is not held
        assert "频率限制" in worker.outbox.delivery(dids[3])["reason"]
        clock.t = (clock.t // 600 + 1) * 600                             # the next window
        worker.drain()
        assert [worker.outbox.delivery(d)["status"] for d in dids] == ["sent"] * 5
        assert len(gw.state.sent) == 6 and gw.state.repeats == {}
        # retention: done entries leave the stream, finished records expire, the dedup window
        # holds for NOTIFY_DEDUP_DAYS (an event re-read days later notifies nobody again)
        assert redis_client.xlen(keys.NOTIFY_OUTBOX) > 0
        assert worker.outbox.compact() > 0 and redis_client.xlen(keys.NOTIFY_OUTBOX) == 0
        assert 0 < redis_client.ttl(keys.notify_delivery(dids[0])) <= NOTIFY_KEEP_S
        clock.t += (NOTIFY_DEDUP_DAYS - 1) * 86400
        assert worker.outbox.enqueue("inc:0:T01", "duty-a", "sms", subject="s", body="b") is None

        # quiet hours (22:00–07:00 UTC+8): a non-priority SMS waits for the morning
        clock.t = at("2026-11-27 23:30")
        night = worker.outbox.enqueue("inc:N:T01", "duty-a", "sms", subject="s", body="b")
        worker.drain()
        d = worker.outbox.delivery(night)
        assert d["status"] == "deferred" and float(d["until"]) == at("2026-11-28 07:00")
        clock.t = at("2026-11-28 07:00")
        worker.drain()
        assert worker.outbox.delivery(night)["status"] == "sent"


def _start_notifier(redis_url: str, gw_url: str, tmp_path) -> subprocess.Popen:
    env = {**os.environ, "ONEMAP_REDIS_URL": redis_url, "ONEMAP_SMS_URL": gw_url,
           "ONEMAP_SMS_APP_KEY": APP_KEY, "ONEMAP_SMS_SECRET": SECRET,
           "ONEMAP_DATA_DIR": str(tmp_path), "ONEMAP_NOTIFY": '{"quiet_hours": [0, 0]}'}
    return subprocess.Popen(
        [sys.executable, "-c", "from app.commands.notify import command; command()",
         "--name", "notify-under-test"], cwd=REPO, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_killed_mid_send_and_restarted_delivers_once_per_channel(redis_service, redis_client,
                                                                  tmp_path) -> None:
    event, person = "inc:K1:T01", "duty-a"
    sms_did = delivery_id(event, person, "sms")
    Contacts(redis_client).set(person, phone="13800000007")
    with Gateway(hold={sms_did}) as gw:
        worker = NotifyWorker(redis_client, {}, watch_feed=False)
        worker.ensure_groups()
        worker.outbox.enqueue_many(event, [person], ["inapp", "sms"], subject="【重大】新事件：火灾",
                                   body="b", priority=True)
        proc = _start_notifier(redis_service.url, gw.url, tmp_path)
        try:
            # the gateway has the request (and sent the text); "sending" is recorded; no answer yet
            assert gw.state.held.wait(60), "the notifier never reached the gateway"
            assert worker.outbox.delivery(sms_did)["status"] == "sending"
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
        finally:
            if proc.poll() is None:
                proc.kill()
        gw.state.hold.clear()
        gw.state.release.set()
        assert worker.outbox.delivery(sms_did)["status"] == "sending"  # killed before "sent"
        assert redis_client.xpending(keys.NOTIFY_OUTBOX, keys.NOTIFY_GROUP)["pending"] == 1
        # restarted under the same name (in this process, to keep the test short: the same
        # NotifyWorker the command runs, with the same channels from the same settings)
        again = NotifyWorker(redis_client, {"inapp": InAppSender(redis_client),
                                            "sms": SmsSender(gw.url, APP_KEY, SECRET)},
                             name="notify-under-test", watch_feed=False,
                             config=NotifyConfig(quiet_hours=(0, 0)))
        again.drain()
        assert worker.outbox.delivery(sms_did)["status"] == "sent"
        # once per channel: one text (the resend carried the same out_id), one inbox entry
        assert list(gw.state.sent) == [sms_did] and gw.state.repeats == {sms_did: 1}
        assert len(inbox(redis_client, person)) == 1
        sends = [e for e in worker.outbox.audit_entries()
                 if e.get("did") == sms_did and e["what"] in ("sending", "sent")]
        assert [(e["what"], e["attempt"], e.get("resend")) for e in sends] == [
            ("sending", 1, False), ("sending", 2, True), ("sent", 2, None)]
        assert {e["idem"] for e in sends if e["what"] == "sending"} == {sms_did}
        assert redis_client.xpending(keys.NOTIFY_OUTBOX, keys.NOTIFY_GROUP)["pending"] == 0


def test_notify_table_is_checked_at_start(monkeypatch) -> None:
    from app.config import ConfigError, load_settings  # noqa: PLC0415

    monkeypatch.setenv("ONEMAP_NOTIFY", '{"ack_minutes": {"04": {"很大": 3}}}')
    with pytest.raises(ConfigError, match="ack_minutes.04.很大"):
        load_settings()
    monkeypatch.setenv("ONEMAP_NOTIFY", '{"ack_minutes": {"04": {"重大": 2}}, "rate_limit": [5, 60]}')
    cfg = load_settings().notify_config
    assert cfg.ack_seconds("0401", "重大") == 120 and cfg.ack_seconds("0302", "重大") == 300
    assert cfg.ack_seconds("0101", "一般") == 1800 and cfg.rate_limit == (5, 60)


@pytest.fixture(autouse=True)
def _no_stray_env(monkeypatch) -> None:
    monkeypatch.delenv("ONEMAP_CONFIG", raising=False)
