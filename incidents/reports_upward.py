"""信息报送 (information reports upward, issue 17; X1, X3, T25): for cases of 较大 and above, a
首报 (first report) within a deadline of acceptance, 续报 (follow-ups) as the case develops and a
终报 (final report) at closure. Each is drafted from the incident (what, where, when, casualties
and losses, measures taken, resources committed), edited by the watch, approved by the 带班领导
on duty at the case's center (``incidents.duty.Roster.on_duty``) or a city commander, then "sent"
to the upper platform: recorded in the stream ``keys.REPORTS_UP_OUTBOX`` (the standards issue
makes the exchange real; until then the stream is the record).

A draft not sent by its due time is urged once (催报): an in-app notification through the notify
outbox (``incidents.notify.Outbox``) to the center's watch. Pending reports sit in the center's
``keys.duty_reports`` (carried by the handover, 交接班) and in ``keys.REPORTS_UP_DUE``. Redis,
the roster and the outbox are passed in; the clock is injected (tests move time).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable

import orjson
import redis

from incidents import defaults as D
from incidents import keys
from incidents.actor import Actor
from incidents.duty import Roster
from incidents.feed import fields as feed_fields
from incidents.notify import Outbox
from incidents.roles import Role
from incidents.vocab import State

log = logging.getLogger(__name__)

FEED_GROUP = "upreport"
"""The watcher's consumer group on the incident feed (``keys.FEED``)."""

KIND_NAMES: dict[str, str] = {"first": "首报", "update": "续报", "final": "终报"}
FIELDS: tuple[str, ...] = ("what", "where", "when", "casualties", "losses", "measures",
                           "resources")
"""A report's content (事件概况、地点、时间、伤亡、损失、已采取措施、投入力量), editable while a draft."""
FIELD_LIMIT = 2000


class ReportError(ValueError):
    """A refused step (unknown report, not a draft, bad field): the reason, Chinese first."""


