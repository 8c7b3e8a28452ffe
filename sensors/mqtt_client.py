"""The MQTT client, apart (Home Assistant's ``mqtt/client.py`` idea): the only module of OneMap
that builds a paho client or holds one for a session. Ingest sees messages and acknowledges them;
it never sees paho (S1, S4).

paho-mqtt 2.x (``CallbackAPIVersion.VERSION2``), MQTT 5. ``Session`` owns what a durable
subscriber needs: a persistent session (``clean_start=False`` + ``SessionExpiryInterval``, so a
worker that comes back gets every QoS 1 message published while it was away), a receive maximum,
automatic reconnect with exponential back-off and a resubscribe on every connect (harmless with a
kept session, needed after it expired).

Acknowledgement is **manual and public API only**: the client is made with ``manual_ack=True``
and ``Session.ack`` calls ``Client.ack(mid, qos)`` for each message, after the caller has stored
it (at-least-once: nothing is acknowledged before Redis has it; a worker that dies first gets the
message again from the broker). No private paho attribute is touched here or anywhere else
(``tests/sensors/test_paho_public.py`` greps for it), so a paho minor release cannot break
ingest silently. The supported range is pinned in ``setup.cfg``/``pyproject.toml``
(``paho-mqtt>=2.2,<3``) and checked by that test.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from urllib.parse import urlparse

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from sensors import defaults

log = logging.getLogger("onemap.mqtt")

PAHO_SUPPORTED = ((2, 2), (3, 0))
"""paho-mqtt versions this module is written against: >= 2.2, < 3 (the pin in setup.cfg)."""

OnMessage = Callable[[str, bytes, int, int], None]
"""on_message(topic, payload, mid, qos), called in paho's network thread."""


def mqtt_client(url: str, client_id: str = "", **kw) -> tuple[mqtt.Client, str, int]:
    """A paho v2 / MQTT 5 client for ``mqtt[s]://[user:pass@]host[:port]`` (not yet connected),
    with the host and port to connect to. For publishers and probes; subscribers use ``Session``."""
    u = urlparse(url)
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                    protocol=MQTTProtocolVersion.MQTTv5, **kw)
    if u.username:
        c.username_pw_set(u.username, u.password)
    tls = u.scheme in ("mqtts", "ssl")
    if tls:
        c.tls_set()
    return c, u.hostname or "127.0.0.1", u.port or (8883 if tls else 1883)


class Session:
    """One durable MQTT 5 subscription session with manual acknowledgement.

    ``on_message(topic, payload, mid, qos)`` gets plain values (paho's message object is let go
    at once: the garbage collector then has nothing to walk while a batch waits). Call
    ``ack(mids)`` once the messages are stored. ``connected`` / ``subscribed`` are Events.
    """

    def __init__(self, url: str, client_id: str, filters: Iterable[str], on_message: OnMessage,
                 *, qos: int = 1, session_expiry_s: int = defaults.SESSION_EXPIRY_S,
                 receive_maximum: int = defaults.MAX_INFLIGHT,
                 keepalive_s: int = defaults.KEEPALIVE_S) -> None:
        self.url, self.client_id, self.filters = url, client_id, list(filters)
        self.qos, self.session_expiry_s = qos, session_expiry_s
        self.receive_maximum, self.keepalive_s = receive_maximum, keepalive_s
        self.connected = threading.Event()
        self.subscribed = threading.Event()
        self._deliver = on_message
        self._client: mqtt.Client | None = None
        self._closing = False

    def start(self) -> Session:
        """Connect in the background (retrying with back-off) and start paho's network thread."""
        c, host, port = mqtt_client(self.url, self.client_id, manual_ack=True)
        c.on_connect, c.on_subscribe = self._on_connect, self._on_subscribe
        c.on_disconnect, c.on_message = self._on_disconnect, self._on_message
        c.reconnect_delay_set(max(1, int(defaults.RECONNECT_MIN_S)), int(defaults.RECONNECT_MAX_S))
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = self.session_expiry_s
        props.ReceiveMaximum = self.receive_maximum
        c.connect_async(host, port, keepalive=self.keepalive_s, clean_start=False,
                        properties=props)
        self._closing = False
        self._client = c
        c.loop_start()
        return self

    def ack(self, mids: Iterable[int]) -> None:
        """Acknowledge (PUBACK) these messages through paho's public ``Client.ack``: call it only
        once they are stored. paho queues the packets for its network thread to write."""
        c = self._client
        if c is None:
            return
        ack, qos = c.ack, self.qos
        for mid in mids:
            ack(mid, qos)

    def stop(self) -> None:
        """Disconnect; the session stays on the broker (what arrives meanwhile waits there)."""
        self._closing = True
        c, self._client = self._client, None
        if c is not None:
            c.disconnect()
            c.loop_stop()
        self.connected.clear()
        self.subscribed.clear()

    # --- paho callbacks (network thread) -----------------------------------------------------
    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:  # noqa: ANN001
        if reason_code.is_failure:
            log.warning("mqtt %s: connect refused: %s", self.client_id, reason_code)
            return
        self.connected.set()
        client.subscribe([(f, SubscribeOptions(qos=self.qos)) for f in self.filters])

    def _on_subscribe(self, client, userdata, mid, reason_code_list, properties) -> None:  # noqa: ANN001
        if all(not rc.is_failure for rc in reason_code_list):
            self.subscribed.set()
        else:
            log.error("mqtt %s: subscribe refused: %s", self.client_id, reason_code_list)

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:  # noqa: ANN001
        self.connected.clear()
        self.subscribed.clear()
        if not self._closing:
            log.warning("mqtt %s: disconnected (%s); reconnecting", self.client_id, reason_code)

    def _on_message(self, client, userdata, msg: mqtt.MQTTMessage) -> None:  # noqa: ANN001
        self._deliver(msg.topic, msg.payload, msg.mid, msg.qos)


__all__ = ["PAHO_SUPPORTED", "OnMessage", "Session", "mqtt_client"]
