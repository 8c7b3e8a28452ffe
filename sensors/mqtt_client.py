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

Authentication (issue 19, SEC11): a client logs in with an ``MqttLogin`` (an account of the
broker's password file, ``app.broker_auth`` issues them) or with ``user:pass@`` in the URL;
``mqtts://`` verifies the broker's certificate against ``MqttLogin.ca_file`` (else the system's
CAs). Subscriptions are made with *retain as published*, so the receiver sees a publisher's
retain flag and can refuse retained telemetry (docs/mqtt.md, "Retained messages").
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
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

OnMessage = Callable[[str, bytes, int, int, bool], None]
"""on_message(topic, payload, mid, qos, retain), called in paho's network thread."""


@dataclass(frozen=True)
class MqttLogin:
    """登录凭据: who a client is to the broker (SEC11, issue 19). ``username``/``password``: an
    account of the broker's password file (``onemap devices credentials``); ``ca_file``: the CA
    that signed the broker's certificate, for ``mqtts://`` (None: the system's CAs). The password
    never shows in a repr (logs)."""

    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: str | None = None


def mqtt_client(url: str, client_id: str = "", login: MqttLogin | None = None,
                **kw) -> tuple[mqtt.Client, str, int]:
    """A paho v2 / MQTT 5 client for ``mqtt[s]://[user:pass@]host[:port]`` (not yet connected),
    with the host and port to connect to. ``login`` (when it names a user) wins over the URL's
    user. ``mqtts``: TLS, the broker's certificate checked against ``login.ca_file`` or the
    system's CAs, host name included. For publishers and probes; subscribers use ``Session``."""
    u = urlparse(url)
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                    protocol=MQTTProtocolVersion.MQTTv5, **kw)
    if login is not None and login.username:
        c.username_pw_set(login.username, login.password)
    elif u.username:
        c.username_pw_set(u.username, u.password)
    tls = u.scheme in ("mqtts", "ssl")
    if tls:
        c.tls_set(ca_certs=(login.ca_file if login is not None else None) or None)
    return c, u.hostname or "127.0.0.1", u.port or (8883 if tls else 1883)


class Session:
    """One durable MQTT 5 subscription session with manual acknowledgement.

    ``on_message(topic, payload, mid, qos, retain)`` gets plain values (paho's message object is
    let go at once: the garbage collector then has nothing to walk while a batch waits); ``retain``
    is the publisher's flag (subscribed *retain as published*). Call ``ack(mids)`` once the
    messages are stored. ``connected`` / ``subscribed`` are Events; ``refused`` is the broker's
    last CONNACK refusal ("Not authorized", …), "" once connected.

    ``fresh_only``: filters subscribed with retain handling 2, so the broker does not send the
    retained messages it holds for them at subscribe time (telemetry: a retained reading is
    stale garbage, issue 19); the others (device status, the last will) get them.
    """

    def __init__(self, url: str, client_id: str, filters: Iterable[str], on_message: OnMessage,
                 *, qos: int = 1, session_expiry_s: int = defaults.SESSION_EXPIRY_S,
                 receive_maximum: int = defaults.MAX_INFLIGHT,
                 keepalive_s: int = defaults.KEEPALIVE_S, login: MqttLogin | None = None,
                 fresh_only: Iterable[str] = ()) -> None:
        self.url, self.client_id, self.filters = url, client_id, list(filters)
        self.login, self.fresh_only = login, frozenset(fresh_only)
        self.refused = ""
        self.qos, self.session_expiry_s = qos, session_expiry_s
        self.receive_maximum, self.keepalive_s = receive_maximum, keepalive_s
        self.connected = threading.Event()
        self.subscribed = threading.Event()
        self._deliver = on_message
        self._client: mqtt.Client | None = None
        self._closing = False

    def start(self) -> Session:
        """Connect in the background (retrying with back-off) and start paho's network thread."""
        c, host, port = mqtt_client(self.url, self.client_id, self.login, manual_ack=True)
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
            # wrong or revoked credentials: paho retries with back-off; the log says why
            self.refused = str(reason_code)
            log.warning("mqtt %s: connect refused: %s", self.client_id, reason_code)
            return
        self.refused = ""
        self.connected.set()
        client.subscribe([(f, SubscribeOptions(qos=self.qos, retainAsPublished=True,
                                               retainHandling=2 if f in self.fresh_only else 0))
                          for f in self.filters])

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
        self._deliver(msg.topic, msg.payload, msg.mid, msg.qos, bool(msg.retain))


__all__ = ["PAHO_SUPPORTED", "MqttLogin", "OnMessage", "Session", "mqtt_client"]