class UpwardReports:
    """The information reports of every case, in Redis (see the module docstring)."""

    def __init__(self, r: redis.Redis, roster: Roster, outbox: Outbox, *,
                 clock: Callable[[], float] = time.time,
                 severities: Iterable[str] = D.REPORT_UP_SEVERITIES,
                 first_due_s: dict[str, float] | None = None) -> None:
        self.r = r
        self.roster = roster
        self.outbox = outbox
        self.clock = clock
        self.severities = frozenset(severities)
        self.first_due_s = dict(first_due_s or D.REPORT_UP_FIRST_DUE_S)

    # --- drafting -----------------------------------------------------------------------------
    def applies(self, inc) -> bool:  # noqa: ANN001 (Incident)
        """Is this case reported upward (its severity, configurable)?"""
        return inc.severity in self.severities

    def track(self, inc) -> list[str]:  # noqa: ANN001 (Incident)
        """Draft what the case's state asks for (idempotent: call it on every change): the 首报
        once accepted (due ``first_due_s`` after 受理), the 终报 once closed. Returns new ids."""
        if not self.applies(inc):
            return []
        out = []
        accepted = inc.times.get(State.ACCEPTED) or (inc.created_ts if inc.state != State.REPORTED
                                                     else 0)
        if accepted:
            due = accepted + self.first_due_s.get(inc.severity, max(self.first_due_s.values()))
            if self._create(inc, f"{inc.id}:first", "first", due,
                            label=f"受理后 {round((due - accepted) / 60)} 分钟内报送（演示默认值）"):
                out.append(f"{inc.id}:first")
        if inc.state == State.CLOSED:
            closed = inc.times.get(State.CLOSED) or self.clock()
            if self._create(inc, f"{inc.id}:final", "final", closed + D.REPORT_UP_FINAL_DUE_S):
                out.append(f"{inc.id}:final")
        return out

    def follow_up(self, inc, by: str) -> str:  # noqa: ANN001 (Incident)
        """续报: a new follow-up as the case develops (numbered), due within the hour."""
        if not self.applies(inc):
            raise ReportError(f"{inc.severity} 事件不需信息报送 (below the reporting threshold)")
        n = self.r.zcard(keys.reports_up_of(inc.id)) + 1
        while not self._create(inc, f"{inc.id}:update:{n}", "update",
                               self.clock() + D.REPORT_UP_UPDATE_DUE_S, by=by):
            n += 1
        return f"{inc.id}:update:{n}"

    def _create(self, inc, rid: str, kind: str, due: float, by: str = "system",  # noqa: ANN001
                label: str = "") -> bool:
        now = self.clock()
        draft = self.draft_fields(inc)
        rec = {"id": rid, "kind": kind, "kind_name": KIND_NAMES[kind], "incident": inc.id,
               "center": inc.center, "severity": inc.severity, "due_ts": due, "created_ts": now,
               "created_by": by, "status": "draft", "fields": draft, "due_label": label, "log": [
                   {"what": "draft", "by": by, "ts": now}]}
        if not self.r.hsetnx(keys.report_up(rid), "rec", orjson.dumps(rec)):
            return False        # already drafted (a change seen twice)
        pipe = self.r.pipeline(transaction=True)
        pipe.zadd(keys.reports_up_of(inc.id), {rid: now})
        pipe.zadd(keys.REPORTS_UP_DUE, {rid: due})
        pipe.zadd(keys.duty_reports(inc.center), {rid: due})
        pipe.execute()
        return True

    @staticmethod
    def draft_fields(inc) -> dict[str, str]:  # noqa: ANN001 (Incident)
        """The draft from the incident: what, where, when, casualties/losses (to be filled by
        the watch), measures taken (the trail's sub-tasks), resources committed."""
        from datetime import datetime, timedelta, timezone  # noqa: PLC0415

        cst = timezone(timedelta(hours=8))
        when = datetime.fromtimestamp(inc.created_ts or 0, cst).strftime("%Y-%m-%d %H:%M")
        measures = "；".join(f"{t.center} {t.state}" + (f"：{t.note}" if t.note else "")
                            for t in inc.tasks) or "已受理，正在处置"
        return {"what": f"{inc.title or inc.category}（{inc.severity}）"
                        + (f"：{inc.description}" if inc.description else ""),
                "where": f"{inc.town_code or ''} {inc.lon:.5f},{inc.lat:.5f}".strip(),
                "when": when, "casualties": "待核实", "losses": "待核实", "measures": measures,
                "resources": "、".join(sorted({t.center for t in inc.tasks})) or "待补充"}

    # --- reading ------------------------------------------------------------------------------
    def get(self, rid: str) -> dict:
        raw = self.r.hget(keys.report_up(rid), "rec")
        if raw is None:
            raise ReportError(f"无此信息报送 {rid} (no such report)")
        return orjson.loads(raw)

    def of_incident(self, incident_id: str) -> list[dict]:
        return [self.get(rid) for rid in self.r.zrange(keys.reports_up_of(incident_id), 0, -1)]

    def due(self, center: str | None = None, until: float | None = None) -> list[dict]:
        """Drafts not yet sent, earliest due first (a center's, or all); ``overdue`` marked."""
        now = self.clock()
        key = keys.duty_reports(center) if center else keys.REPORTS_UP_DUE
        hi = "+inf" if until is None else until
        out = []
        for rid, due in self.r.zrangebyscore(key, "-inf", hi, withscores=True):
            rec = self.get(rid)
            rec["overdue"] = due <= now
            out.append(rec)
        return out

    # --- editing, approval, sending -----------------------------------------------------------
    def _save(self, rec: dict) -> None:
        self.r.hset(keys.report_up(rec["id"]), "rec", orjson.dumps(rec))

    def edit(self, rid: str, by: str, fields: dict) -> dict:
        """修改草稿: only the content fields, only while a draft."""
        rec = self.get(rid)
        if rec["status"] != "draft":
            raise ReportError(f"{rid} 已报送，不能修改 (already sent)")
        bad = [k for k in fields if k not in FIELDS]
        if bad:
            raise ReportError(f"未知字段 {', '.join(bad)} (unknown fields; allowed: {', '.join(FIELDS)})")
        rec["fields"].update({k: str(v)[:FIELD_LIMIT] for k, v in fields.items()})
        rec["log"].append({"what": "edit", "by": by, "ts": self.clock(), "fields": sorted(fields)})
        self._save(rec)
        return rec

    def may_approve(self, rid: str, actor: Actor) -> bool:
        """审核: the 带班领导 on duty now at the report's center, or a city commander."""
        if actor.role == Role.CITY_COMMANDER:
            return True
        rec = self.get(rid)
        return actor.user_id in self.roster.on_duty(rec["center"], self.clock()).get("leader", [])

    def approve(self, rid: str, actor: Actor) -> dict:
        """审核并报送: the leader on duty approves; the report goes to the upper-platform outbox
        (a stream entry: the record of what was sent, when, approved by whom). Once."""
        rec = self.get(rid)
        if not self.may_approve(rid, actor):
            raise PermissionError(f"{actor.user_id} 不是 {rec['center']} 当前带班领导或市指挥长，"
                                  "不能审核报送 (only the leader on duty or a city commander)")
        if rec["status"] != "draft":
            return rec          # approved already: sending again would report twice
        now = self.clock()
        rec.update(status="sent", approved_by=actor.user_id, approved_ts=now, sent_ts=now,
                   late=now > rec["due_ts"])
        rec["log"].append({"what": "approve", "by": actor.user_id, "ts": now})
        pipe = self.r.pipeline(transaction=True)
        pipe.hset(keys.report_up(rid), "rec", orjson.dumps(rec))
        pipe.xadd(keys.REPORTS_UP_OUTBOX, {"id": rid, "kind": rec["kind"],
                                           "incident": rec["incident"], "center": rec["center"],
                                           "report": orjson.dumps(rec).decode()})
        pipe.zrem(keys.REPORTS_UP_DUE, rid)
        pipe.zrem(keys.duty_reports(rec["center"]), rid)
        pipe.execute()
        return rec

    def sent(self, count: int = 100) -> list[dict]:
        """The upper-platform outbox: what was sent, oldest first."""
        return [orjson.loads(f["report"]) for _, f in self.r.xrange(keys.REPORTS_UP_OUTBOX,
                                                                     count=count)]

    # --- urging -------------------------------------------------------------------------------
    def urge_due(self, limit: int = 200) -> list[str]:
        """催报: every draft past its due time is urged once: an in-app notification to the
        center's watch on duty (带班领导 and 值班员/值班长) through the notify outbox, and the
        report records it. Returns the ids urged now."""
        now = self.clock()
        out = []
        for rid in self.r.zrangebyscore(keys.REPORTS_UP_DUE, "-inf", now, start=0, num=limit):
            rec = self.get(rid)
            if rec["status"] != "draft" or not self.r.hsetnx(keys.report_up(rid), "urged", now):
                continue
            watch = self.roster.on_duty(rec["center"], now)
            persons = watch.get("leader", []) + watch.get("chief", []) + watch.get("officer", [])
            subject = f"催报：{rec['incident']} {rec['kind_name']}已超时"
            self.outbox.enqueue_many(f"upreport-urge:{rid}", persons or [], ["inapp"],
                                     subject=subject, body=f"{rec['severity']}事件"
                                     f"{rec['kind_name']}应于期限前报送，请带班领导审核",
                                     priority=True, center=rec["center"],
                                     severity=rec["severity"], trigger_ts=now)
            rec["urged_ts"] = now
            rec["log"].append({"what": "urge", "ts": now, "to": persons})
            self._save(rec)
            out.append(rid)
        return out


