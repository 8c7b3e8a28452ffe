"""Only ``sensors/mqtt_client.py`` may know paho, and nothing may touch paho's private parts.

A paho minor release may rename any ``_attribute`` of its client (2.0 already did: ``_sock``,
``_out_packet``…); code that reached into them would break silently. This test reads every
``.py`` of the product packages for an access to a private attribute of a paho client, and
checks that the installed paho is inside the range the project pins (setup.cfg) and that the
public manual-acknowledgement API the ingest path relies on is there.
"""

from __future__ import annotations

import configparser
import inspect
import re
from pathlib import Path

import paho.mqtt
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from sensors.mqtt_client import PAHO_SUPPORTED

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("app", "layers", "sensors", "incidents", "grid")
ALLOWED = {ROOT / "sensors" / "mqtt_client.py"}


def _paho_private_names() -> set[str]:
    """Every single-underscore attribute of a live paho client and of its class."""
    c = mqtt.Client(CallbackAPIVersion.VERSION2)
    names = set(vars(c)) | {n for k in type(c).__mro__ for n in vars(k)}
    return {n for n in names if n.startswith("_") and not n.startswith("__")}


PRIVATE = _paho_private_names()
_NAMES = "|".join(sorted(map(re.escape, PRIVATE), key=len, reverse=True))
PATTERN = re.compile(
    # x._name, x not self/cls, _name a private attribute of paho's client: ``c._packet_queue``,
    # ``self._client._out_packet``, ``client._sock``
    rf"\b(?!self\b|cls\b)[A-Za-z_]\w*\.(?:{_NAMES})\b"
    # any private attribute of something named like a client
    r"|\b(?:client|mqttc|paho_client|mqtt_client)\._[a-z]\w*"
    # the name as a string: getattr(c, "_packet_queue")
    rf"|[\"'](?:{_NAMES})[\"']")
PAHO_USER = re.compile(r"^\s*(?:import paho\b|from paho\b|from sensors\.mqtt_client import)", re.M)
"""Only a module that imports paho or the client module can hold a paho client; elsewhere a
name such as ``svc._keepalive`` is some other object's (app/services.py)."""


def _offences() -> list[str]:
    out = []
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            text = path.read_text(encoding="utf-8")
            if path in ALLOWED or not PAHO_USER.search(text):
                continue
            for n, line in enumerate(text.splitlines(), 1):
                for m in PATTERN.finditer(line.split("#", 1)[0]):
                    out.append(f"{path.relative_to(ROOT)}:{n}: {m.group(0)}")
    return out


def test_the_pattern_catches_what_ingest_used_to_do() -> None:
    assert {"_packet_queue", "_sock", "_out_packet", "_manual_ack"} <= PRIVATE
    for bad in ("queue_packet = c._packet_queue", "self._client._out_packet.append(p)",
                "client._sock.send(b)", "getattr(c, '_packet_queue')", "client._whatever"):
        assert PATTERN.search(bad), bad
    for fine in ("self._thread = None", "self._client.ack(mid, 1)", "c.ack(mid, 1)"):
        assert not PATTERN.search(fine), fine


def test_no_code_outside_the_mqtt_client_touches_paho_privates() -> None:
    assert _offences() == []
    scanned = [p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")
               if p not in ALLOWED and PAHO_USER.search(p.read_text(encoding="utf-8"))]
    assert ROOT / "sensors" / "ingest.py" in scanned   # the scan is not vacuous


def test_only_the_mqtt_client_module_builds_a_paho_client_in_sensors() -> None:
    users = [p.relative_to(ROOT) for p in (ROOT / "sensors").rglob("*.py")
             if p not in ALLOWED and re.search(r"^\s*(import|from) paho\b",
                                               p.read_text(encoding="utf-8"), re.M)]
    assert users == []


def test_installed_paho_is_inside_the_pinned_range_with_the_public_ack_api() -> None:
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg", encoding="utf-8")
    pins = [ln.strip() for ln in cfg["options"]["install_requires"].splitlines()
            if ln.strip().startswith("paho-mqtt")]
    (lo, hi) = PAHO_SUPPORTED
    assert pins == [f"paho-mqtt>={lo[0]}.{lo[1]},<{hi[0]}"]
    version = tuple(int(x) for x in paho.mqtt.__version__.split(".")[:2])
    assert lo <= version < hi
    assert "manual_ack" in inspect.signature(mqtt.Client).parameters
    assert list(inspect.signature(mqtt.Client.ack).parameters) == ["self", "mid", "qos"]
