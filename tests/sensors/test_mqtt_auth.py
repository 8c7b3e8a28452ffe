"""Devices authenticate (issue 19, SEC11, S1): a real mosquitto 2 started on the files
``app.broker_auth`` generates (PBKDF2 password file via mosquitto_passwd, ACL from
``sensors.credentials``). Anonymous and wrong-password clients are refused; a device's publish on
another device's topic never reaches a subscriber with full read rights while its own does;
``onemap devices credentials revoke`` drops the device's connection and refuses the next one;
ingest and the simulator work with their own accounts; retained telemetry and readings dated
far in the past are dead-lettered; TLS works with the test CA and fails without it."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import stat
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from app.broker_auth import BrokerAuth, client_login, reload_broker
from app.cli import main
from app.config import Settings
from app.services import PIDFILE, TlsFiles, start_mosquitto
from sensors import deadletter, keys, topics
from sensors.credentials import INGEST, SIMULATOR
from sensors.ingest import IngestWorker
from sensors.mqtt_client import MqttLogin, mqtt_client
from sensors.registry import DeviceRegistry
from sensors.simulator import Simulator
from tests.sensors.conftest import wait_for

ACCEPTED = ("Success", "No matching subscribers")
"""PUBACK reasons of a publish the broker took (MQTT 5)."""


class Probe:
    """A raw MQTT 5 client (the product's ``mqtt_client``) that records its CONNACK, its
    PUBACK reason codes, its disconnects and what it receives."""

    def __init__(self, url: str, login: MqttLogin | None, client_id: str) -> None:
        self.client, self.host, self.port = mqtt_client(url, client_id, login)
        self.connack = threading.Event()
        self.gone = threading.Event()
        self.rc: mqtt.ReasonCode | None = None
        self.got: list[tuple[str, bytes, bool]] = []
        self.arrived = threading.Condition()
        self.acks: dict[int, str] = {}
        c = self.client
        c.on_publish = self._on_publish
        c.on_connect = self._on_connect
        c.on_disconnect = lambda *_a: self.gone.set()
        c.on_message = self._on_message

    def _on_connect(self, client, userdata, flags, rc, props) -> None:  # noqa: ANN001
        self.rc = rc
        self.connack.set()

    def _on_message(self, client, userdata, msg) -> None:  # noqa: ANN001
        with self.arrived:
            self.got.append((msg.topic, msg.payload, bool(msg.retain)))
            self.arrived.notify_all()

    def connect(self) -> mqtt.ReasonCode:
        self.client.reconnect_delay_set(30, 60)       # no retry during the test
        self.client.connect(self.host, self.port, keepalive=30)
        self.client.loop_start()
        assert self.connack.wait(10), "no CONNACK"
        return self.rc

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> str:
        """The broker's PUBACK reason ("Success", "Not authorized")."""
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        deadline = time.monotonic() + 10
        with self.arrived:
            while info.mid not in self.acks:
                left = deadline - time.monotonic()
                assert left > 0, "no PUBACK"
                self.arrived.wait(left)
            return self.acks.pop(info.mid)

    def _on_publish(self, client, userdata, mid, rc, props) -> None:  # noqa: ANN001
        with self.arrived:
            self.acks[mid] = str(rc)
            self.arrived.notify_all()

    def subscribe(self, filters: tuple[str, ...]) -> list[str]:
        """Subscribe and wait for the SUBACK: its reason codes."""
        done = threading.Event()
        codes: list[str] = []

        def on_subscribe(client, userdata, mid, rcs, props) -> None:  # noqa: ANN001
            codes.extend(str(rc) for rc in rcs)
            done.set()

        self.client.on_subscribe = on_subscribe
        self.client.subscribe([(f, 1) for f in filters])
        assert done.wait(10), "no SUBACK"
        return codes

    def wait_for(self, payload: bytes, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        with self.arrived:
            while not any(p == payload for _, p, _ in self.got):
                left = deadline - time.monotonic()
                assert left > 0, f"{payload!r} never arrived (got {self.got})"
                self.arrived.wait(left)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture(scope="module")
def devices(registry: DeviceRegistry) -> dict[str, tuple[str, str]]:
    """Two sensors of one type and a camera of the demo registry: name → (id, type)."""
    s = registry.sensors
    wl = s[s["type"] == "water_level"]["id"].tolist()
    return {"a": (wl[0], "water_level"), "b": (wl[1], "water_level"),
            "cam": (str(registry.cameras["id"].iloc[0]), "camera")}


@pytest.fixture(scope="module")
def broker(tmp_path_factory, devices):
    """One authenticating broker for the module, with the service accounts and device a's,
    b's and the camera's credentials."""
    base = tmp_path_factory.mktemp("mqtt-auth")
    auth = BrokerAuth(base / "auth").ensure_service_accounts()
    for did, typ in devices.values():
        auth.issue(did, typ)
    svc = start_mosquitto(base / "mqtt", auth_dir=auth.dir)
    svc.auth = auth
    yield svc
    svc.stop()


def _probe(broker, account: str | None, password: str | None = None, tag: str = "") -> Probe:
    if account and password is None:
        password = broker.auth.accounts()[account]["password"]
    login = MqttLogin(account, password) if account else None
    return Probe(broker.url, login, f"probe-{account}-{tag}-{time.monotonic_ns()}")


def test_files_are_private_and_hashed_by_mosquitto_passwd(broker, devices):
    auth: BrokerAuth = broker.auth
    assert stat.S_IMODE(os.stat(auth.dir).st_mode) == 0o700
    for f in (auth.store, auth.passwd, auth.acl):
        assert stat.S_IMODE(os.stat(f).st_mode) == 0o600, f
    accounts = auth.accounts()
    assert {INGEST, SIMULATOR, devices["a"][0]} <= set(accounts)
    passwd = auth.passwd.read_text()
    for name, a in accounts.items():
        line = next(ln for ln in passwd.splitlines() if ln.startswith(f"{name}:"))
        assert line.split(":", 1)[1].startswith("$7$")       # PBKDF2-SHA512, mosquitto 2
        assert a["password"] not in passwd
    acl = auth.acl.read_text()
    a_id = devices["a"][0]
    assert f"user {a_id}\ntopic write {topics.telemetry('water_level', a_id)}\n" in acl
    assert acl.split("\nuser ", 1)[0].count("topic") == 0     # nothing for anonymous clients


def test_anonymous_and_wrong_password_are_refused(broker, devices):
    for account, password in ((None, None), (devices["a"][0], "not-the-password")):
        p = _probe(broker, account, password)
        try:
            rc = p.connect()
            assert rc.is_failure and "authori" in str(rc).lower(), rc
        finally:
            p.close()


def test_a_device_cannot_publish_on_another_devices_topic(broker, devices):
    """The spoofed reading never reaches a subscriber with full read rights (the ingest
    account); the device's own reading, published after it, does (same connection: in order)."""
    (a, typ), (b, _) = devices["a"], devices["b"]
    sub = _probe(broker, INGEST, tag="sub")
    dev = _probe(broker, a)
    try:
        assert not sub.connect().is_failure
        assert sub.subscribe(topics.FILTERS) == ["Granted QoS 1"] * len(topics.FILTERS)
        assert not dev.connect().is_failure
        dev.subscribe(("om/v1/#",))    # mosquitto grants it, and then delivers nothing (ACL)
        assert sub.publish(topics.telemetry(typ, a), b"x") == "Not authorized"  # ingest: read only
        spoof, own = b'{"spoof": 1}', f'{{"own": {time.time_ns()}}}'.encode()
        assert dev.publish(topics.telemetry(typ, b), spoof) == "Not authorized"
        assert dev.publish(topics.telemetry("weather", a), spoof) == "Not authorized"
        assert dev.publish(topics.status(b), b"offline") == "Not authorized"
        assert dev.publish(topics.ai(b), spoof) == "Not authorized"
        assert dev.publish(topics.telemetry(typ, a), own) in ACCEPTED
        sub.wait_for(own)      # published after the refused ones, on the same connection
        assert [p for _, p, _ in sub.got] == [own], sub.got
        # the broker writes a delivery of `own` to the device before a later PUBACK: none came
        assert dev.publish(topics.telemetry(typ, a), own) in ACCEPTED
        assert dev.got == []
    finally:
        dev.close()
        sub.close()


def test_cli_issue_and_revoke_reload_the_broker(broker, devices, monkeypatch):
    """`onemap devices credentials issue` gives a working password; `revoke` SIGHUPs the broker,
    which drops the device's open connection, and its next connect is refused."""
    monkeypatch.setenv("ONEMAP_MQTT_AUTH_DIR", str(broker.auth.dir))
    pid_file = str(broker.data_dir / PIDFILE)
    cam, _ = devices["cam"]
    res = CliRunner().invoke(main, ["devices", "credentials", "issue", cam, "--type", "camera",
                                    "--pid-file", pid_file])
    assert res.exit_code == 0, res.output
    name, password = res.stdout.split()
    assert name == cam and password == broker.auth.accounts()[cam]["password"]
    dev = _probe(broker, cam, password)
    try:
        assert not dev.connect().is_failure
        assert dev.publish(topics.ai(cam), b"{}") in ACCEPTED
        res = CliRunner().invoke(main, ["devices", "credentials", "revoke", cam,
                                        "--pid-file", pid_file])
        assert res.exit_code == 0, res.output
        assert "reloaded" in res.output
        assert dev.gone.wait(10), "the revoked device stayed connected"
    finally:
        dev.close()
    again = _probe(broker, cam, password)
    try:
        rc = again.connect()
        assert rc.is_failure and "authori" in str(rc).lower(), rc
    finally:
        again.close()
    listed = CliRunner().invoke(main, ["devices", "credentials", "list"])
    assert listed.exit_code == 0 and cam not in listed.output and INGEST in listed.output
    assert password not in listed.output
    bad = CliRunner().invoke(main, ["devices", "credentials", "revoke", cam, "--no-reload"])
    assert bad.exit_code == 1 and "没有该设备的凭据" in bad.output
    bad = CliRunner().invoke(main, ["devices", "credentials", "issue", "x-1", "--type", "rocket"])
    assert bad.exit_code == 1 and "未知设备类型" in bad.output


def test_cli_issue_takes_the_type_from_the_registry(tmp_path, demo_city_dir, devices, monkeypatch):
    """Without --type the registry says what the device is; an unregistered one gets nothing."""
    monkeypatch.setenv("ONEMAP_MQTT_AUTH_DIR", str(tmp_path / "auth"))
    monkeypatch.setenv("ONEMAP_CITY_DIR", str(demo_city_dir))
    monkeypatch.setenv("ONEMAP_DATA_DIR", str(tmp_path))
    a, typ = devices["a"]
    res = CliRunner().invoke(main, ["devices", "credentials", "issue", a, "--no-reload"])
    assert res.exit_code == 0, res.output
    assert BrokerAuth(tmp_path / "auth").accounts()[a]["type"] == typ
    res = CliRunner().invoke(main, ["devices", "credentials", "issue", "wl-9999999", "--no-reload"])
    assert res.exit_code == 1 and "设备未登记" in res.output


def test_ingest_and_simulator_run_with_their_accounts_and_retained_telemetry_is_refused(
        broker, devices, registry, compiled, redis_client, tmp_path):
    """The demo's path: client_login gives ingest and the simulator their accounts from the
    credentials directory; the simulator's readings are stored. A retained reading on a
    device's own topic is dead-lettered ('retained'), and a worker subscribing later is not
    even sent the broker's retained copy."""
    settings = Settings(data_dir=tmp_path, mqtt_auth_dir=broker.auth.dir)
    ingest_login, sim_login = client_login(settings, INGEST), client_login(settings, SIMULATOR)
    assert ingest_login.username == INGEST and sim_login.username == SIMULATOR
    a, typ = devices["a"]
    w = IngestWorker(redis_client, compiled, broker.url, group="auth", client_id="auth-ingest",
                     session_expiry_s=60, login=ingest_login).start()
    reg = DeviceRegistry(registry.sensors[registry.sensors["id"] == a].reset_index(drop=True),
                         registry.cameras.iloc[0:0])
    sim = Simulator(reg, broker.url, rate=0, dropout_p=0.0, malformed_p=0.0, cameras=False,
                    login=sim_login).start(thread=False)
    dev = _probe(broker, a)
    try:
        assert w.wait_subscribed(10)
        assert not dev.connect().is_failure
        ret = json.dumps({"ts": int(time.time() * 1000), "metrics": {"level_m": 3.5}}).encode()
        assert dev.publish(topics.telemetry(typ, a), ret, retain=True) in ACCEPTED
        wait_for(lambda: deadletter.summary(redis_client)["by_reason"].get("retained"), 10,
                 "the retained reading dead-lettered")
        assert redis_client.xlen(keys.dev_hist(a)) == 0
        wait_for(lambda: sim.tick(time.time()) and redis_client.xlen(keys.dev_hist(a)), 15,
                 "a simulator reading stored")
        assert w.stats["retained"] == 1
        # a plain subscription (as the demo's worker): $share ones never get retained copies
        w2 = IngestWorker(redis_client, compiled, broker.url, group="auth2",
                          client_id="auth-ingest-2", session_expiry_s=60, shared=False,
                          login=ingest_login).start()
        try:
            assert w2.wait_subscribed(10)
            sim.tick(time.time())                # a message after the subscription …
            wait_for(lambda: w2.stats["readings"], 10, "the second worker's first reading")
            assert w2.stats["retained"] == 0     # … and the retained copy never came
        finally:
            w2.stop()
    finally:
        dev.close()
        sim.stop()
        w.stop()


def test_readings_far_in_the_past_are_dead_lettered(redis_client, compiled, registry):
    """1970, two days old: 'stale_ts' with a Chinese-first detail; 23 h old is still taken."""
    now = time.time()
    w = IngestWorker(redis_client, compiled, "mqtt://127.0.0.1:1", clock=lambda: now)
    s = registry.sensors
    did = s[s["type"] == "water_level"]["id"].iloc[2]
    cam = str(registry.cameras["id"].iloc[1])

    def tele(ts_ms: int) -> tuple[str, bytes]:
        return topics.telemetry("water_level", did), json.dumps(
            {"ts": ts_ms, "metrics": {"level_m": 2.0}}).encode()

    now_ms = int(now * 1000)
    w.process([tele(1000), tele(now_ms - 2 * 86_400_000), tele(now_ms - 23 * 3_600_000),
               (topics.ai(cam), json.dumps({"ts": 5, "label": "crowding", "confidence": 0.9,
                                            "snapshot_url": "/s.jpg"}).encode())])
    by_reason = deadletter.summary(redis_client)["by_reason"]
    assert by_reason == {"stale_ts": 3}
    assert redis_client.xlen(keys.dev_hist(did)) == 1
    detail = deadletter.latest(redis_client, 1)[0]["detail"]
    assert detail.startswith("时间过旧")


def _cert_pair(tmp: Path) -> tuple[TlsFiles, Path]:
    """A test CA and a server certificate it signed for 127.0.0.1 / localhost; and a second,
    unrelated CA (a client trusting it must fail)."""
    def key() -> ec.EllipticCurvePrivateKey:
        return ec.generate_private_key(ec.SECP256R1())

    def pem(path: Path, data: bytes) -> Path:
        path.write_bytes(data)
        return path

    now = dt.datetime.now(dt.UTC)

    def ca(name: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        k = key()
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
                .public_key(k.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(minutes=5))
                .not_valid_after(now + dt.timedelta(days=1))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False,
                                             False), critical=True)
                .sign(k, hashes.SHA256()))
        return cert, k

    ca_cert, ca_key = ca("OneMap test CA")
    other_ca, _ = ca("Somebody else's CA")
    srv_key = key()
    srv = (x509.CertificateBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
           .issuer_name(ca_cert.subject).public_key(srv_key.public_key())
           .serial_number(x509.random_serial_number())
           .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
           .add_extension(x509.SubjectAlternativeName([
               x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
               critical=False)
           .sign(ca_key, hashes.SHA256()))
    enc = serialization.Encoding.PEM
    files = TlsFiles(
        pem(tmp / "ca.crt", ca_cert.public_bytes(enc)),
        pem(tmp / "server.crt", srv.public_bytes(enc)),
        pem(tmp / "server.key", srv_key.private_bytes(
            enc, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())))
    return files, pem(tmp / "other-ca.crt", other_ca.public_bytes(enc))


def test_tls_with_the_test_ca_works_and_without_it_fails(tmp_path, devices):
    tls, other_ca = _cert_pair(tmp_path)
    auth = BrokerAuth(tmp_path / "auth").ensure_service_accounts()
    a, typ = devices["a"]
    password = auth.issue(a, typ)
    svc = start_mosquitto(tmp_path / "mqtt", auth_dir=auth.dir, tls=tls)
    try:
        assert svc.url.startswith("mqtts://")
        good = Probe(svc.url, MqttLogin(a, password, str(tls.cafile)), "tls-good")
        try:
            assert not good.connect().is_failure
            assert good.publish(topics.telemetry(typ, a), b"{}") in ACCEPTED
        finally:
            good.close()
        for ca in (None, str(other_ca)):       # the system's CAs; an unrelated CA
            bad = Probe(svc.url, MqttLogin(a, password, ca), f"tls-bad-{ca}")
            with pytest.raises(OSError, match="CERTIFICATE_VERIFY_FAILED|certificate verify"):
                bad.client.connect(bad.host, bad.port)
    finally:
        svc.stop()
    assert reload_broker(tmp_path / "mqtt" / PIDFILE) is None     # the broker is gone
