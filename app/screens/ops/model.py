"""/ops/ data model (Dash-free): what the administrators' page shows and does (运维监控).

Health of each process (ingest, dispatch, web … from ``app.heartbeat``), Redis and MQTT broker
connectivity, the backlog per center by name (cases waiting for its action, overdue, oldest:
the 待办 rule of ``incidents.queries``, not the dispatch stream's history length), the streams'
unread and unacknowledged entries, dead letters (filter, replay, 已处理, export), accounts and
the security audit. ``snapshot(ctx)`` gathers the health part in one call (tested).
"""

from __future__ import annotations

import contextlib
import csv
import io
import time
from urllib.parse import urlsplit

import redis

from app import heartbeat
from app.context import AppContext
from app.security import audit_entries, csv_cell
from app.sessions import SessionStore
from app.timefmt import fmt_cst
from app.users import UserStore
from incidents import keys as ik
from incidents.queries import my_overdue
from incidents.roles import ROLE_NAMES, screen_roles
from incidents.store import work_items
from sensors import deadletter
from sensors import keys as sk
from sensors.ingest import IngestWorker

REFRESH_MS = 2000
OPS_ROLES = tuple(sorted(screen_roles()["ops"]))
QUEUE_SCAN_LIMIT = 500   # queues listed at most (28 towns + 24 departments + grid workers in use)


# --- data -------------------------------------------------------------------------------------
def redis_health(r: redis.Redis) -> dict:
    """Ping round trip and the INFO fields an operator looks at."""
    t0 = time.perf_counter()
    try:
        r.ping()
    except redis.RedisError as exc:
        return {"ok": False, "error": str(exc)}
    rtt_ms = (time.perf_counter() - t0) * 1000
    info = r.info()
    return {"ok": True, "rtt_ms": round(rtt_ms, 2), "version": info.get("redis_version"),
            "used_memory": info.get("used_memory_human"), "clients": info.get("connected_clients"),
            "ops_per_s": info.get("instantaneous_ops_per_sec"),
            "uptime_s": info.get("uptime_in_seconds"), "aof": bool(info.get("aof_enabled")),
            "keys": sum(v.get("keys", 0) for k, v in info.items()
                        if k.startswith("db") and isinstance(v, dict))}


def broker_health(mqtt_url: str | None, timeout: float = 1.0) -> dict:
    """MQTT broker: a real CONNECT/CONNACK round trip (paho), not just an open port."""
    if not mqtt_url:
        return {"ok": None, "error": "未配置消息服务（ONEMAP_MQTT_URL）"}
    import paho.mqtt.client as mqtt  # noqa: PLC0415
    from paho.mqtt.enums import CallbackAPIVersion  # noqa: PLC0415

    u = urlsplit(mqtt_url)
    host, port = u.hostname or "127.0.0.1", u.port or 1883
    done: dict = {}
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"onemap-ops-{time.time_ns()}")
    if u.username:
        c.username_pw_set(u.username, u.password)
    c.on_connect = lambda _c, _u, _f, rc, _p: done.setdefault("rc", rc)
    t0 = time.perf_counter()
    try:
        c.connect(host, port, keepalive=5)
        deadline = time.monotonic() + timeout
        while "rc" not in done and time.monotonic() < deadline:
            c.loop(timeout=0.05)
    except (TimeoutError, OSError) as exc:
        return {"ok": False, "url": f"{host}:{port}", "error": str(exc)}
    finally:
        with contextlib.suppress(Exception):
            c.disconnect()
    rc = done.get("rc")
    if rc is None:
        return {"ok": False, "url": f"{host}:{port}", "error": "no CONNACK"}
    ok = not rc.is_failure
    return {"ok": ok, "url": f"{host}:{port}", "rtt_ms": round((time.perf_counter() - t0) * 1000, 1),
            "error": "" if ok else str(rc)}


