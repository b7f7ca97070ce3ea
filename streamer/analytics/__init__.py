"""Zones, lines and masks: what the tracked objects do in the places a user draws.

Per camera, the YAML's ``zones:``, ``lines:`` and ``masks:`` (:class:`ZoneConfig`,
:class:`LineConfig`, :class:`MaskConfig`) become :class:`PolygonZone`,
:class:`LineCounter` and :class:`Mask` objects. Each zone and line takes a frame's
tracked :class:`~streamer.detection.Detections` and its time and returns what happened
as :class:`AnalyticsEvent` records (``enter``, ``exit``, ``loiter``, ``cross``);
:class:`CameraAnalytics` runs one camera's masks, zones and lines in one call per frame.
The annotators that draw them are in :mod:`streamer.analytics.draw`.
"""

from streamer.analytics._base import ANCHORS, anchor_points
from streamer.analytics.camera import AnalyticsResult, CameraAnalytics, LineCounts, ZoneCounts
from streamer.analytics.config import LineConfig, MaskConfig, ZoneConfig
from streamer.analytics.events import AnalyticsEvent
from streamer.analytics.lines import LineCounter
from streamer.analytics.masks import Mask
from streamer.analytics.zones import PolygonZone

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
