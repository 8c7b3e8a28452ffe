"""The 12345 rates of a fixed data set equal hand-computed values (issue 24: E36, E52, E4): pure
(``incidents.rates.compute``), then the same set kept in real Redis by the callback desk and the
好差评 links and read back."""

from __future__ import annotations

from incidents import keys
from incidents.callback import CallbackDesk, HotlineConfig
from incidents.evaluation import Evaluations
from incidents.rates import compute

# ten cases due a callback: 6 called back (4 on time), 1 of them reopened (不满意); 3 scored by
# the citizen (好, 差, 中) of which one was never called back
RECORDS = [
    {"id": "A", "status": "done", "on_time": "1", "satisfied": "1"},
    {"id": "B", "status": "done", "on_time": "1", "satisfied": "1"},
    {"id": "C", "status": "done", "on_time": "0", "satisfied": "1"},
    {"id": "D", "status": "reopened", "on_time": "1", "satisfied": "0"},
    {"id": "E", "status": "done", "on_time": "1", "satisfied": "1"},
    {"id": "F", "status": "done", "on_time": "0", "satisfied": "1"},
    {"id": "G", "status": "pending"}, {"id": "H", "status": "pending"},
    {"id": "I", "status": "pending"}, {"id": "J", "status": "pending"},
]
EVALS = {"A": {"score": "5"}, "C": {"score": "1"}, "G": {"score": "3"}}


def test_rates_of_a_fixed_set_equal_hand_computed_values():
    rates = {r.key: r for r in compute(RECORDS, EVALS, received=40, accepted=38)}
    # 回访率 6/10; 按时 4/10 (A B D E); 评价率 3/10 (A C G)
    assert (rates["callback_rate"].num, rates["callback_rate"].den) == (6, 10)
    assert rates["callback_rate"].value == 0.6
    assert rates["callback_on_time_rate"].value == 0.4
    assert rates["evaluation_rate"].value == 0.3
    # judged: A(eval 5 ✓) B ✓ C(eval 1 ✗) D ✗ E ✓ F ✓ G(eval 3 ✗) → 4 of 7
    assert (rates["satisfied_rate"].num, rates["satisfied_rate"].den) == (4, 7)
    assert rates["satisfied_rate"].value == round(4 / 7, 4)
    assert rates["response_rate"].value == 0.95
    # beside their targets: 100 % binding for callback and response (E52), expected for the rest
    assert rates["callback_rate"].target == 1.0 and rates["callback_rate"].binding
    assert rates["callback_rate"].met is False
    assert not rates["satisfied_rate"].binding and rates["satisfied_rate"].as_dict()["kind"] == "预期性"
    empty = {r.key: r for r in compute([], {}, received=0, accepted=0)}
    assert all(r.value is None and r.met is None for r in empty.values())


def test_the_desk_and_the_links_keep_the_same_set_in_redis(redis_client, svc):
    cfg = HotlineConfig.from_table({"targets": {"satisfied_rate": {"target": 0.8, "binding": True}}})
    desk = CallbackDesk(redis_client, svc, cfg)
    ev = Evaluations(redis_client, cfg, clock=svc.clock)
    t0 = svc.clock()
    for n, rec in enumerate(RECORDS):
        redis_client.hset(keys.callback(rec["id"]), mapping=dict(rec, center="T1", due_ts=t0))
        redis_client.zadd(keys.CALLBACK_ALL, {rec["id"]: t0 + n})
    for iid, e in EVALS.items():
        ev.submit(iid, ev.issue(iid), e["score"], "")
    recs = desk.closed_between(t0, t0 + 100)
    rates = {r.key: r for r in compute(recs, ev.many([r["id"] for r in recs]), 40, 38, cfg.targets)}
    assert [rates[k].value for k in ("callback_rate", "callback_on_time_rate", "evaluation_rate",
                                     "satisfied_rate", "response_rate")] == [0.6, 0.4, 0.3,
                                                                              round(4 / 7, 4), 0.95]
    assert rates["satisfied_rate"].target == 0.8 and rates["satisfied_rate"].binding
    assert len(desk.closed_between(t0 + 5, t0 + 100)) == 5