def queues(r: redis.Redis) -> list[dict]:
    """The streams under the queues (per center) and the alarm stream: ``length`` is the stream's
    kept history (not the backlog: see ``backlog``), ``pending`` delivered but not acknowledged,
    ``lag`` not yet read by the group."""
    out = []
    names = [ik.ALARMS] + sorted(r.scan_iter(match=ik.queue("*"), count=1000,
                                             _type="stream"))[:QUEUE_SCAN_LIMIT]
    p = r.pipeline(transaction=False)
    for n in names:
        p.xlen(n)
        p.xinfo_groups(n)
    res = p.execute(raise_on_error=False)
    for i, n in enumerate(names):
        length, groups = res[2 * i], res[2 * i + 1]
        if isinstance(length, Exception):
            continue
        groups = groups if isinstance(groups, list) else []
        pending = sum(int(g.get("pending", 0)) for g in groups)
        lag = sum(int(g.get("lag") or 0) for g in groups)
        label = "告警流" if n == ik.ALARMS else n.removeprefix(ik.queue(""))
        out.append({"queue": label, "key": n, "length": int(length), "pending": pending,
                    "lag": lag, "groups": ",".join(str(g.get("name")) for g in groups)})
    return out


def deadletters(r: redis.Redis, latest: int = 8) -> dict:
    """Dead letters by reason and the latest samples (sensors.deadletter)."""
    s = deadletter.summary(r)
    rows = [dict(x, raw=x.get("preview", "")[:120], ts=_ms(x.get("ts")))
            for x in deadletter.latest(r, latest)]
    return {"by_reason": s.get("by_reason", {}), "by_device": s.get("by_device", {}),
            "latest": rows}


def _ms(ts: object) -> str:
    try:
        return fmt_cst(int(ts) / 1000, "%m-%d %H:%M:%S")
    except (TypeError, ValueError):
        return ""


def snapshot(ctx: AppContext) -> dict:
    """Everything the ops page shows, in one dict."""
    r = ctx.redis
    beats = heartbeat.read(r)
    snap = {"ts": time.time(), "redis": redis_health(r),
            "broker": broker_health(ctx.mqtt_url or ctx.settings.mqtt_url),
            "processes": [dict(b.__dict__, alive=b.alive) for b in beats]}
    if not snap["redis"]["ok"]:
        return dict(snap, queues=[], deadletters={"by_reason": {}, "latest": []}, rates={})
    centers = ctx.city.centers
    snap["queues"] = [dict(q, name=centers[q["queue"]].name if q["queue"] in centers else q["queue"])
                      for q in queues(r)]
    snap["deadletters"] = deadletters(r)
    rates: dict[str, float] = {}
    for b in beats:
        if b.alive:
            for k, v in b.rates.items():
                rates[f"{b.kind}.{k}"] = round(rates.get(f"{b.kind}.{k}", 0.0) + v, 2)
    snap["rates"] = rates
    snap["ingest_totals"] = {k: int(v) for k, v in r.hgetall(sk.INGEST_STATS).items()}
    snap["exchange"] = exchange_health(r)
    return snap


def exchange_health(r: redis.Redis, now: float | None = None) -> dict:
    """上报省平台 交换量 (SEC45): items queued, delivered, failed attempts, given up, backlog,
    inbound accepted/refused, and the given-up items with their reasons (incidents.exchange)."""
    from incidents.exchange import KIND_NAMES, Exchange  # noqa: PLC0415

    ex = Exchange(r)
    s = ex.stats()
    now = time.time() if now is None else now
    nxt = s.pop("next_attempt_ts")
    s["next_attempt"] = ("现在" if nxt <= now else f"{nxt - now:.0f} 秒后") if nxt else "—"
    s["failed_items"] = [{"key": it["key"], "incident": it["incident"],
                          "kind": KIND_NAMES.get(it["kind"], it["kind"]),
                          "attempts": it["attempts"], "reason": it.get("reason", "")}
                         for it in ex.given_up(10)]
    return s


PROCESS_NAMES = {"ingest": "接入", "dispatch": "分拨", "web": "网页服务", "simulator": "模拟器",
                 "notify": "通知", "archiver": "归档", "health": "设备健康", "video": "视频网关"}
"""The processes' kinds (``app.heartbeat``) in the operator's words; an unknown kind shows as is."""

