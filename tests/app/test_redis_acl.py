"""Services authenticate (issue 19; 等保 身份鉴别/访问控制, SEC4): the private redis-server runs
with ACL users (app.redis_acl), its files are private, and the session-signing key is not in
Redis (app.secret_files). All on the session's real redis-server (tests/conftest.py), which
``start_redis_server`` starts with the same ACL file as ``onemap demo``."""

from __future__ import annotations

import fnmatch
import inspect
import json
import socket
import stat

import pytest
import redis
from flask import Flask
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import BadSignature
from redis.backoff import NoBackoff
from redis.retry import Retry

from app.redis_acl import users
from tests.app.authkit import PASSWORD, login

T0 = 1_800_000_000.0


def _as(redis_service, user: str) -> redis.Redis:
    return redis.Redis.from_url(redis_service.urls[user], decode_responses=True)


def test_the_default_user_without_a_password_is_refused(redis_service):
    """A client that does not log in gets nothing: the ``default`` user needs the admin's
    password (not off: see app.redis_acl.write_acl_file)."""
    with socket.create_connection(("127.0.0.1", redis_service.port), timeout=5) as s:
        s.sendall(b"PING\r\nGET om:users\r\nAUTH default x\r\n")
        answer = b""
        while answer.count(b"\r\n") < 3:
            answer += s.recv(4096)
    assert answer.split(b"\r\n")[:2] == [b"-NOAUTH Authentication required.",
                                         b"-NOAUTH Authentication required."]
    assert answer.split(b"\r\n")[2].startswith(b"-WRONGPASS")
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(port=redis_service.port, username="web", password="guess",
                    retry=Retry(NoBackoff(), 0)).ping()


@pytest.mark.parametrize("user", ["web", "ingest", "dispatch"])
def test_no_component_can_wipe_reconfigure_or_list_the_server(redis_service, redis_client, user):
    r = _as(redis_service, user)
    for cmd in (("FLUSHALL",), ("FLUSHDB",), ("CONFIG", "GET", "*"), ("CONFIG", "SET", "save", ""),
                ("MODULE", "LIST"), ("KEYS", "*"), ("ACL", "LIST"), ("SCRIPT", "FLUSH"),
                ("MONITOR",), ("SHUTDOWN", "NOSAVE"), ("CLIENT", "LIST"), ("BGSAVE",),
                ("REPLICAOF", "127.0.0.1", "1")):
        with pytest.raises(redis.exceptions.NoPermissionError):
            r.execute_command(*cmd)
    assert r.ping()
    if user == "web":
        assert r.info("memory")["used_memory"] > 0          # /ops shows it
    else:
        with pytest.raises(redis.exceptions.NoPermissionError):
            r.info()


def test_each_component_reaches_only_its_keys(redis_service, redis_client):
    redis_client.set("om:user:mallory", "x")
    redis_client.set("om:sess:abc", "x")
    redis_client.set("om:inc:INC-1", "x")
    redis_client.set("om:dev:state", "x")
    redis_client.set("other:key", "x")
    web, ingest, dispatch = (_as(redis_service, u) for u in ("web", "ingest", "dispatch"))
    assert web.get("om:user:mallory") == "x" and web.get("om:inc:INC-1") == "x"
    for r, foreign in ((ingest, ("om:user:mallory", "om:sess:abc", "om:inc:INC-1", "other:key")),
                       (dispatch, ("om:user:mallory", "om:sess:abc", "om:dev:state", "other:key")),
                       (web, ("other:key",))):
        for key in foreign:
            with pytest.raises(redis.exceptions.NoPermissionError):
                r.get(key)
            with pytest.raises(redis.exceptions.NoPermissionError):
                r.delete(key)
    assert ingest.get("om:dev:state") == "x" and dispatch.get("om:inc:INC-1") == "x"
    for n, r in enumerate((ingest, dispatch)):     # the alarm stream and heartbeats
        assert r.xadd("om:alarms", {"k": "v"}) and r.hset("om:hb", str(n), "1") == 1


def _catalogue(module) -> set[str]:
    """Every key a keys module names: its constants and its functions called with sample args."""
    out = set()
    names = {n: getattr(module, n) for n in getattr(module, "_CITY_NAMES", {})}   # spelled lazily
    for name, v in {**vars(module), **names}.items():
        if isinstance(v, str) and v.startswith("om:") and name != "PREFIX":   # (all of om:)
            out.add(v + "x" if v.endswith(":") else v)       # prefixes: a key under them
        elif (inspect.isfunction(v) and v.__module__ == module.__name__ and name != "script_keys_json"
              and not name.startswith("_")):
            params = inspect.signature(v).parameters
            if params and all(p.annotation in ("str", "int", str, int) for p in params.values()):
                out.add(v(*(["x"] * len(params))))
    return out


@pytest.fixture(params=["", "gz"])
def keyspace_tag(request: pytest.FixtureRequest):
    """Untagged (om:…) and tagged (om:{gz}:…, Redis Cluster / several cities: issue 20)."""
    from grid import keyspace

    keyspace.configure(request.param)
    yield request.param
    keyspace.configure("")


