"""What every notifier shares: filters, a flood limit, a bounded queue and its own thread.

A notifier is a subscriber of a camera's :class:`~streamer.bus.EventBus`. :meth:`Notifier.submit`
runs in the publisher's thread (the analytics stage, a source's thread): it filters the
record, applies the flood limit and puts a copy on the notifier's queue, never waiting. The
queue is bounded with the ``LATEST`` policy: when the far end is slow or dead, the oldest
waiting record is dropped and counted, so a dead endpoint never holds up a camera. The
notifier's own named thread (``streamer-notify-<kind>-<n>``) takes records off the queue and
delivers them (:meth:`Notifier.deliver`, one per kind). :meth:`Notifier.close` lets it drain
what is queued for at most a given time, then gives up on the rest (counted as dropped).
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from streamer.bus import Record
from streamer.notify.config import NotifyConfig
from streamer.queues import FrameQueue, Policy, QueueAborted, QueueClosed

log = logging.getLogger("streamer")

_numbers = itertools.count(1)


@dataclass(frozen=True)
class RecordFilter:
    """Which records a notifier sends (see :class:`~streamer.notify.config.NotifyConfig`)."""

    events: frozenset[str] | None = None
    cameras: frozenset[str] | None = None
    classes: frozenset[str] | None = None
    zones: frozenset[str] | None = None

    @classmethod
    def of(cls, config: NotifyConfig) -> RecordFilter:
        return cls(config.events, config.cameras, config.classes, config.zones)

    def accepts(self, record: Record) -> bool:
        """True when ``record`` passes every filter that is set."""
        if self.events is not None and record.get("event") not in self.events:
            return False
        if self.cameras is not None and record.get("camera") not in self.cameras:
            return False
        if self.classes is not None and record.get("label") not in self.classes \
                and str(record.get("class_id")) not in self.classes:
            return False
        return self.zones is None or place(record) in self.zones


def place(record: Record) -> str | None:
    """The zone or line a record is about, None for other kinds."""
    where = record.get("zone", record.get("line"))
    return None if where is None else str(where)


class Throttle:
    """At most one record per (camera, kind, zone or line) every ``interval`` seconds.

    Keys are forgotten once their interval has passed, so memory stays bounded by the keys
    seen within one interval.
    """

    def __init__(self, interval: float, clock: Any = time.monotonic) -> None:
        self.interval = interval
        self._clock = clock
        self._last: dict[tuple[Any, Any, Any], float] = {}

    def allows(self, record: Record) -> bool:
        if self.interval <= 0:
            return True
        now = self._clock()
        key = (record.get("camera"), record.get("event"), place(record))
        last = self._last.get(key)
        if last is not None and now - last < self.interval:
            return False
        if len(self._last) > 1024:  # forget keys whose interval is over
            self._last = {k: t for k, t in self._last.items() if now - t < self.interval}
        self._last[key] = now
        return True


class Notifier(ABC):
    """One destination of event records (see the module docstring).

    Parameters
    ----------
    config : NotifyConfig
        Where to, which records, queue size.

    Attributes
    ----------
    name : str
        ``webhook https://host/...`` or ``mqtt mqtt://host:1883``: no credentials.
    sent, failed, rejected, throttled : int
        Records delivered; given up on after the retries; refused by the far end (HTTP 4xx);
        held back by ``min_interval``.
    """

    kind = "notifier"
    #: Whether records held back by ``min_interval`` still reach :meth:`deliver` (flagged
    #: ``throttled``), e.g. to keep counts; otherwise they are only counted.
    wants_throttled = False

    def __init__(self, config: NotifyConfig) -> None:
        self.config = config
        self.name = config.display()
        self.filter = RecordFilter.of(config)
        self.throttle = Throttle(config.min_interval)
        self.queue: FrameQueue[tuple[Record, bool]] = FrameQueue(config.queue, Policy.LATEST, name=self.name)
        self.sent = self.failed = self.rejected = self.throttled = 0
        self._late = 0  # submitted after close, or still queued when the drain time ran out
        self._lock = threading.Lock()  # submit may run in several cameras' threads at once
        self._closing = threading.Event()  # cuts waits (retry backoff, reconnects) short
        self._thread = threading.Thread(target=self._run, name=f"streamer-notify-{self.kind}-{next(_numbers)}",
                                        daemon=True)
        self._warned_drop = False

    # -- the publisher's side --------------------------------------------------------

    def start(self) -> Notifier:
        """Start the notifier's thread; returns self."""
        self._thread.start()
        return self

    def submit(self, record: Record) -> None:
        """The bus subscriber: queue a copy of ``record`` if it passes; never waits."""
        if not self.filter.accepts(record):
            return
        with self._lock:
            throttled = not self.throttle.allows(record)
            if throttled:
                self.throttled += 1
        if throttled and not self.wants_throttled:
            return
        try:
            dropped = self.queue.put((dict(record), throttled))
        except (QueueClosed, QueueAborted):
            with self._lock:
                self._late += 1
            return
        if dropped is not None and not self._warned_drop:
            self._warned_drop = True
            log.warning("%s: queue full (%d records), dropping the oldest; drops are counted",
                        self.name, self.config.queue)

    @property
    def dropped(self) -> int:
        """Records never sent: pushed out of a full queue, or left when closing."""
        return self.queue.dropped + self._late

    # -- the notifier's thread ------------------------------------------------------------

    def _run(self) -> None:
        try:
            self.open()
            while True:
                try:
                    record, throttled = self.queue.get()
                except (QueueClosed, QueueAborted):
                    break
                try:
                    self.deliver(record, throttled)
                except Exception as exc:  # noqa: BLE001 - a notifier never stops a camera
                    self.failed += 1
                    if self.failed == 1:
                        log.warning("%s: %s (further failures are counted)", self.name, exc)
        finally:
            try:
                self.shutdown()
            except Exception as exc:  # noqa: BLE001
                log.warning("%s: closing failed: %s", self.name, exc)

    def open(self) -> None:
        """Set up the connection (in the notifier's thread, before the first record)."""

    @abstractmethod
    def deliver(self, record: Record, throttled: bool = False) -> None:
        """Send one record, retrying as the kind does; count it in ``sent``, ``failed``, ...

        ``throttled`` (only with :attr:`wants_throttled`): ``min_interval`` held it back, so
        it is not sent, only noted."""

    def shutdown(self) -> None:
        """Release the connection (in the notifier's thread, after the last record)."""

    def wait(self, seconds: float) -> bool:
        """Sleep for a retry; True when the notifier is closing and gave up waiting."""
        return self._closing.wait(seconds)

    def close(self, timeout: float = 5.0) -> None:
        """Deliver what is queued for at most ``timeout`` seconds, then give up on the rest.

        Waits for the thread a little longer (up to ``timeout`` again) to let a request in
        flight end; a thread still blocked after that is a daemon and is left behind.
        """
        self.queue.close()
        if self._thread.ident is None:
            return
        self._thread.join(timeout)
        if self._thread.is_alive():
            with self._lock:
                self._late += len(self.queue)
            self._closing.set()
            self.queue.abort()
            self._thread.join(timeout)

    def summary(self) -> str:
        """``webhook https://host/...: 12 sent, 1 failed, 3 dropped, 2 throttled``."""
        parts = [f"{self.sent} sent"]
        for label, n in (("failed", self.failed), ("rejected", self.rejected), ("dropped", self.dropped),
                         ("throttled", self.throttled)):
            if n:
                parts.append(f"{n} {label}")
        return f"{self.name}: {', '.join(parts)}"

    def figures(self) -> dict[str, int]:
        """The counters, for a status page or metrics."""
        return {"sent": self.sent, "failed": self.failed, "rejected": self.rejected,
                "dropped": self.dropped, "throttled": self.throttled, "queued": len(self.queue)}
