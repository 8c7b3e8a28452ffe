"""The role × action matrix through crafted Dash callback requests (issue 19, "Done means"):
every demo account (one or more per role of ``incidents.roles.ROLE_TABLE``) × every callback of
the console, wall, analytics and ops screens that reads or changes data, plus the analytics
exports and the phone page, each posted as Dash 4's renderer posts it (``tests.app.dashkit``).

The console's action buttons are pressed on every case of a world in several states and towns
(``test_scope_matrix._world``), inside and outside the caller's scope, each case a different
share of the buttons (every ``SPREAD``-th: every button on several cases per account; the full
cross product is the HTTP matrix's, ``test_scope_matrix``, kept off here for time); the expectation is the
policy's answer for the case as it is just before the press (``Policy.can_read`` /
``refusal``). An allowed cell must really happen (the case's version moves, "✓"); any other is
refused (403, or "✗" from the rules) and leaves the case as it was; a read outside scope leaks
nothing; nothing answers 500. The bulk bar, the queue views, the incident panel and map, the
new-incident form (a report near a foreign case gets a receipt), 上情下达 tasks (targets and
deadlines), emergency mode, the notices, the wall's live tick (its scoped map), the KPIs, the
exports, the ops page's reads and its 注销会话, and the phone page are tried per account too.

One server (Flask test client) and one world for the module; between accounts Redis is put
back to the world as made (DUMP/RESTORE of every key) and the store's cached copies forgotten.
"""

from __future__ import annotations

import datetime as dt
import json
from types import SimpleNamespace

import pytest
import redis

from app.screens import analytics
from app.screens.console import BUTTONS
from incidents import keys as ik
from incidents.roles import ROLE_TABLE, having, screen_roles
from tests.app.authkit import KIOSK, PASSWORD, login
from tests.app.dashkit import DashPage, response_of, wild
from tests.app.test_scope_matrix import ORDER, _world

SCREENS = screen_roles()
ACT = [a for a, *_ in BUTTONS]
ACT_PATTERN = {"action": ["ALL"], "type": "act"}
BULK_PATTERN = {"action": ["ALL"], "type": "bulk"}
BULK_ACTIONS = ("accept", "dispatch", "void", "merge", "urge")
SPREAD = 8


@pytest.fixture(scope="module")
def m(redis_service, demo_city, demo_devices, tmp_path_factory):
    """One server and one world for the module; ``m.reset()`` puts Redis back to the world."""
    from app.config import Settings  # noqa: PLC0415
    from app.context import AppContext  # noqa: PLC0415
    from app.server import create_server  # noqa: PLC0415
    from app.users import UserStore, ensure_demo_users  # noqa: PLC0415

    raw = redis.Redis.from_url(redis_service.url)
    raw.flushall()
    ctx = AppContext(Settings(secret_key="c" * 64, kiosk_token=KIOSK,
                              data_dir=tmp_path_factory.mktemp("callbacks")), redis_service.url)
    ctx.__dict__["city"] = demo_city
    ctx.__dict__["devices"] = demo_devices
    accounts = {a["user_id"]: a for a in ensure_demo_users(ctx.redis, demo_city, PASSWORD)}
    assert {a["role"] for a in accounts.values()} == {r.value for r in ROLE_TABLE}
    web = create_server(ctx)
    web.config["TESTING"] = True
    clients = {}
    for user, acc in accounts.items():        # logged in before the snapshot: sessions kept
        c = web.test_client()
        if acc["role"] == "wall_viewer":
            c.get(f"/wall/?kiosk={KIOSK}")
            clients[user] = (c, c.get_cookie("_csrf_token").value)
        else:
            clients[user] = (c, login(c, user))
    ids, sibling = _world(ctx, accounts)
    keys = list(raw.scan_iter(count=1000))
    p = raw.pipeline(transaction=False)
    for k in keys:
        p.dump(k)
        p.pttl(k)
    got = p.execute()
    snap = {k: (got[2 * i], got[2 * i + 1]) for i, k in enumerate(keys)}
    users = UserStore(ctx.redis)

    def reset() -> None:
        made = ctx.redis.zrange(ik.ALL, 0, -1)
        p = raw.pipeline(transaction=False)
        for k in set(raw.scan_iter(count=1000)) - snap.keys():
            p.delete(k)
        for k, (dump, ttl) in snap.items():
            p.restore(k, max(ttl, 0), dump, replace=True)
        p.execute()
        for i in {*made, *ids.values(), sibling}:
            ctx.incidents.store.forget(i)

    yield SimpleNamespace(ctx=ctx, web=web, accounts=accounts, clients=clients, ids=ids,
                          sibling=sibling, reset=reset,
                          actor=lambda u: users.get(u).actor)


