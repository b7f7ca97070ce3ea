"""Zones, lines and masks: what the tracked objects do in the places a user draws.

Per camera, the YAML's ``zones:``, ``lines:`` and ``masks:`` (:class:`ZoneConfig`,
:class:`LineConfig`, :class:`MaskConfig`) become :class:`PolygonZone`,
:class:`LineCounter` and :class:`Mask` objects. Each zone and line takes a frame's
tracked :class:`~streamer.detection.Detections` and its time and returns what happened
as :class:`AnalyticsEvent` records (``enter``, ``exit``, ``loiter``, ``cross``);
:class:`CameraAnalytics` runs one camera's masks, zones and lines in one call per frame.
The annotators that draw them are in :mod:`streamer.analytics.draw`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from streamer.analytics._base import ANCHORS, anchor_points
    from streamer.analytics.camera import AnalyticsResult, CameraAnalytics, LineCounts, ZoneCounts
    from streamer.analytics.config import LineConfig, MaskConfig, ZoneConfig
    from streamer.analytics.events import AnalyticsEvent
    from streamer.analytics.lines import LineCounter
    from streamer.analytics.masks import Mask
    from streamer.analytics.zones import PolygonZone

# Lazy, so that streamer.config can use the settings models (analytics.config) without
# importing the detection package, which itself reads its defaults from streamer.config.
_WHERE = {
    "ANCHORS": "_base", "anchor_points": "_base", "AnalyticsResult": "camera", "CameraAnalytics": "camera",
    "LineCounts": "camera", "ZoneCounts": "camera", "LineConfig": "config", "MaskConfig": "config",
    "ZoneConfig": "config", "AnalyticsEvent": "events", "LineCounter": "lines", "Mask": "masks",
    "PolygonZone": "zones",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(f"streamer.analytics.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'streamer.analytics' has no attribute {name!r}")


__all__ = [
    "ANCHORS",
    "AnalyticsEvent",
    "AnalyticsResult",
    "CameraAnalytics",
    "LineConfig",
    "LineCounter",
    "LineCounts",
    "Mask",
    "MaskConfig",
    "PolygonZone",
    "ZoneConfig",
    "ZoneCounts",
    "anchor_points",
]