COUNTER_NAMES = {
    "messages": "消息", "readings": "读数", "alarms": "告警", "batches": "批次", "detections": "智能识别",
    "positions": "位置", "rejected": "拒收", "status": "状态", "requests": "请求", "published": "发布",
    "dropouts": "掉线", "malformed": "畸形消息",
    "alarm_alarms": "告警处理", "alarm_created": "告警建事件", "alarm_correlated": "告警并入",
    "alarm_cleared": "告警解除", "alarm_recovered": "自动恢复", "alarm_severity": "等级上调",
    "alarm_severity-kept": "等级保持", "alarm_errors": "告警出错", "deadline_warn": "时限预警",
    "deadline_urge": "超时督办", "deadline_escalate": "超时上报", "deadline_limited": "上报限流",
    "deadline_recovered": "恢复结案", "sent": "已发送", "failed": "失败", "escalated": "已升级",
    "archived": "已归档", "batches_written": "写入批次",
    "views": "调阅", "pulls": "拉流", "refused_full": "通道已满", "idle_stops": "无人断流",
    "dropped_slow": "慢速断开", "pull_errors": "拉流出错", "frames_served": "截图",
    "frames_failed": "截图失败",
}
"""Counters the processes report, in the operator's words; an unknown counter shows as is."""


def process_name(kind: str) -> str:
    return PROCESS_NAMES.get(kind, kind)


def counter_name(name: str) -> str:
    """``dispatch.alarm_alarms`` → 分拨·告警处理; ``requests`` → 请求."""
    kind, _, counter = name.rpartition(".")
    word = COUNTER_NAMES.get(counter, counter)
    return f"{process_name(kind)}·{word}" if kind else word


# --- backlog per center (积压) ---------------------------------------------------------------
def backlog(ctx: AppContext, now: float | None = None) -> list[dict]:
    """Per center, by name: open cases waiting for its action (its queue and the sub-tasks
    dispatched to it: the places of ``incidents.store.work_items``), how many are overdue for it
    and the oldest one's age. Busiest first; every center of the city is listed (0 included)."""
    now = time.time() if now is None else now
    city = ctx.city
    rows = {c: {"center": c, "name": ctr.name, "tier": TIER_NAMES.get(str(ctr.tier), str(ctr.tier)),
                "waiting": 0, "overdue": 0, "oldest_s": 0.0}
            for c, ctr in city.centers.items()}
    svc = ctx.incidents
    ids = ctx.redis.zrange(ik.OPEN, 0, -1)
    for i in range(0, len(ids), 500):
        for inc in svc.store.load_many(ids[i:i + 500]):
            if inc is None:
                continue
            for place in set(work_items(inc).values()):
                kind, _, code = place.partition(":")
                if kind not in ("q", "h") or code not in rows:
                    continue      # x: sent out (the handler's backlog), W…: a grid worker's
                row = rows[code]
                row["waiting"] += 1
                row["overdue"] += my_overdue(inc, code, now)
                row["oldest_s"] = max(row["oldest_s"], now - inc.created_ts)
    out = sorted(rows.values(), key=lambda x: (-x["waiting"], x["center"] != "CITY", x["center"]))
    for row in out:
        row["oldest"] = _age(row["oldest_s"]) if row["waiting"] else ""
    return out


TIER_NAMES = {"city": "市中心", "town": "镇街", "department": "部门"}


def _age(s: float) -> str:
    if s < 3600:
        return f"{s / 60:.0f} 分钟"
    if s < 86400:
        return f"{s / 3600:.1f} 小时"
    return f"{s / 86400:.1f} 天"


# --- dead letters (死信) ----------------------------------------------------------------------
def deadletter_rows(r: redis.Redis, reason: str | None = None, hours: float | None = None,
                    limit: int = 100, now: float | None = None) -> list[dict]:
    """Kept dead letters for the table, newest first, filtered by reason and the last ``hours``."""
    now = time.time() if now is None else now
    since = int((now - hours * 3600) * 1000) if hours else None
    return [dict(e, reason_cn=deadletter.reason_name(e["reason"]), ts_txt=_ms(e["ts"]),
                 raw_txt=e["preview"][:120], replayable="可重放" if e["complete"] else "原文已截断")
            for e in deadletter.query(r, reason=reason or None, since_ms=since, limit=limit)]


def replay_deadletters(ctx: AppContext, entry_ids: list[str]) -> list[tuple[str, str]]:
    """重放: each entry through the ingest's own validation and store (``IngestWorker.process``,
    no MQTT), exactly once (``sensors.deadletter.replay``); per entry (id, outcome in Chinese)."""
    worker = IngestWorker(ctx.redis_bytes, ctx.devices, mqtt_url=ctx.settings.mqtt_url or "mqtt://-")
    out = []
    for eid in entry_ids:
        before = int(ctx.redis.xlen(_dlq_key()))
        try:
            deadletter.replay(ctx.redis, eid, lambda t, raw: worker.process([(t, raw)]))
        except deadletter.ReplayRefused as e:
            out.append((eid, f"未重放：{e}"))
            continue
        again = int(ctx.redis.xlen(_dlq_key())) >= before   # kept again with a new reason
        out.append((eid, "已重放，仍被拒收（见最新死信）" if again else "已重放，已入库"))
    return out


