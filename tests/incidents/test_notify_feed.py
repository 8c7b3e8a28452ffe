"""New work reaches the person on watch (issue 17, X34a, T25): the notifier reads the incident
feed (no edit of the service); a new case for a center notifies its on-duty 值班员, a priority
case the 带班领导 too, and starts an escalation chain; reading the feed again notifies nobody
twice. Real Redis, the real incident service."""

from __future__ import annotations

from datetime import datetime

from app.channels import InAppSender, inbox
from incidents import keys
from incidents.duty import CST, Roster
from incidents.notify import NotifyWorker


def test_new_case_notifies_the_watch_and_priority_the_leader(redis_client, svc, who, here, clock) -> None:
    center = f"T{here.town}"
    day = datetime.fromtimestamp(clock.t, CST).strftime("%Y-%m-%d")
    Roster(redis_client, clock).import_csv(
        "center,date,start,end,role,person\n"
        f"{center},{day},00:00,00:00,值班员,duty-a\n"
        f"{center},{day},00:00,00:00,值班长,chief-a\n"
        f"{center},{day},00:00,00:00,带班领导,lead-a\n", by="admin")
    worker = NotifyWorker(redis_client, {"inapp": InAppSender(redis_client)}, clock=clock,
                          name="feed-test")
    worker.ensure_groups()            # the feed group starts "from now"
    plain = svc.report(who.worker, "0107", here.lon, here.lat, correlate=False)
    big = svc.report(who.worker, "0302", here.lon + 2e-4, here.lat, severity="较大",
                     correlate=False)
    assert big.center == center      # 较大 stays with the town (only 重大+ go to the city)
    # a notifier of this name read the entries and died before handling them: restarted, it
    # finishes its own pending entries first
    read = redis_client.xreadgroup(keys.NOTIFY_FEED_GROUP, "feed-test", {keys.FEED: ">"})
    assert len(read[0][1]) == 2
    worker.drain()
    duty = inbox(redis_client, "duty-a")
    assert sorted(e["params"]["id"] for e in duty) == sorted([plain.id, big.id])
    lead = inbox(redis_client, "lead-a")
    assert [e["params"]["id"] for e in lead] == [big.id]       # priority only
    assert lead[0]["subject"].startswith("【较大】新事件")
    assert inbox(redis_client, "chief-a") == []
    chain = f"inc:{big.id}:{center}"
    assert redis_client.zscore(keys.NOTIFY_ESC, chain) is not None
    assert redis_client.zscore(keys.NOTIFY_ESC, f"inc:{plain.id}:{center}") is None
    # the feed read again (a restarted notifier, a second one): nobody is notified twice
    redis_client.xgroup_setid(keys.FEED, keys.NOTIFY_FEED_GROUP, "0")
    worker.drain()
    assert len(inbox(redis_client, "duty-a")) == 2 and len(inbox(redis_client, "lead-a")) == 1
