"""Notifications (issue 9): event records to webhooks and MQTT brokers, never blocking a camera.

- :mod:`~streamer.notify.config`: the ``notify:`` list (``--webhook URL``, ``--mqtt URL``);
- :mod:`~streamer.notify.base`: filters, flood limit, bounded queue and thread of every notifier;
- :mod:`~streamer.notify.webhook`: POST as JSON (aiohttp), retries with capped backoff;
- :mod:`~streamer.notify.mqtt`: paho-mqtt, Frigate's topic layout, reconnects, last will;
- :mod:`~streamer.notify.attach`: builds them from settings and subscribes them to the buses.

Importing this package is cheap; aiohttp and paho load when a notifier of their kind starts.
"""

from streamer.notify.attach import Notifications, attach
from streamer.notify.config import NotifyConfig

__all__ = ["Notifications", "NotifyConfig", "attach"]