def _dlq_key() -> str:
    return sk.DEADLETTER


def deadletter_csv(rows: list[dict]) -> str:
    """The dead letters as CSV (Chinese headers; cells escaped against formulas)."""
    buf = io.StringIO()
    w = csv.writer(buf)
    cols = [("ts_txt", "时间"), ("reason_cn", "原因"), ("reason", "原因代码"), ("device_id", "设备"),
            ("topic", "主题"), ("detail", "详情"), ("size", "字节数"), ("replayable", "可否重放"),
            ("raw_txt", "原文")]
    w.writerow([c for _, c in cols])
    for row in rows:
        w.writerow([csv_cell(row.get(k, "")) for k, _ in cols])
    return "\ufeff" + buf.getvalue()   # BOM: Excel opens UTF-8 Chinese correctly


# --- accounts and the security audit (账号, 安全审计) -------------------------------------------
def account_rows(ctx: AppContext) -> list[dict]:
    """Every account: id, name, role and center by name, state, live sessions."""
    sessions = SessionStore(ctx.redis)
    centers = ctx.city.centers
    out = []
    for u in UserStore(ctx.redis, ctx.city).list():
        ctr = centers.get(u.center)
        out.append({"user_id": u.user_id, "name": u.name or "", "role": ROLE_NAMES.get(u.role, u.role),
                    "center": ctr.name if ctr else u.center, "disabled": bool(u.disabled),
                    "state": "已停用" if u.disabled else "正常",
                    "sessions": len(sessions.sessions_of(u.user_id))})
    return out


AUDIT_EVENT_NAMES = {
    "login": "登录", "logout": "退出", "login_failed": "登录失败", "login_throttled": "登录限速",
    "denied": "越权拒绝", "export": "导出", "user_disabled": "停用账号", "user_enabled": "启用账号",
    "sessions_revoked": "注销会话", "deadletter_replay": "死信重放", "deadletter_ack": "死信处理",
}


def audit_rows(r: redis.Redis, event: str | None = None, user: str | None = None,
               limit: int = 200) -> list[dict]:
    """The latest security-audit entries, newest first, filtered by event and user (either
    the actor or the target)."""
    out = []
    for e in audit_entries(r, 2000):
        if event and e.get("event") != event:
            continue
        if user and user not in (e.get("user"), e.get("target")):
            continue
        out.append(dict(e, event_cn=AUDIT_EVENT_NAMES.get(e.get("event", ""), e.get("event", "")),
                        ts_txt=_ms(e.get("ts"))))
        if len(out) >= limit:
            break
    return out


# --- 视频调阅 (issue 23, V27 全程可控) --------------------------------------------------------------
VIDEO_EVENT_NAMES = {"start": "开始调阅", "end": "结束调阅", "denied": "拒绝", "clip": "录制片段"}
VIDEO_REASONS = {"url:expired": "播放地址已过期", "url:session": "会话不符", "url:camera": "摄像机不符",
                 "url:login": "未登录", "quota": "超出路数上限", "closed": "关闭", "slow": "网络过慢",
                 "logout": "已退出登录", "stopped": "视频流停止", "offline": "摄像机离线"}


def video_rows(r: redis.Redis, camera: str | None = None, limit: int = 200) -> list[dict]:
    """The 视频调阅 log (``sensors.video.access``), newest first, for the security officer."""
    from sensors.video.access import views  # noqa: PLC0415

    return [dict(e, event_cn=VIDEO_EVENT_NAMES.get(e.get("event", ""), e.get("event", "")),
                 role_cn=ROLE_NAMES.get(e.get("role", ""), e.get("role", "")),
                 reason_cn=VIDEO_REASONS.get(e.get("reason", ""), e.get("reason", "")),
                 ts_txt=_ms(e.get("ts"))) for e in views(r, 2000 if camera else limit, camera)][:limit]