class ReportWatcher:
    """Keeps the reports in step with the cases: reads the incident feed (consumer group
    ``upreport``, from the moment it is first started) and drafts what a changed case of 较大
    and above asks for (``UpwardReports.track``); each ``tick`` also urges the overdue drafts.
    ``load``: an incident by id (the store's ``load``), passed in by the composition root."""

    def __init__(self, r: redis.Redis, reports: UpwardReports, load: Callable[[str], object],
                 consumer: str = "upreport-1") -> None:
        self.r = r
        self.reports = reports
        self.load = load
        self.consumer = consumer
        self.stats = {"drafted": 0, "urged": 0, "errors": 0}

    def ensure_group(self) -> None:
        try:
            self.r.xgroup_create(keys.FEED, FEED_GROUP, id="$", mkstream=True)
        except redis.ResponseError as e:
            if "BUSYGROUP" not in str(e):
                raise

    def tick(self, block_ms: int | None = None, count: int = 200) -> int:
        """Read new feed entries once (each acked after it is handled), then urge."""
        got = self.r.xreadgroup(FEED_GROUP, self.consumer, {keys.FEED: ">"}, count=count,
                                block=block_ms)
        for entry_id, raw in (got[0][1] if got else []):
            try:
                e = feed_fields(raw) if raw else {}
                sev = e.get("severity") or self.r.hget(keys.incident(e.get("id", "")), "severity")
                if e.get("id") and sev in self.reports.severities:
                    inc = self.load(e["id"])
                    if inc is not None:
                        self.stats["drafted"] += len(self.reports.track(inc))
            except Exception:  # noqa: BLE001 (one bad entry must not stop the watcher)
                self.stats["errors"] += 1
                log.exception("upreport feed entry %s", entry_id)
            self.r.xack(keys.FEED, FEED_GROUP, entry_id)
        urged = self.reports.urge_due()
        self.stats["urged"] += len(urged)
        return len(urged)

    def run(self, stop: threading.Event, block_ms: int = 1000) -> None:
        self.ensure_group()
        while not stop.is_set():
            try:
                self.tick(block_ms)
            except redis.ConnectionError:
                stop.wait(1.0)       # Redis restarting (supervised): try again


__all__ = ["FIELDS", "KIND_NAMES", "ReportError", "ReportWatcher", "UpwardReports"]