class Tally:
    """Attempts, the allowed ones, and every cell that went wrong."""

    def __init__(self) -> None:
        self.n = self.allowed = 0
        self.wrong: list[tuple] = []

    def check(self, ok: bool, *what) -> None:
        self.n += 1
        if not ok:
            self.wrong.append(what)


def _status_ok(resp, t: Tally, *what) -> bool:
    if resp.status_code >= 500:
        t.wrong.append(("500", *what, resp.get_data(as_text=True)[:200]))
        return False
    return True


def _press(page: DashPage, sel: str, action: str, offers: dict, sibling: str):
    """One action button of the panel with the inputs its offer asks for."""
    o = offers.get(action)
    choices = list(o.choices) if o else []
    key, clicks = wild(ACT_PATTERN, "n_clicks",
                       [({"action": a, "type": "act"}, 1 if a == action else None) for a in ACT])
    changed = json.dumps({"action": action, "type": "act"}, separators=(",", ":"))
    values = {key: clicks, "sel.data": sel, "act-reason.value": "理由充分（测试）",
              "act-depts.value": choices[:1] or ["DCG"], "act-satisfaction.value": 5,
              "act-severity.value": (choices or ["较大"])[0] if action == "severity" else None,
              "act-others.value": [sibling], "act-source.value": 1, "rev.data": 0}
    return page.call("act-msg.children", values, [f"{changed}.n_clicks"])


def _panel(page: DashPage, sel: str):
    outs = {f'{json.dumps(ACT_PATTERN, separators=(",", ":"))}.{p}':
            [{"id": {"action": a, "type": "act"}, "property": p} for a in ACT]
            for p in ("hidden", "children")}
    key, ids = wild(ACT_PATTERN, "id", [({"action": a, "type": "act"}, {"action": a, "type": "act"})
                                        for a in ACT])
    return page.call("panel-head.children", {"sel.data": sel, "feed-last.data": "0",
                                             "rev.data": 0, key: ids, "sel-ver.data": None},
                     ["sel.data"], outs)


def _map(page: DashPage, sel: str):
    return page.call("map.figure", {"queue.data": [], "sel.data": sel, "pick.data": None},
                     ["sel.data"])


def _console_cells(m, user: str, page: DashPage, t: Tally) -> None:
    """Panel, map and every action button on every case of the world."""
    svc, pol = m.ctx.incidents, m.ctx.incidents.policy
    actor = m.actor(user)
    console = actor.role in SCREENS["console"]
    actions = sorted(ACT, key=lambda a: ORDER.index(a) if a in ORDER else len(ORDER))
    cases = list(m.ids.items()) if console else list(m.ids.items())[:1]
    shown_panel = False
    for j, (name, iid) in enumerate(cases):
        inc = svc.store.load(iid)
        readable = console and pol.can_read(actor, inc)
        # a case outside scope: the panel (refused before any work); inside: the map (selecting
        # it), and the panel once per account (it renders the whole case: the slow read)
        reads = [_map] if readable else [_panel]
        if readable and not shown_panel:
            reads.append(_panel)
            shown_panel = True
        for read in reads:
            r = read(page, iid)
            if not _status_ok(r, t, user, name, "read"):
                continue
            body = r.get_data(as_text=True)
            leaked = not readable and (inc.description and inc.description in body
                                       or json.dumps(inc.lon) in body)
            t.check((r.status_code == 200) == bool(readable) and not leaked,
                    user, name, "read", readable, r.status_code)
        # each case gets every SPREAD-th button (a different share per case): every button is
        # pressed on several cases per account, the cross product is the HTTP matrix's
        for action in [a for k, a in enumerate(actions) if (k + j) % SPREAD == 0]:
            inc = svc.store.load(iid)
            offers = {o.action: o for o in pol.available(actor, inc)} if console else {}
            expect = (console and pol.can_read(actor, inc) and pol.refusal(action, actor, inc) is None
                      and (action != "dispatch" or action in offers)
                      and (action != "split" or len(inc.sources) > 1)
                      and (action != "merge" or (m.sibling != iid and pol.merge_ok(
                          actor, svc.store.load(m.sibling)) is None)))
            r = _press(page, iid, action, offers, m.sibling)
            if not _status_ok(r, t, user, name, action):
                continue
            after = svc.store.load(iid)
            msg = response_of(r).get("act-msg", {}).get("children", "") if r.status_code == 200 else ""
            done = r.status_code == 200 and msg.startswith("✓")
            moved = after.version != inc.version
            t.allowed += done
            t.check(done == bool(expect) and moved == done
                    and (done or r.status_code in (200, 403)),
                    user, name, action, inc.state, bool(expect), r.status_code, msg[:100])


