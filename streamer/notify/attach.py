"""Builds a run's notifiers from its settings and subscribes them to the cameras' buses.

One notifier per distinct ``notify:`` entry, shared by every camera that lists it (one MQTT
connection, one webhook queue, whatever the number of cameras); each record says its
camera. The CLI does, around the cameras' runners::

    notifications = Notifications.start(cameras)   # None when no camera has notify:
    notifications.bind(fleet.runners)               # each runner's bus -> its notifiers
    ...run...
    notifications.close()                           # drain, bounded; one summary line each

A single :class:`~streamer.runner.Runner` (or :func:`streamer.stream`) needs one line:
``notifications = attach(runner.settings.notify, runner.bus)``, and ``close()`` at the end.
A notifier's failure is logged and counted, never raised into a camera: the bus calls its
``submit``, which only queues.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from typing import Any

from streamer.bus import EventBus
from streamer.notify.base import Notifier
from streamer.notify.config import NotifyConfig

log = logging.getLogger("streamer")

#: How long closing waits for queued records to go out, over all notifiers.
CLOSE_TIMEOUT = 5.0


def build(config: NotifyConfig) -> Notifier:
    """The notifier an entry describes (not started)."""
    if config.kind == "webhook":
        from streamer.notify.webhook import WebhookNotifier

        return WebhookNotifier(config)
    from streamer.notify.mqtt import MqttNotifier

    return MqttNotifier(config)


class Notifications:
    """A run's notifiers, by entry; started when first needed."""

    def __init__(self) -> None:
        self._by_entry: dict[str, Notifier] = {}

    @classmethod
    def start(cls, cameras: Iterable[Any]) -> Notifications | None:
        """Start the notifiers every camera's settings (``RunSettings``) list; None when none does."""
        hub = cls()
        for settings in cameras:
            for config in settings.notify:
                hub.notifier(config)
        return hub if hub._by_entry else None

    @property
    def notifiers(self) -> list[Notifier]:
        return list(self._by_entry.values())

    def notifier(self, config: NotifyConfig) -> Notifier:
        """The started notifier of ``config`` (the same one for equal entries)."""
        key = config.model_dump_json()
        found = self._by_entry.get(key)
        if found is None:
            found = self._by_entry[key] = build(config).start()
        return found

    def attach(self, configs: Sequence[NotifyConfig], bus: EventBus) -> None:
        """Subscribe the notifiers of ``configs`` to ``bus``."""
        for config in configs:
            notifier = self.notifier(config)
            bus.subscribe(notifier.submit, name=f"notify {notifier.name}")

    def bind(self, runners: Iterable[Any]) -> None:
        """Subscribe each runner's notifiers (its ``settings.notify``) to its ``bus``."""
        for runner in runners:
            self.attach(runner.settings.notify, runner.bus)

    def close(self, timeout: float = CLOSE_TIMEOUT) -> list[str]:
        """Let every notifier send what is queued, for at most ``timeout`` seconds in all.

        Returns (and logs) one summary line per notifier: sent, failed, rejected, dropped,
        throttled.
        """
        deadline = time.monotonic() + timeout
        for notifier in self._by_entry.values():
            notifier.queue.close()  # all drain at once, not one after the other
        lines = []
        for notifier in self._by_entry.values():
            notifier.close(max(0.05, deadline - time.monotonic()))
            lines.append(notifier.summary())
            log.info("%s", lines[-1])
        return lines


def attach(configs: Sequence[NotifyConfig], bus: EventBus) -> Notifications:
    """Start the notifiers of ``configs`` and subscribe them to ``bus``; close the result at the end."""
    hub = Notifications()
    hub.attach(configs, bus)
    return hub
