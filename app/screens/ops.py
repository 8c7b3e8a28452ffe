"""/ops/: the administrators' health page (运维监控; issue 6).

Health of each process (ingest, dispatch, web … from ``app.heartbeat``), Redis and MQTT broker
connectivity, queue lengths (incident queues per center with their pending entries, the alarm
stream and its ``intake`` group lag), dead letters by reason with the latest samples, message
rates. ``snapshot(ctx)`` gathers it (one call, tested); the Dash app draws it every 2 s.
"""

from __future__ import annotations

import contextlib
import threading
import time
from urllib.parse import urlsplit

import redis
from dash import Dash, Input, Output, dcc, html

from app import heartbeat
from app.config import ASSETS_DIR
from app.context import AppContext
from app.timefmt import fmt_cst
from incidents.roles import screen_roles

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
        return {"ok": None, "error": "no broker configured (ONEMAP_MQTT_URL)"}
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
    """Incident dispatch queues (per center) and the alarm stream: length, pending, group lag."""
    from incidents import keys as ik  # noqa: PLC0415

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
        label = "告警流 om:alarms" if n == ik.ALARMS else n.removeprefix(ik.queue(""))
        out.append({"queue": label, "key": n, "length": int(length), "pending": pending,
                    "lag": lag, "groups": ",".join(str(g.get("name")) for g in groups)})
    return out


def deadletters(r: redis.Redis, latest: int = 8) -> dict:
    """Dead letters by reason and the latest samples (sensors.deadletter)."""
    from sensors import deadletter  # noqa: PLC0415

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
    snap["queues"] = queues(r)
    snap["deadletters"] = deadletters(r)
    rates: dict[str, float] = {}
    for b in beats:
        if b.alive:
            for k, v in b.rates.items():
                rates[f"{b.kind}.{k}"] = round(rates.get(f"{b.kind}.{k}", 0.0) + v, 2)
    snap["rates"] = rates
    from sensors import keys as sk  # noqa: PLC0415

    snap["ingest_totals"] = {k: int(v) for k, v in r.hgetall(sk.INGEST_STATS).items()}
    return snap


# --- view -------------------------------------------------------------------------------------
def _badge(ok: bool | None, yes: str = "正常", no: str = "故障") -> html.Span:
    cls = "badge ok" if ok else ("badge off" if ok is None else "badge bad")
    return html.Span(yes if ok else ("未配置" if ok is None else no), className=cls)


def _table(cols: list[tuple[str, str]], rows: list[dict], empty: str, id_: str) -> html.Table:
    head = html.Thead(html.Tr([html.Th(label) for _, label in cols]))
    body = [html.Tr([html.Td(_fmt(r.get(k))) for k, _ in cols]) for r in rows] or \
        [html.Tr(html.Td(empty, colSpan=len(cols), className="empty"))]
    return html.Table([head, html.Tbody(body)], className="grid", id=id_)


def _fmt(v: object) -> str:
    if isinstance(v, float):
        return f"{v:,.2f}"
    if isinstance(v, dict):
        return ", ".join(f"{k}={_fmt(x)}" for k, x in v.items())
    return "" if v is None else str(v)