def _queue_cells(m, user: str, page: DashPage, t: Tally) -> None:
    """Every view of the queue: only cases the policy lets the caller read."""
    actor, pol, store = m.actor(user), m.ctx.incidents.policy, m.ctx.incidents.store
    console = actor.role in SCREENS["console"]
    for view in ("todo", "new", "mine", "overdue", "open", "all"):
        r = page.call("counts.children", {"feed-last.data": "0", "view.value": view, "rev.data": 0,
                                          "f-channel.value": None, "f-severity.value": None,
                                          "f-flags.value": None, "queue.selected_rows": [],
                                          "queue.data": None}, ["view.value"])
        if not _status_ok(r, t, user, "queue", view):
            continue
        rows = response_of(r).get("queue", {}).get("data", []) if r.status_code == 200 else []
        foreign = [row["id"] for row in rows if not pol.can_read(actor, store.load(row["id"]))]
        t.check((r.status_code == 200) == console and not foreign, user, "queue", view,
                r.status_code, foreign[:3])


def _bulk_cells(m, user: str, page: DashPage, t: Tally) -> None:
    """The bulk bar: counts over a crafted selection of every case, and a crafted pending
    action on every case confirmed: nothing outside the caller's scope changes or is counted."""
    svc, pol = m.ctx.incidents, m.ctx.incidents.policy
    actor = m.actor(user)
    console = actor.role in SCREENS["console"]
    ids = list(m.ids.values())
    unreadable = [i for i in ids if not pol.can_read(actor, svc.store.load(i))]
    rows = [{"id": i} for i in unreadable]
    key, bids = wild(BULK_PATTERN, "id", [({"action": a, "type": "bulk"},
                                           {"action": a, "type": "bulk"}) for a in BULK_ACTIONS])
    outs = {f'{json.dumps(BULK_PATTERN, separators=(",", ":"))}.{p}':
            [{"id": {"action": a, "type": "bulk"}, "property": p} for a in BULK_ACTIONS]
            for p in ("children", "disabled")}
    r = page.call("bulk-count.children", {"queue.selected_rows": list(range(len(rows))),
                                          "queue.data": rows, key: bids}, ["queue.selected_rows"], outs)
    if _status_ok(r, t, user, "bulk-counts"):
        dis = response_of(r).get(json.dumps({"action": ["ALL"], "type": "bulk"},
                                            separators=(",", ":")), {})
        disabled = (dis.get("disabled") if isinstance(dis, dict) else None)
        t.check(r.status_code == 403 if not console else
                r.status_code == 200 and (disabled is None or all(disabled)),
                user, "bulk-counts", r.status_code, disabled)
    for action in BULK_ACTIONS:
        before = {i: svc.store.load(i).version for i in ids}
        pending = {"action": action, "ids": ids, "reason": "批量（测试）", "depts": ["DCG"],
                   "target": m.sibling if action == "merge" else None}
        r = page.call("in:bulk-confirm.n_clicks", {"bulk-confirm.n_clicks": 1,
                                                   "bulk-cancel.n_clicks": None,
                                                   "bulk-pending.data": pending, "rev.data": 0},
                      ["bulk-confirm.n_clicks"])
        if not _status_ok(r, t, user, "bulk", action):
            continue
        changed = [i for i in ids if svc.store.load(i).version != before[i]]
        t.allowed += bool(changed)
        t.check((r.status_code == 200) == console and not set(changed) & set(unreadable),
                user, "bulk", action, r.status_code, changed)
        m.reset() if changed else None


