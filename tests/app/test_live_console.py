"""The console's cheaper push (issue 15, "Live under load"): a pushed change that names its
cases re-reads only those and merges them into the rows shown (``ConsoleData.patch_queue``);
the result is the whole re-read's, row for row, in triage order, through the quick filters,
within scope. Real redis-server, the real incident service and the console's Dash endpoint."""

from __future__ import annotations

import time

from app.screens.console import ConsoleData
from app.screens.console.model import FULL_EVERY, QuickFilter, pushed_ids
from app.users import UserStore
from incidents.actor import SYSTEM
from tests.app.test_api import DA, PZ, point_in
from tests.app.test_scope_console import Console, _outputs

VIEWS = ("todo", "new", "mine", "open")


def _report(ctx, town: str, k: int, channel: str = "iot", category: str = "0108") -> str:
    return ctx.incidents.report(SYSTEM, category, *point_in(ctx.city, town, k), channel=channel,
                                correlate=False, description=f"live {k}").id


def test_a_merge_of_the_changed_cases_equals_a_whole_re_read(app_ctx, accounts):
    """Reports (machine and human), an accept, a dispatch out to a department, a void and a
    case in another town: for each view and filter, the rows shown before with only the named
    cases re-read are the rows a whole re-read gives (same order, same fields)."""
    svc, data = app_ctx.incidents, ConsoleData(app_ctx)
    users = UserStore(app_ctx.redis)
    pz, city = users.get("panzhou").actor, users.get("ops").actor
    first = [_report(app_ctx, PZ, k) for k in range(4)]
    now = time.time()
    filters = (QuickFilter(), QuickFilter.of("human", [], []), QuickFilter.of("", ["一般"], []))
    before = {(a, v, f): data.queue(a, v, now, f, seen=now - 1)
              for a in (pz, city) for v in VIEWS for f in filters}

    call = _report(app_ctx, PZ, 5, channel="hotline", category="0101")   # fresh human: on top
    other = _report(app_ctx, DA, 1)                                      # not the town's
    svc.accept(first[0], pz)
    svc.accept(first[1], pz)
    svc.dispatch(first[1], pz, ["DCG"])
    svc.void(first[2], pz, "重复上报")
    # a person's report joins the case the town sent out: back in the town's 待办 (human_ts)
    joined = svc.report(SYSTEM, "0108", *point_in(app_ctx.city, PZ, 1), channel="hotline",
                        description="井盖又松了")
    assert joined.id == first[1] and svc.get(first[1], pz).human_ts
    changed = [call, other, first[0], first[1], first[2]]
    now = time.time()
    for (actor, view, filt), shown in before.items():
        whole = data.queue(actor, view, now, filt, seen=now - 1)
        merged = data.patch_queue(actor, view, changed, shown, now, filt, seen=now - 1)
        assert merged is not None, (actor.center, view)
        assert [r["id"] for r in merged] == [r["id"] for r in whole], (actor.center, view, filt)
        assert merged == whole
    pz_todo = data.patch_queue(pz, "todo", changed, before[(pz, "todo", filters[0])], now)
    assert [r["id"] for r in pz_todo][:2] == [first[1], call]     # the people's reports on top
    assert other not in {r["id"] for r in pz_todo}                          # S1/S2
    assert first[2] not in {r["id"] for r in pz_todo}                            # voided: gone


def test_what_cannot_be_merged_is_re_read_whole(app_ctx, accounts):
    """全部 and 超期, a queue at its limit, rows without their order: None (the caller re-reads);
    a poll's plain feed id, "more", the emergency switch and every FULL_EVERY-th change name no
    ids."""
    data = ConsoleData(app_ctx)
    pz = UserStore(app_ctx.redis).get("panzhou").actor
    inc = _report(app_ctx, PZ, 0)
    rows = data.queue(pz, "todo")
    assert data.patch_queue(pz, "all", [inc], rows) is None
    assert data.patch_queue(pz, "overdue", [inc], rows) is None
    assert data.patch_queue(pz, "todo", [inc], [{"id": "E1"}]) is None       # an older page
    assert data.patch_queue(pz, "todo", [inc], rows * 500) is None           # at the limit
    assert pushed_ids({"f": "1-0", "ids": [inc], "n": 1}) == [inc]
    for feed in ("1-0", None, {"f": "1-0", "ids": [inc], "more": True, "n": 1},
                 {"f": "1-0", "ids": [inc], "n": FULL_EVERY}, {"f": "1-0", "n": 3}):
        assert pushed_ids(feed) is None, feed


def _refresh(con: Console, feed, shown, changed: str = "feed-last.data"):
    dep = next(d for d in con.deps if "queue.data" in d["output"])
    vals = {"feed-last.data": feed, "view.value": "todo", "rev.data": 1, "f-channel.value": "",
            "f-severity.value": [], "f-flags.value": [], "queue.selected_rows": [],
            "queue.data": shown}

    def val(x: dict):
        return vals.get(f"{x['id']}.{x['property']}")
    r = con.post({"output": dep["output"], "outputs": _outputs(dep["output"]),
                  "inputs": [dict(i, value=val(i)) for i in dep["inputs"]],
                  "changedPropIds": [changed],
                  "state": [dict(s, value=val(s)) for s in dep["state"]]})
    assert r.status_code == 200, r.get_data(as_text=True)[:300]
    return r.json["response"]["queue"]["data"]


def test_the_queue_callback_merges_a_push_and_never_adds_what_scope_hides(web, app_ctx):
    """Through the console's Dash endpoint, as live.js sets the store: the named case is
    merged in (the rows the browser sent stay, untouched by the server); a case of another
    town named by a forged store is not added; a poll's feed id re-reads whole."""
    con = Console(web, "panzhou")
    a = _report(app_ctx, PZ, 0)
    rows = _refresh(con, None, [], changed="view.value")          # the first load: whole
    assert [r["id"] for r in rows] == [a]
    b = _report(app_ctx, PZ, 1, channel="hotline", category="0101")
    theirs = _report(app_ctx, DA, 2)
    marker = dict(rows[0], title="shown before")                  # proves the merge kept it
    merged = _refresh(con, {"f": "9-0", "ids": [b, theirs], "more": False, "n": 1}, [marker])
    assert [r["id"] for r in merged] == [b, a] and merged[1]["title"] == "shown before"
    whole = _refresh(con, "9-1", [marker])                        # the safety-net poll
    assert [r["id"] for r in whole] == [b, a] and whole[1]["title"] != "shown before"
