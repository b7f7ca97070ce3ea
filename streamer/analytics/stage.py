"""The pipeline stage that turns a frame's detections into tracks, counts and events.

It sits between the detector and the overlay, in one thread: the tracker and the zones
must see frames in order, and the detect workers hand them on in frame order.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from streamer.analytics.camera import CameraAnalytics
from streamer.analytics.events import AnalyticsEvent
from streamer.detection.detections import Detections
from streamer.frames import Frame
from streamer.overlay import Annotator, TrailAnnotator
from streamer.tracking import ByteTracker, warmup

if TYPE_CHECKING:
    from streamer.config import RunSettings
    from streamer.events.publisher import EventPublisher


class AnalyticsStage:
    """Masks, then the tracker, then zones and lines, frame by frame.

    Parameters
    ----------
    labels : sequence of str
        The detector's class names.
    tracker : ByteTracker or None
        Gives each object an id (``Detections.tracker_id``); on frames without a detector
        run it predicts the boxes (``Detections.predicted``).
    analytics : CameraAnalytics or None
        The camera's masks, zones and lines.
    on_event : callable, optional
        Called with each :class:`AnalyticsEvent`, in order (e.g. the JSONL writer).
    publisher : EventPublisher, optional
        Publishes the frame's event records (appearances, disappearances and the
        analytics events) on the bus; its ``start`` record goes out when the stage starts.

    Notes
    -----
    Masks act before the tracker, so an object standing in a masked area never gets an
    id. ``frame.analytics`` carries the zone and line figures to the overlay and the
    outputs.
    """

    name = "track"

    def __init__(self, labels: Sequence[str], *, tracker: ByteTracker | None = None,
                 analytics: CameraAnalytics | None = None,
                 on_event: Callable[[AnalyticsEvent], None] | None = None,
                 publisher: EventPublisher | None = None) -> None:
        self.labels = tuple(labels)
        self.tracker = tracker
        self.analytics = analytics
        self._on_event = on_event
        self.publisher = publisher
        self.events: Counter[str] = Counter()

    def start(self) -> None:
        if self.tracker is not None:
            warmup()  # SciPy's import (~1 s here) and the IoU kernel, before the first frame
        if self.analytics is not None:
            self.analytics.warmup()
        if self.publisher is not None:
            self.publisher.start()

    def process(self, frame: Frame) -> Frame:
        detections = frame.detections if frame.detections is not None else Detections.empty(labels=self.labels)
        if detections.labels is None:  # event records and counts name the classes
            detections = dataclasses.replace(detections, labels=self.labels)
        t = frame.time if frame.time is not None else float(frame.index)
        size = (frame.width, frame.height)
        if self.analytics is not None:
            detections = self.analytics.mask(detections, size)
        if self.tracker is not None:
            motion = frame.motion
            if motion is not None and motion.reset and frame.detected:
                self.tracker.reset()  # a scene cut or a new picture size: old tracks are gone
            still = not frame.detected and motion is not None and not motion.boxes.size
            detections = self.tracker.update(detections, detected=frame.detected, time=t, still=still)
        events: list[AnalyticsEvent] = []
        if self.analytics is not None:
            result = self.analytics.update(detections, t, size, masked=True)
            frame.analytics = result
            detections = result.detections
            events = result.events
            for event in events:
                self.events[event.kind] += 1
                if self._on_event is not None:
                    self._on_event(event)
        if self.publisher is not None:
            self.publisher.frame(frame, detections, events,
                                 self.tracker.track_ids() if self.tracker is not None else None)
        frame.detections = detections
        return frame

    def finish(self) -> None:
        pass


def build_analytics(settings: RunSettings, labels: Sequence[str],
                    on_event: Callable[[AnalyticsEvent], None] | None = None,
                    publisher: EventPublisher | None = None,
                    ) -> tuple[AnalyticsStage | None, list[Annotator]]:
    """The stage and the annotators a camera's settings ask for (None and [] when none).

    Raises
    ------
    ConfigError
        A zone or line names a class the detector does not know, or two share a name.
    """
    from streamer.analytics.draw import LineAnnotator, ZoneAnnotator

    has_shapes = bool(settings.zones or settings.lines or settings.masks)
    if not (settings.tracking or has_shapes or publisher is not None):
        return None, []
    tracker = ByteTracker(lost_seconds=settings.track_lost) if settings.tracking else None
    analytics = (CameraAnalytics(settings.zones, settings.lines, settings.masks, labels=labels,
                                 forget_seconds=max(5.0, 2 * settings.track_lost))
                 if has_shapes else None)
    annotators: list[Annotator] = []
    if settings.zones:
        annotators.append(ZoneAnnotator())
    if settings.lines:
        annotators.append(LineAnnotator())
    if tracker is not None and settings.trails:
        annotators.append(TrailAnnotator())
    return AnalyticsStage(labels, tracker=tracker, analytics=analytics, on_event=on_event,
                          publisher=publisher), annotators