def _form_cells(m, user: str, page: DashPage, t: Tally) -> None:
    """新建事件 near a foreign case (a receipt; the case unchanged), 上情下达 to targets in and
    out of the policy's list and with absurd deadlines, 应急模式 on (and a 1e12-minute one)."""
    svc, pol = m.ctx.incidents, m.ctx.incidents.policy
    actor = m.actor(user)
    console = actor.role in SCREENS["console"]
    case = svc.store.load(m.ids["pz_new"])
    r = page.call("in:new-submit.n_clicks", {
        "new-submit.n_clicks": 1, "new-channel.value": "hotline", "new-category.value": case.category,
        "new-severity.value": "特别重大", "new-desc.value": "来电（测试）", "new-ref.value": "",
        "pick.data": {"lon": case.lon + 1e-4, "lat": case.lat}, "new-landmark.value": None,
        "rev.data": 0}, ["new-submit.n_clicks"])
    if _status_ok(r, t, user, "new"):
        after = svc.store.load(case.id)
        msg = str(response_of(r).get("new-msg", {}).get("children", "")) if r.status_code == 200 else ""
        foreign = not pol.can_read(actor, case)
        t.check((r.status_code == 200) == console
                and (not foreign or (after.severity, after.center) == (case.severity, case.center))
                and (not foreign or not console or ("已并入" in msg and case.id not in msg)),
                user, "new", r.status_code, msg[:100])
    targets = set(pol.assign_targets(actor)) if console else set()
    for target, hours in (("DCG", 24), (f"T{m.accounts['panzhou']['center'][1:]}", 24),
                          (f"T{m.accounts['town']['center'][1:]}", 24), ("DCG", -5), ("DCG", 1e12)):
        r = page.call("in:task-submit.n_clicks", {
            "task-submit.n_clicks": 1, "task-target.value": target, "task-title.value": "巡查（测试）",
            "task-hours.value": hours, "pick.data": None, "rev.data": 0}, ["task-submit.n_clicks"])
        if not _status_ok(r, t, user, "task", target, hours):
            continue
        msg = str(response_of(r).get("task-msg", {}).get("children", "")) if r.status_code == 200 else ""
        expect = console and target in targets and 0 < hours <= 24 * 30
        t.allowed += msg.startswith("✓")
        t.check((r.status_code == 200) == console and msg.startswith("✓") == expect,
                user, "task", target, hours, r.status_code, msg[:100])
    for minutes in (60, 1e12):
        r = page.call("in:em-on.n_clicks", {
            "em-on.n_clicks": 1, "em-off.n_clicks": None, "em-town.value": None,
            "em-radius.value": 2, "em-minutes.value": minutes, "em-reason.value": "演练",
            "pick.data": {"lon": case.lon, "lat": case.lat}, "rev.data": 0}, ["em-on.n_clicks"])
        if not _status_ok(r, t, user, "emergency", minutes):
            continue
        st = svc.emergency_state()
        expect = actor.role == "city_commander" and minutes == 60
        t.check(bool(st) == expect and (r.status_code == 200) == (actor.role == "city_commander"),
                user, "emergency", minutes, r.status_code)
        if st:
            svc.emergency_off(actor, "演练结束")