def render(snap: dict) -> list:
    """The page body for a snapshot."""
    rd, br = snap["redis"], snap["broker"]
    procs = [dict(p, status="在线" if p["alive"] else "失联", age=f"{p['age_s']:.0f} s",
                  rates_txt=_fmt(p.get("rates") or {}), info_txt=_fmt(p.get("info") or {}))
             for p in snap["processes"]]
    kinds = sorted({p["kind"] for p in procs})
    down = [p for p in procs if not p["alive"]]
    dl = snap["deadletters"]
    dl_rows = [{"reason": k, "count": v} for k, v in sorted(dl["by_reason"].items(),
                                                            key=lambda kv: -kv[1])]
    rates = [{"name": k, "rate": f"{v:,.1f} /s"} for k, v in sorted(snap.get("rates", {}).items())]
    return [
        html.Div(className="cards", children=[
            html.Div(className="card", id="card-redis", children=[
                html.H3(["Redis ", _badge(rd["ok"])]),
                html.P(f"v{rd.get('version')} · 往返 {rd.get('rtt_ms')} ms · {rd.get('used_memory')}"
                       f" · {rd.get('clients')} 连接 · {rd.get('ops_per_s')} ops/s · "
                       f"AOF {'开' if rd.get('aof') else '关'}" if rd["ok"] else rd.get("error"))]),
            html.Div(className="card", id="card-broker", children=[
                html.H3(["MQTT 消息服务 ", _badge(br["ok"])]),
                html.P(f"{br.get('url', '')} · CONNACK {br.get('rtt_ms', '–')} ms"
                       if br["ok"] else br.get("error"))]),
            html.Div(className="card", id="card-procs", children=[
                html.H3(["进程 ", _badge(not down and bool(procs), yes="全部在线",
                                       no=f"{len(down)} 个失联" if down else "无心跳")]),
                html.P(" · ".join(f"{k} ×{sum(1 for p in procs if p['kind'] == k and p['alive'])}"
                                  for k in kinds) or "尚无进程心跳")]),
            html.Div(className="card", id="card-dlq", children=[
                html.H3("死信 Dead letters"),
                html.P(f"{sum(dl['by_reason'].values()):,} 条 · {len(dl['by_reason'])} 种原因")]),
        ]),
        html.H2("进程心跳 Processes"),
        _table([("kind", "类型"), ("name", "实例"), ("status", "状态"), ("age", "上次心跳"),
                ("rates_txt", "速率 /s"), ("info_txt", "信息")], procs, "尚无心跳", "procs"),
        html.H2("消息速率 Message rates"),
        _table([("name", "计数"), ("rate", "速率")], rates, "无速率（需要两次心跳）", "rates"),
        html.H2("队列 Queues"),
        _table([("queue", "队列"), ("length", "长度"), ("pending", "待确认"), ("lag", "未读"),
                ("groups", "消费组")], snap["queues"], "无队列", "queues"),
        html.H2("死信按原因 Dead letters by reason"),
        _table([("reason", "原因"), ("count", "数量")], dl_rows, "无死信", "dlq-reasons"),
        html.H2("最新死信样本 Latest samples"),
        _table([("ts", "时间"), ("reason", "原因"), ("device_id", "设备"), ("topic", "主题"),
                ("detail", "详情"), ("raw", "原文")], dl["latest"], "无死信", "dlq-latest"),
    ]


def install_web_heartbeat(server, ctx: AppContext) -> None:  # noqa: ANN001 (flask.Flask)
    """The web process beats as it serves requests (at most every BEAT_EVERY_S), with its
    request counter, so /ops shows each web worker and its request rate. An idle web worker
    goes stale, which the page shows as 失联 (no traffic or down)."""
    state = {"last": 0.0, "requests": 0}   # per process on purpose: it describes this process
    lock = threading.Lock()

    @server.before_request
    def _web_beat() -> None:
        with lock:
            state["requests"] += 1
            now = time.monotonic()
            if now - state["last"] < heartbeat.BEAT_EVERY_S:
                return
            state["last"] = now
            n = state["requests"]
        with contextlib.suppress(redis.RedisError):   # the page itself reports Redis down
            heartbeat.beat(ctx.redis, "web", None, {"requests": n})


def mount(server, ctx: AppContext) -> Dash:  # noqa: ANN001 (flask.Flask)
    """The /ops/ Dash app on the shared Flask server (and the web process's heartbeat)."""
    install_web_heartbeat(server, ctx)
    app = Dash("onemap_ops", server=server, url_base_pathname="/ops/",
               assets_folder=str(ASSETS_DIR / "ops"), title="运维 · OneMap", update_title=None,
               serve_locally=True)
    app.layout = html.Div(className="ops", children=[
        html.Header([html.H1("OneMap 运维监控"), html.Span(id="ops-ts"),
                     html.A("退出", href="/logout")]),
        html.Main(id="ops-body"),
        dcc.Interval(id="ops-tick", interval=REFRESH_MS),
    ])

    @app.callback(Output("ops-body", "children"), Output("ops-ts", "children"),
                  Input("ops-tick", "n_intervals"))
    def refresh(_n):  # noqa: ANN001
        from app.auth import require_role  # noqa: PLC0415

        require_role(*OPS_ROLES)   # scope inside the callback too (S2), not only the page gate
        snap = snapshot(ctx)
        return render(snap), fmt_cst(snap["ts"], "更新于 %H:%M:%S")

    return app
