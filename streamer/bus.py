"""One in-process event type and bus: what happened, for whoever listens.

Every part that has news *publishes* a record; the events file, notifications (webhook,
MQTT), the web server and metrics *subscribe*. No part reaches into another's internals.

A record is a flat JSON-ready dict, the one shape that the events JSONL, webhooks, MQTT
and the dashboard all print::

    {"event": "cross", "camera": "door", "time": 12.4, "wall_time": 1764540000.123,
     "line": "door", "direction": "in", "track_id": 7, "class_id": 0, "label": "person", ...}

- ``event``: the kind (``enter``, ``exit``, ``cross``, ``loiter``, ``appear``,
  ``disappear``, ``source``, ``output``, ``start``, ...);
- ``camera``: the camera's name (never a URL with credentials);
- ``time``: seconds on the source's clock (the frame's presentation time) when known;
- ``wall_time``: epoch seconds when it was published;
- then the kind's own fields (see :meth:`streamer.analytics.events.AnalyticsEvent.to_record`
  and :meth:`streamer.sources.live.SourceEvent.to_record`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger("streamer")

Record = dict[str, Any]
Subscriber = Callable[[Record], None]


class EventBus:
    """Synchronous fan-out of event records to subscribers.

    ``publish`` calls each subscriber in the publisher's thread, in subscription order, so a
    subscriber must be quick: one that does I/O (a webhook, MQTT) puts the record on its own
    bounded queue and returns. A subscriber that raises is logged once (then counted in
    ``errors``) and never stops the publisher or the other subscribers.
    """

    def __init__(self) -> None:
        self._subscribers: list[tuple[str, Subscriber]] = []
        self._lock = threading.Lock()
        self.errors: dict[str, int] = {}

    def subscribe(self, subscriber: Subscriber, *, name: str) -> None:
        """Call ``subscriber(record)`` for every record published from now on."""
        with self._lock:
            self._subscribers = [*self._subscribers, (name, subscriber)]

    def unsubscribe(self, subscriber: Subscriber) -> None:
        with self._lock:
            self._subscribers = [(n, s) for n, s in self._subscribers if s is not subscriber]

    def publish(self, record: Record) -> None:
        """Hand ``record`` to every subscriber; adds ``wall_time`` when missing."""
        record.setdefault("wall_time", round(time.time(), 3))
        for name, subscriber in self._subscribers:  # a copy-on-write list: no lock held while calling
            try:
                subscriber(record)
            except Exception as exc:  # noqa: BLE001 - a listener never takes the publisher down
                n = self.errors.get(name, 0)
                self.errors[name] = n + 1
                if n == 0:
                    log.warning("event subscriber %s failed: %s (further failures are counted)", name, exc)