def _screen_cells(m, user: str, _page: DashPage, t: Tally) -> None:
    """The notices, the wall (its map scoped), the KPIs, the exports, ops, the phone page."""
    svc, pol = m.ctx.incidents, m.ctx.incidents.policy
    c, tok = m.clients[user]
    actor = m.actor(user)
    incs = {i: svc.store.load(i) for i in m.ids.values()}
    readable = {i for i, inc in incs.items() if pol.can_read(actor, inc)}
    con = DashPage(c, "console", tok, m.deps["console"])
    key, nids = wild({"nid": ["ALL"], "type": "notice-read"}, "n_clicks", [])
    r = con.call("notices-head.children", {"feed-last.data": "0", "slow.n_intervals": 1,
                                           "rev.data": 0, key: nids, "notices-top.data": None},
                 ["rev.data"])
    if _status_ok(r, t, user, "notices"):
        t.check((r.status_code == 200) == (actor.role in SCREENS["console"]), user, "notices",
                r.status_code)
    wall = DashPage(c, "wall", tok, m.deps["wall"])      # the live tick from the start of the feed
    r = wall.call("wall-delta.data", {"wall-push.data": 1, "wall-poll.n_intervals": 0,
                                      "wall-cursor.data": {"a": "0-0", "f": "0-0"},
                                      "wall-theme.data": {"code": "overview"}}, ["wall-push.data"])
    if _status_ok(r, t, user, "wall"):
        delta = response_of(r).get("wall-delta", {}).get("data") or {} if r.status_code == 200 else {}
        shown = {i["id"] for i in delta.get("incidents", [])} & set(incs)
        whole = pol.can_read(actor, type(incs[m.ids["pz_new"]])("", ""))
        t.check((r.status_code == 200) == (actor.role in SCREENS["wall"])
                and shown <= readable and (not whole or shown == set(incs)),
                user, "wall", r.status_code, sorted(shown - readable)[:3])
    an = DashPage(c, "analytics", tok, m.deps["analytics"])
    today = dt.datetime.now(analytics.TZ).date().isoformat()     # a China Standard Time day
    # the KPIs of one city account and of the sub-center's (scoped) one; the others ask a
    # reversed period (answered before any KPI is read: the role gate is what is tried)
    start = today if user in ("ops", "supervisor_pz") else "2099-01-02"
    r = an.call("an-rank.data", {"an-period.start_date": start, "an-period.end_date": today,
                                 "an-tier.value": "town"}, ["an-tier.value"])
    if _status_ok(r, t, user, "kpis"):
        rows = response_of(r).get("an-rank", {}).get("data", []) if r.status_code == 200 else []
        own_only = actor.is_city or all(row.get("center") in (actor.center, None) for row in rows)
        t.check((r.status_code == 200) == (actor.role in SCREENS["analytics"]) and own_only,
                user, "kpis", r.status_code, len(rows))
    for fmt in ("csv", "geojson"):
        r = c.get(f"/analytics/export.{fmt}")
        if _status_ok(r, t, user, "export", fmt):
            body = r.get_data(as_text=True)
            t.check((r.status_code == 200) == (actor.role in SCREENS["analytics"])
                    and not {i for i in incs if i in body} - readable, user, "export", fmt,
                    r.status_code)
    ops = DashPage(c, "ops", tok, m.deps["ops"])     # health, backlog, dead letters, accounts, audit
    for needle, values in (("ops-body.children", {"ops-tick.n_intervals": 1}),
                           ("ops-backlog.data", {"ops-tick.n_intervals": 1, "ops-tabs.value": "backlog"}),
                           ("dlq-table.data", {"ops-tabs.value": "dlq"}),
                           ("acc-table.data", {"acc-rev.data": 0, "ops-tabs.value": "accounts"}),
                           ("aud-table.data", {"ops-tabs.value": "audit"})):
        r = ops.call(needle, values, [next(iter(values))])
        if _status_ok(r, t, user, "ops", needle):
            t.check((r.status_code == 200) == (actor.role in SCREENS["ops"]), user, "ops", needle,
                    r.status_code)
    victim = "shuili"                                  # 注销会话: an administrator's only
    r = ops.call("acc-msg.children", {"acc-revoke.n_clicks": 1, "acc-table.data": [{"user_id": victim}],
                                      "acc-table.selected_rows": [0], "acc-rev.data": 0},
                 ["acc-revoke.n_clicks"])
    if _status_ok(r, t, user, "ops", "revoke"):
        msg = str(response_of(r).get("acc-msg", {}).get("children", "")) if r.status_code == 200 else ""
        admin = actor.role in having("administers")
        t.allowed += msg.startswith("已注销")
        t.check((r.status_code == 200) == admin and msg.startswith("已注销") == admin,
                user, "ops", "revoke", r.status_code, msg[:80])
    r = c.get("/m/")
    if _status_ok(r, t, user, "m"):
        t.check((r.status_code == 200) == (actor.role in SCREENS["m"]), user, "m", r.status_code)


def test_role_action_matrix_through_dash_callbacks(m):
    c0, _ = m.clients["commander"]        # the pages' declared callbacks, read once
    m.deps = {s: c0.get(f"/{s}/_dash-dependencies").json
              for s in ("console", "wall", "analytics", "ops")}
    t = Tally()
    for user in m.accounts:
        c, tok = m.clients[user]
        page = DashPage(c, "console", tok, m.deps["console"])
        for cells in (_console_cells, _queue_cells, _bulk_cells, _form_cells, _screen_cells):
            m.reset()          # the world as made: each part starts from the same cases
            cells(m, user, page, t)
    print(f"role × callback matrix: {t.n} attempts over {len(m.accounts)} accounts "
          f"({len({a['role'] for a in m.accounts.values()})} roles), {t.allowed} allowed, "
          f"{len(t.wrong)} wrong")
    assert not t.wrong, f"{len(t.wrong)} of {t.n} cells wrong:\n" + "\n".join(map(str, t.wrong[:40]))
    assert t.n >= 600
    assert t.allowed >= 50
