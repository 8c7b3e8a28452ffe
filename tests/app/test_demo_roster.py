"""The demo's roster (issue 17, X34a): a new case in the demo reaches someone on watch."""

from __future__ import annotations

from app.demo_data import seed_roster
from app.users import demo_accounts
from incidents.duty import Roster
from incidents.notify import Contacts

NOW = 1_796_000_000.0   # an instant in the middle of a Beijing day (injected clock)


def test_seed_roster_puts_the_demo_accounts_on_watch_today_and_tomorrow(redis_client, demo_city):
    assert seed_roster(redis_client, demo_city, now=NOW) > 0
    roster = Roster(redis_client)
    accs = {a["user_id"]: a for a in demo_accounts(demo_city)}
    for at in (NOW, NOW + 86400):        # today and tomorrow
        city = roster.on_duty("CITY", at)
        assert city["leader"] == ["commander"] and city["officer"] == ["ops"]
        for user in ("panzhou", "town", "shuili", "chengguan"):
            assert user in roster.on_duty(accs[user]["center"], at)["officer"]
    assert roster.on_duty("CITY", NOW + 3 * 86400)["leader"] == []   # two days only
    assert Contacts(redis_client).address("commander", "sms").startswith("138")
    # a second start writes nothing more and keeps an admin's change
    roster.leave("CITY", roster.current_shift("CITY", NOW).id, "ops", by="admin",
                 substitute="commander")
    assert seed_roster(redis_client, demo_city, now=NOW) == 0
    assert "ops" not in roster.on_duty("CITY", NOW)["officer"]
