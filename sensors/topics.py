"""MQTT topic scheme (主题规范), see docs/mqtt.md.

``om/v1/tele/<type>/<device id>``  telemetry (OneMap JSON or SenML JSON), QoS 1
``om/v1/status/<device id>``       online/offline, retained; devices set it as their last will
``om/v1/ai/<camera id>``           video-AI detections (camera id, label, confidence, snapshot)
``om/v1/pos/<camera id>``          positions of mobile cameras (tour buses, boats, V29)
"""

from __future__ import annotations

from sensors.defaults import TOPIC_ROOT

TELEMETRY = f"{TOPIC_ROOT}/tele"
STATUS = f"{TOPIC_ROOT}/status"
AI = f"{TOPIC_ROOT}/ai"
POSITION = f"{TOPIC_ROOT}/pos"

FILTERS = (f"{TELEMETRY}/+/+", f"{STATUS}/+", f"{AI}/+", f"{POSITION}/+")
"""What an ingest worker subscribes to (each under ``$share/<group>/``)."""


def telemetry(device_type: str, device_id: str) -> str:
    return f"{TELEMETRY}/{device_type}/{device_id}"


def status(device_id: str) -> str:
    return f"{STATUS}/{device_id}"


def ai(camera_id: str) -> str:
    return f"{AI}/{camera_id}"


def position(camera_id: str) -> str:
    return f"{POSITION}/{camera_id}"


def shared(group: str, topic_filter: str) -> str:
    """Shared subscription (MQTT 5 ``$share``): the group's workers split the messages."""
    return f"$share/{group}/{topic_filter}"


def parse(topic: str) -> tuple[str, str, str] | None:
    """topic → (channel 'tele'|'status'|'ai'|'pos', device type or '', device id); None if not
    ours."""
    parts = topic.split("/")
    if len(parts) < 4 or f"{parts[0]}/{parts[1]}" != TOPIC_ROOT:
        return None
    ch = parts[2]
    if ch == "tele" and len(parts) == 5 and parts[3] and parts[4]:
        return "tele", parts[3], parts[4]
    if ch in ("status", "ai", "pos") and len(parts) == 4 and parts[3]:
        return ch, "", parts[3]
    return None
