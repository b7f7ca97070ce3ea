"""MQTT notifier (paho-mqtt): each record on ``<prefix>/<camera>/<event>``, as Frigate does.

Topics, following Frigate's (``frigate/available``, ``frigate/<camera>/.../state``,
``frigate/<camera>/<object>`` counts, ``frigate/events``):

``<prefix>/available`` (or the config's ``available``)
    ``online`` when connected, ``offline`` on a clean close, and ``offline`` as the broker's
    last will when the process dies or the network goes: retained (Home Assistant's
    availability topic). With ``--engine ray`` each camera's actor has its own connection and
    uses ``<prefix>/<camera>/available``.
``<prefix>/<camera>/<event>``
    Each record as JSON (``cross``, ``enter``, ``exit``, ``loiter``, ``appear``, ...), at the
    configured QoS, not retained (an event happens once).
``<prefix>/<camera>/state``
    The camera's source state from ``source`` records (``connecting``, ``streaming``,
    ``reconnecting``, ``gave_up``, ...): retained, and published again after a reconnect
    (a restarted broker without persistence forgot it).
``<prefix>/<camera>/<zone>/<label>``, ``<prefix>/<camera>/<zone>/all``
    Objects in a zone now, from the ``enter`` and ``exit`` records; like Frigate's object
    counts, not retained.
``<prefix>/<camera>/<line>/<direction>``
    Crossings of a line in a direction since the process started, from ``cross`` records;
    not retained (a restart counts from zero and says so in its ``start`` record).

Topic levels are the names with ``/``, ``+``, ``#`` and spaces replaced by ``_``. Counts use
every record that passes the filters, also those ``min_interval`` holds back (only their
event message is skipped).

paho's own thread (``paho-mqtt-client-<client id>``) keeps the connection: after a loss it
reconnects with a delay doubling from 0.5 s up to 30 s. While it is down, records wait in
the notifier's bounded queue (the oldest dropped and counted when it is full).
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from collections import Counter
from typing import Any
from urllib.parse import unquote, urlsplit

from streamer.bus import Record
from streamer.notify.base import Notifier
from streamer.notify.config import NotifyConfig

log = logging.getLogger("streamer")

PREFIX = "streamer"
QOS = 1
KEEPALIVE = 60
#: paho's reconnect delay: doubles from the first to the second, in seconds.
RECONNECT = (0.5, 30.0)
_UNSAFE = re.compile(r"[/+#\s]")


def level(name: object) -> str:
    """A name as one topic level: ``/``, ``+``, ``#`` and white space become ``_``.

    >>> level("front door/2")
    'front_door_2'
    """
    return _UNSAFE.sub("_", str(name)) or "_"


class MqttNotifier(Notifier):
    """Publishes every accepted record to a broker (see the module docstring).

    Parameters
    ----------
    config : NotifyConfig
        ``mqtt: mqtt://[user:password@]host[:port]`` (``mqtts://`` for TLS) and options.
    reconnect : (float, float)
        paho's first and longest reconnect delay, seconds.

    Attributes
    ----------
    connected : threading.Event
        Set while the broker has accepted the connection.
    connections : int
        Successful connections so far (1 + reconnects).
    """

    kind = "mqtt"
    wants_throttled = True  # counts are kept from every record, throttled or not

    def __init__(self, config: NotifyConfig, *, reconnect: tuple[float, float] = RECONNECT) -> None:
        super().__init__(config)
        url = str(config.mqtt)
        parts = urlsplit(url if "://" in url else f"mqtt://{url}")
        self._tls = parts.scheme in ("mqtts", "ssl")
        self._host = parts.hostname or ""
        self._port = parts.port or (8883 if self._tls else 1883)
        self._user = unquote(parts.username) if parts.username else None
        self._password = unquote(parts.password) if parts.password else None
        self.prefix = (config.prefix or PREFIX).rstrip("/")
        self.qos = QOS if config.qos is None else config.qos
        self._client_id = config.client_id or f"streamer-{os.getpid()}-{id(self):x}"
        self._reconnect = reconnect
        self.connected = threading.Event()
        self.connections = 0
        self._state: dict[str, str] = {}  # camera -> last source state (retained topic)
        self._inside: Counter[tuple[str, str, str]] = Counter()  # (camera, zone, label) -> objects
        self._crossed: Counter[tuple[str, str, str]] = Counter()  # (camera, line, direction)
        self._warned_refused = False
        self._client: Any = None

    @property
    def available_topic(self) -> str:
        return self.config.available or f"{self.prefix}/available"

    def open(self) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self._client_id, clean_session=True)
        client.will_set(self.available_topic, "offline", qos=1, retain=True)
        if self._user is not None:
            client.username_pw_set(self._user, self._password)
        if self._tls:
            client.tls_set()
        client.connect_timeout = self.config.timeout
        client.reconnect_delay_set(*self._reconnect)  # type: ignore[arg-type]
        client.max_queued_messages_set(self.config.queue)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        self._client = client
        client.connect_async(self._host, self._port, self.config.keepalive or KEEPALIVE)
        client.loop_start()  # connects, and reconnects after a loss, in paho's thread

    def _on_connect(self, client: Any, _userdata: Any, _flags: Any, reason: Any, _properties: Any) -> None:
        if reason.is_failure:
            if not self._warned_refused:
                self._warned_refused = True
                log.warning("%s: the broker refused the connection: %s (retrying)", self.name, reason)
            return
        self.connections += 1
        if self.connections > 1:
            log.info("%s: connected again", self.name)
        client.publish(self.available_topic, "online", qos=1, retain=True)
        for camera, state in list(self._state.items()):
            client.publish(f"{self.prefix}/{level(camera)}/state", state, qos=1, retain=True)
        self.connected.set()

    def _on_disconnect(self, _client: Any, _userdata: Any, _flags: Any, reason: Any, _properties: Any) -> None:
        was = self.connected.is_set()
        self.connected.clear()
        if was and not self._closing.is_set():
            log.warning("%s: lost the broker (%s); reconnecting", self.name, reason)

    def _publish(self, topic: str, payload: str, *, qos: int, retain: bool = False) -> bool:
        import paho.mqtt.client as mqtt

        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        return info.rc == mqtt.MQTT_ERR_SUCCESS

    def deliver(self, record: Record, throttled: bool = False) -> None:
        while not self.connected.wait(0.2):  # records wait in the queue meanwhile
            if self._closing.is_set():
                self.failed += 1
                return
        camera = level(record.get("camera") or "camera")
        kind = str(record.get("event"))
        if not throttled:
            if self._publish(f"{self.prefix}/{camera}/{level(kind)}", json.dumps(record, default=str), qos=self.qos):
                self.sent += 1
            else:
                self.failed += 1
        if kind == "source" and record.get("state") is not None:
            self._state[str(record.get("camera") or "camera")] = str(record["state"])
            self._publish(f"{self.prefix}/{camera}/state", str(record["state"]), qos=1, retain=True)
        for topic, value in self._counts(camera, kind, record):
            self._publish(topic, str(value), qos=self.qos)

    def _counts(self, camera: str, kind: str, record: Record) -> list[tuple[str, int]]:
        """The count topics a record changes, with their new values."""
        label = level(record.get("label") or f"class_{record.get('class_id')}")
        if kind in ("enter", "exit") and record.get("zone") is not None:
            zone = level(record["zone"])
            key = (camera, zone, label)
            if kind == "enter":
                self._inside[key] += 1
            elif self._inside[key] > 0:
                self._inside[key] -= 1
            total = sum(n for (c, z, _), n in self._inside.items() if c == camera and z == zone)
            return [(f"{self.prefix}/{camera}/{zone}/{label}", self._inside[key]),
                    (f"{self.prefix}/{camera}/{zone}/all", total)]
        if kind == "cross" and record.get("line") is not None:
            key = (camera, level(record["line"]), level(record.get("direction") or "any"))
            self._crossed[key] += 1
            return [(f"{self.prefix}/{'/'.join(key)}", self._crossed[key])]
        return []

    def shutdown(self) -> None:
        client = self._client
        if client is None:
            return
        if self.connected.is_set():
            # A clean disconnect sends no last will: say offline ourselves, and let it leave.
            info = client.publish(self.available_topic, "offline", qos=1, retain=True)
            try:
                info.wait_for_publish(timeout=min(2.0, self.config.timeout))
            except (RuntimeError, ValueError):
                pass
        client.disconnect()
        client.loop_stop()
        self.connected.clear()
