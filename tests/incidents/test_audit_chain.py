"""Each incident's audit trail is hash-chained (SEC9, SEC21): changes on one chain written in the
atomic change script, refusals on a second chain in the same stream; ``onemap audit verify``
names an edited, a removed and a removed newest entry (the tests edit Redis directly)."""

from __future__ import annotations

import pytest
import redis
from click.testing import CliRunner

from incidents import audit, keys
from incidents.config import IncidentConfig
from incidents.errors import Forbidden
from incidents.service import IncidentService


def _cycle(svc: IncidentService, who, here, *, batch: bool = True) -> str:
    """One case through its whole life, the accept+dispatch and verify+close pairs joined in one
    script call each (``Store._joined``), plus a refusal and a concurrent stale cache."""
    inc = svc.report(who.worker, "0107", here.lon, here.lat, correlate=False)
    if batch:
        with svc.batch():
            svc.accept(inc.id, who.town)
            svc.dispatch(inc.id, who.town, ["CG"])
    else:
        svc.accept(inc.id, who.town)
        svc.dispatch(inc.id, who.town, ["CG"])
    with pytest.raises(Forbidden):
        svc.close(inc.id, who.other_town)              # refused: the refusal chain
    svc.handle(inc.id, who.cg)
    with svc.batch():
        svc.verify(inc.id, who.town, passed=True)
        svc.close(inc.id, who.town)
    return inc.id


def _rewrite(r: redis.Redis, stream: str, entry_id: str, fields: dict) -> None:
    """An insider edits one entry in place (a stream has none: rebuilt with the same ids)."""
    rows = r.xrange(stream)
    r.delete(stream)
    for i, f in rows:
        r.xadd(stream, fields if i == entry_id else f, id=i)


@pytest.fixture
def verify(redis_service, monkeypatch):
    from app.cli import main

    monkeypatch.setenv("ONEMAP_REDIS_URL", redis_service.url)
    return lambda *args: CliRunner().invoke(main, ["audit", "verify", *args])


def test_trails_chain_and_verify(svc, who, here, clock, demo_city, redis_client, verify):
    a = _cycle(svc, who, here)
    b = _cycle(svc, who, here, batch=False)
    # a second worker with its own cache changes a case the first one holds an old copy of
    other = IncidentService(redis_client, demo_city, clock=clock)
    c = svc.report(who.worker, "0107", here.lon, here.lat, correlate=False).id
    svc.get(c, who.town)
    other.accept(c, who.town)
    svc.dispatch(c, who.town, ["CG"])                  # stale cache: conflict, re-read, re-hash
    rows = redis_client.xrange(keys.audit(a))
    changes = [f for _, f in rows if audit.CHANGE in f]
    assert [int(f[audit.CHANGE].split("|")[0]) for f in changes] == [1, 2, 3, 4, 5, 6]
    assert [f[audit.DENIAL].split("|")[0] for _, f in rows if audit.DENIAL in f] == ["1"]
    assert redis_client.hget(keys.incident(a), audit.CHANGE_HEAD) == changes[-1][audit.CHANGE]
    assert redis_client.hget(keys.incident(b), audit.CHANGE_HEAD).startswith("6|")
    assert redis_client.hget(keys.incident(c), audit.CHANGE_HEAD).startswith("3|")
    rep = audit.verify_trails(redis_client)
    assert rep.ok, rep.problems
    assert (rep.incidents, rep.checked) == (3, 6 + 1 + 6 + 1 + 3)
    r = verify("--incidents")
    assert r.exit_code == 0, r.output
    assert "3 incident trails, 17 entries checked" in r.output


def test_edited_and_removed_entries_are_named(svc, who, here, redis_client, verify):
    ids = [_cycle(svc, who, here) for _ in range(4)]
    assert verify().exit_code == 0           # both trails (the security audit is empty)
    # 1. an edited entry: who accepted, rewritten; its chain field untouched
    rows = redis_client.xrange(keys.audit(ids[0]))
    edited_id, f = rows[1]
    _rewrite(redis_client, keys.audit(ids[0]), edited_id,
             {**f, "e": f["e"].replace(who.town.user_id, "someone-else")})
    # 2. a removed entry in the middle; 3. the newest removed; 4. a refusal removed
    mid = redis_client.xrange(keys.audit(ids[1]))[2][0]
    redis_client.xdel(keys.audit(ids[1]), mid)
    newest = redis_client.xrevrange(keys.audit(ids[2]), count=1)[0][0]
    redis_client.xdel(keys.audit(ids[2]), newest)
    denial = next(i for i, f in redis_client.xrange(keys.audit(ids[3])) if audit.DENIAL in f)
    redis_client.xdel(keys.audit(ids[3]), denial)
    rep = audit.verify_trails(redis_client)
    found = {(i, e): what for i, e, what in rep.problems}
    assert "altered" in found.pop((ids[0], edited_id))
    nxt = [i for i, _ in redis_client.xrange(keys.audit(ids[1]))]
    assert "1 entry removed before it" in next(
        w for (i, e), w in found.items() if i == ids[1] and e in nxt)
    assert any(i == ids[2] and "newest entr" in w and "changes" in w
               for (i, _), w in found.items())
    assert any(i == ids[3] and "newest entr" in w and "refusals" in w
               for (i, _), w in found.items())
    assert {i for i, _, _ in rep.problems} == set(ids)
    r = verify()
    assert r.exit_code == 1
    assert f"incident {ids[0]} trail broken at entry {edited_id}" in r.output
    assert verify("--security").exit_code == 0   # the security audit alone is whole


def test_sm3_is_selectable_and_a_changed_digest_still_verifies(redis_client, demo_city, clock,
                                                               who, here):
    sha = IncidentService(redis_client, demo_city, clock=clock)
    sm3 = IncidentService(redis_client, demo_city, IncidentConfig(audit_digest="sm3"), clock=clock)
    inc = sha.report(who.worker, "0107", here.lon, here.lat, correlate=False)
    sm3.accept(inc.id, who.town)
    with pytest.raises(Forbidden):
        sm3.close(inc.id, who.other_town)
    links = [f.get(audit.CHANGE) or f[audit.DENIAL]
             for _, f in redis_client.xrange(keys.audit(inc.id))]
    assert not links[0].split("|")[1].startswith("sm3:")
    assert all(x.split("|")[1].startswith("sm3:") for x in links[1:])
    assert audit.verify_trails(redis_client).ok
    assert IncidentConfig.from_dict({"audit_digest": "sm3"}).audit_digest == "sm3"