def test_the_key_catalogues_fit_the_patterns(keyspace_tag):
    """A key added to sensors/keys.py or incidents/keys.py outside its component's patterns
    would be refused at run time (NOPERM): caught here first."""
    from incidents import keys as ik
    from sensors import keys as sk

    patterns = {u.name: u.keys for u in users()}
    sensor_keys = _catalogue(sk) | set(sk.script_keys().values())
    incident_keys = _catalogue(ik) - {ik.ALARMS}
    assert len(sensor_keys) > 15 and len(incident_keys) > 20
    for component, names in (("ingest", sensor_keys), ("dispatch", incident_keys | {ik.ALARMS})):
        for key in names:
            k = key + "x" if key.endswith(":") else key
            assert any(fnmatch.fnmatchcase(k, p) for p in patterns[component]), (component, key)
    for key in sensor_keys | incident_keys:
        assert fnmatch.fnmatchcase(key, "om:*")             # the web reads them all


def test_an_alarm_runs_from_ingest_to_a_handled_case_under_the_component_users(
        redis_service, redis_client, demo_city, demo_devices):
    """The Lua scripts compute keys from prefixes (ingest.lua: device and episode keys; the
    incident store: queues, places, KPIs): every key they touch is within the patterns of the
    user that runs them. Readings (ingest user) → om:alarms → an incident (dispatch user) →
    accepted and noted by the web's service (web user)."""
    from grid.contracts import ALARMS_STREAM
    from incidents.actor import SYSTEM, Actor
    from incidents.intake import AlarmIntake
    from incidents.service import IncidentService
    from sensors import topics
    from sensors.ingest import IngestWorker
    from sensors.rules import compile_registry

    redis_client.acl_log_reset()
    t = [T0]
    clock = lambda: t[0]  # noqa: E731
    producer = IngestWorker(_as(redis_service, "ingest"), compile_registry(demo_devices),
                            "mqtt://127.0.0.1:1", clock=clock)
    intake = AlarmIntake(IncidentService(_as(redis_service, "dispatch"), demo_city, clock=clock),
                         consumer="acl-test")
    for v in (1.0, 30.0, 31.0, 32.5):                 # over the orange limit: one alarm
        t[0] += 1
        producer.process([(topics.telemetry("gas", "gas-0001"), json.dumps(
            {"ts": int(t[0] * 1000), "metrics": {"lel_pct": v}}).encode())])
    assert redis_client.xlen(ALARMS_STREAM) == 1
    assert intake.poll(block_ms=None) == 1
    web = IncidentService(_as(redis_service, "web"), demo_city, clock=clock)
    (inc_id,) = redis_client.zrange("om:inc:all", 0, -1)
    inc = web.get(inc_id, SYSTEM)
    assert inc.channel == "iot"
    owner = Actor("op", "town_operator" if inc.center.startswith("T") else "city_operator", inc.center)
    web.accept(inc_id, owner)                        # a change: the store's script, web user
    assert web.note(inc_id, owner, "现场已核实").version > inc.version
    assert not redis_client.acl_log(), redis_client.acl_log()       # nothing was refused


def _all_values(r: redis.Redis) -> set[str]:
    """Every string the user can read: key names, values, hash fields, members, stream fields."""
    out: set[str] = set()
    for key in r.scan_iter(count=1000):
        out.add(key)
        kind = r.type(key)
        if kind == "string":
            out.add(r.get(key))
        elif kind == "hash":
            for f, v in r.hgetall(key).items():
                out |= {f, v}
        elif kind == "list":
            out |= set(r.lrange(key, 0, -1))
        elif kind == "set":
            out |= r.smembers(key)
        elif kind == "zset":
            out |= set(r.zrange(key, 0, -1))
        elif kind == "stream":
            for _id, fields in r.xrange(key):
                for f, v in fields.items():
                    out |= {f, v}
    return out


