"""Tunables of the sensing package, with units. Thresholds of the device kinds live in
``sensors/kinds/<kind>.py``; all of them are DEMO DEFAULTS: the seeds name 超标预警 (S9) but give
no numbers, so a deployment overrides them (per type, or per device in the registry ``meta``).
"""

from __future__ import annotations

# --- topics (docs/mqtt.md) -----------------------------------------------------------------------
TOPIC_ROOT = "om/v1"
"""Root of every OneMap MQTT topic."""

# --- edge validation -----------------------------------------------------------------------------
MAX_PAYLOAD_BYTES = 8192
"""Largest accepted payload, bytes; bigger ones go to the dead letter as ``oversized``."""

MAX_FUTURE_S = 300.0
"""A reading time more than this many seconds ahead of the server clock is rejected (future_ts)."""

MAX_PAST_S = 86400.0
"""A reading, detection or position dated more than this many seconds before the server clock
is rejected (stale_ts, issue 19: a reading dated 1970 was accepted). One day: longer than an
ingest worker's kept session (SESSION_EXPIRY_S) and a gateway's usual store-and-forward, and
the alarm rules must never take a day-old value for the present."""

DLQ_MAXLEN = 10_000
"""Dead-letter stream length (MAXLEN ~)."""

DLQ_RAW_BYTES = 1024
"""Raw bytes kept per dead-letter entry (the rest is cut; the entry says how long it was)."""

ALARMS_MAXLEN = 100_000
"""``om:alarms`` stream length (MAXLEN ~): days of alarms at demo rates."""

HISTORY_MAXLEN = 2000
"""Readings kept per device (stream MAXLEN ~); app.config.Settings.history_maxlen overrides."""

# --- ingest worker -------------------------------------------------------------------------------
BATCH_MAX = 500
"""Most messages written to Redis in one round trip (one Lua call + one pipeline)."""

BATCH_WAIT_S = 0.005
"""A partial batch is written once its oldest message is this old, s (bounds the alarm delay;
a busy worker fills batches of BATCH_MAX sooner)."""

SESSION_EXPIRY_S = 3600
"""MQTT 5 session expiry of ingest workers, s: a worker that is back within this time gets every
QoS 1 message published while it was away (clean_start=False)."""

RECONNECT_MIN_S = 0.5
RECONNECT_MAX_S = 30.0
"""Reconnect back-off (exponential between these), s."""

KEEPALIVE_S = 30
"""MQTT keep-alive, s (also how soon the broker publishes a dead client's last will: ×1.5)."""

MAX_INFLIGHT = 1000
"""QoS 1 messages in flight from the broker before our acks (matches mosquitto.conf)."""

# --- rules -------------------------------------------------------------------------------------
DEFAULT_MIN_DURATION_S = 0.0
"""A level must hold this long before it is raised/lowered (per rule; 0 = at once)."""

RATE_WINDOW_S = 600.0
"""Rate-of-change rules compare with a reading at least this old, s (10 min)."""

COMBINED_LEVEL = 3
"""Level (1..4 = blue..red) of the combined heavy-rain + rising-water village alarm: orange."""

AI_CLEAR_AFTER_S = 300.0
"""A video-AI episode clears when its camera has not seen the label again for this long, s."""

AI_MIN_CONFIDENCE = 0.5
"""Video-AI detections below this confidence are stored nowhere and raise nothing."""

# --- device health -----------------------------------------------------------------------------
OFFLINE_AFTER_INTERVALS = 3.0
"""A device silent for more than k × its reporting interval is offline (k, demo default)."""

FAULT_GRACE_S = 300.0
"""An offline device becomes a 设备故障 alarm after this grace period, s."""

FRESH_INTERVALS = 2.0
"""鲜活率: a device's data is fresh while its last reading is younger than k × its interval."""

HEALTH_EVERY_S = 10.0
"""How often the health checker runs, s."""

CAMERA_HEARTBEAT_S = 300
"""Cameras (via the video platform gateway) publish a status heartbeat this often, s."""

# --- simulator ---------------------------------------------------------------------------------
SIM_RATE = 90.0
"""Steady simulator rate, messages/s (5,400 sensors at 1/min, seed-requirements §11)."""

SIM_BURST_FACTOR = 10.0
"""Burst mode multiplies the rate by this (§11: ×10 bursts)."""

SIM_DROPOUT_P = 0.0005
"""Per-reading probability that a device drops out for a while (then comes back)."""

SIM_DROPOUT_S = (120.0, 900.0)
"""How long a dropped-out device stays silent, s (uniform)."""

SIM_MALFORMED_P = 0.001
"""Per-reading probability that the simulator sends a malformed message instead."""