def test_a_redis_reader_cannot_forge_a_session(redis_service, redis_client, demo_city,
                                               demo_devices, tmp_path):
    """Issue 19: the session-signing key sat in Redis and a commander's session was forged
    from it. Now it is generated in the data dir (0600); the web user reads every key in Redis
    and finds it nowhere, and a cookie signed with any value read there is refused, while the
    same cookie signed with the real key is accepted (the test could fail)."""
    from app.config import Settings
    from app.context import AppContext
    from app.server import create_server
    from app.users import ensure_demo_users

    redis_client.set("om:web:secret", "a-key-an-older-version-left-here-" + "x" * 32)
    ctx = AppContext(Settings(data_dir=tmp_path, kiosk_token="kiosk-token-for-tests"),
                     redis_service.urls["web"])
    ctx.__dict__["city"], ctx.__dict__["devices"] = demo_city, demo_devices
    ensure_demo_users(ctx.redis, demo_city, PASSWORD)
    server = create_server(ctx)
    key = server.config["SECRET_KEY"]
    key_file = tmp_path / "secrets" / "session-key"
    assert key_file.read_text().strip() == key and len(key) == 64
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_file.parent.stat().st_mode) == 0o700
    assert redis_client.get("om:web:secret") is None      # the old one is gone (it was readable)

    client = server.test_client()
    login(client, "ops")
    assert client.get("/api/incidents").status_code == 200
    real = client.get_cookie("session").value
    iface = SecureCookieSessionInterface()
    data = iface.get_signing_serializer(server).loads(real)
    assert data["_user_id"]                                  # the session id, itself in Redis

    seen = _all_values(_as(redis_service, "web"))
    assert redis_client.exists(f"om:sess:{data['_user_id']}") and data["_user_id"] in seen
    assert not any(key in v for v in seen)

    def signed_with(secret: str) -> str:
        fake = Flask("forger")
        fake.secret_key = secret
        return iface.get_signing_serializer(fake).dumps(data)

    verifier = iface.get_signing_serializer(server)
    candidates = sorted(v for v in seen if v)
    assert len(candidates) > 100
    for v in candidates:
        with pytest.raises(BadSignature):
            verifier.loads(signed_with(v))
    forger = server.test_client()
    for v in [*candidates[:10], "a-key-an-older-version-left-here-" + "x" * 32]:   # end to end
        forger.set_cookie("session", signed_with(v))
        assert forger.get("/api/incidents").status_code == 401
    forger.set_cookie("session", signed_with(key))           # control: the real key works
    assert forger.get("/api/incidents").status_code == 200


def test_the_redis_data_dir_and_its_files_are_private(redis_service, redis_client):
    """Data dir 0700; AOF, log, ACL file, passwords, pid file 0600 (umask 077 for Redis's own)."""
    redis_client.set("om:x", "y")
    redis_client.bgrewriteaof()                     # Redis writes new AOF files of its own
    d = redis_service.data_dir
    assert stat.S_IMODE(d.stat().st_mode) == 0o700
    files = [p for p in d.rglob("*") if p.is_file()]
    names = {p.name for p in files}
    assert {"users.acl", "redis.log", "web.password", "admin.password"} <= names
    assert any(n.endswith(".aof") for n in names)
    for p in d.rglob("*"):
        assert stat.S_IMODE(p.stat().st_mode) == (0o700 if p.is_dir() else 0o600), p
    acl = (d / "users.acl").read_text()
    assert (d / "acl" / "web.password").read_text().strip() not in acl    # hashes only
    assert "user default on #" in acl and "nopass" not in acl     # behind the admin password


def test_transactions_and_scripts_survive_a_restart_under_acl(tmp_path):
    """Redis 7.0 replays its AOF as ``default`` and re-checks ACLs at each EXEC: with ``default``
    off it silently dropped every MULTI/EXEC and every script's effects on restart (what the
    ingest and the incident store write). The component users' writes come back whole."""
    from app.services import restart_redis_server, start_redis_server

    svc = start_redis_server(tmp_path / "r")
    try:
        web = redis.Redis.from_url(svc.urls["web"], decode_responses=True)
        p = web.pipeline(transaction=True)
        p.set("om:tx:a", "1")
        p.hset("om:tx:h", "f", "2")
        p.execute()
        web.eval("redis.call('SET', KEYS[1], ARGV[1]); return 1", 1, "om:tx:lua", "3")
        web.close()
        svc = restart_redis_server(svc)
        admin = redis.Redis.from_url(svc.url, decode_responses=True)
        assert (admin.get("om:tx:a"), admin.hget("om:tx:h", "f"), admin.get("om:tx:lua")) == \
            ("1", "2", "3")
        admin.close()
    finally:
        svc.stop()


def test_secrets_come_from_the_environment_or_a_file(tmp_path, monkeypatch):
    from app.config import Settings
    from app.secret_files import SecretError, session_key

    f = tmp_path / "key"
    f.write_text("k" * 40 + "\n")
    monkeypatch.setenv("ONEMAP_SECRET_KEY_FILE", str(f))
    assert session_key(Settings(data_dir=tmp_path / "d")) == "k" * 40
    assert not (tmp_path / "d").exists()                     # nothing generated
    monkeypatch.setenv("ONEMAP_SECRET_KEY", "e" * 40)
    assert session_key(Settings(data_dir=tmp_path / "d")) == "e" * 40
    monkeypatch.setenv("ONEMAP_SECRET_KEY", "short")
    with pytest.raises(SecretError):
        session_key(Settings(data_dir=tmp_path / "d"))
    monkeypatch.delenv("ONEMAP_SECRET_KEY")
    monkeypatch.setenv("ONEMAP_SECRET_KEY_FILE", str(tmp_path / "missing"))
    with pytest.raises(SecretError):
        session_key(Settings(data_dir=tmp_path / "d"))
    monkeypatch.delenv("ONEMAP_SECRET_KEY_FILE")
    first = session_key(Settings(data_dir=tmp_path / "d"))
    assert session_key(Settings(data_dir=tmp_path / "d")) == first     # kept across starts
