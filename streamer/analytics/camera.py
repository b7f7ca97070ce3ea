"""One camera's masks, zones and lines behind one update per frame."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from streamer.analytics.config import FrameSize, LineConfig, MaskConfig, ZoneConfig, resolve_classes
from streamer.analytics.events import AnalyticsEvent
from streamer.analytics.lines import LineCounter
from streamer.analytics.masks import Mask
from streamer.analytics.zones import PolygonZone
from streamer.detection import Detections
from streamer.errors import ConfigError


@dataclass(frozen=True, slots=True)
class ZoneCounts:
    """A zone's figures after one frame (what the overlay draws and the JSONL writes).

    Attributes
    ----------
    name : str
    polygon : numpy.ndarray, shape (M, 2), float64
        Vertices in pixels of this frame (shared with the zone: do not modify).
    occupancy, entries, exits : dict of str to int
        Per class name (``"class_N"`` without labels): inside now; since the start.
        Shared between frames until a figure changes: do not modify.
    """

    name: str
    polygon: np.ndarray
    occupancy: dict[str, int]
    entries: dict[str, int]
    exits: dict[str, int]


@dataclass(frozen=True, slots=True)
class LineCounts:
    """A line's figures after one frame.

    Attributes
    ----------
    name : str
    start, end : tuple of float
        The segment in pixels of this frame.
    left, right : str
        Names of the crossings into the left and the right side.
    counts : dict of str to dict of str to int
        ``{direction: {class name: crossings since the start}}``, both directions present;
        shared between frames until a count changes: do not modify.
    """

    name: str
    start: tuple[float, float]
    end: tuple[float, float]
    left: str
    right: str
    counts: dict[str, dict[str, int]]


@dataclass(frozen=True, slots=True)
class AnalyticsResult:
    """What one frame's update found.

    Attributes
    ----------
    detections : Detections
        The frame's detections without those the masks drop.
    events : list of AnalyticsEvent
        Entries, exits, loiters and crossings decided on this frame (zones first, in
        config order, then lines).
    zones : tuple of ZoneCounts
    lines : tuple of LineCounts
    """

    detections: Detections
    events: list[AnalyticsEvent]
    zones: tuple[ZoneCounts, ...]
    lines: tuple[LineCounts, ...]

    def counts_record(self) -> dict[str, Any]:
        """The JSONL's per-frame ``counts``: ``{"zones": {name: {"occupancy", "entries",
        "exits"}}, "lines": {name: {direction: {label: n}}}}``."""
        return {
            "zones": {z.name: {"occupancy": z.occupancy, "entries": z.entries, "exits": z.exits} for z in self.zones},
            "lines": {line.name: line.counts for line in self.lines},
        }


def _by_label(counter: Counter[int], labels: tuple[str, ...] | None) -> dict[str, int]:
    return {(labels[c] if labels is not None and 0 <= c < len(labels) else f"class_{c}"): n
            for c, n in sorted(counter.items()) if n}


class CameraAnalytics:
    """Masks, then zones and lines, of one camera, fed frame by frame.

    Geometry given in fractions follows the picture's size: it is computed on the first
    frame and again whenever the size changes (per-track state is kept).

    Parameters
    ----------
    zones, lines, masks : sequence of ZoneConfig, LineConfig, MaskConfig
        The camera's settings.
    labels : sequence of str, optional, keyword-only
        The detector's labels, to check class names now (else on the first frame).
    forget_seconds : float, keyword-only
        Unseen tracks are dropped after this long (default 5 s, longer than a
        tracker keeps a lost track, so an id it finds again is still known).

    Raises
    ------
    ConfigError
        If two zones or two lines share a name, or a class name is not one of ``labels``.
    """

    def __init__(self, zones: Sequence[ZoneConfig] = (), lines: Sequence[LineConfig] = (),
                 masks: Sequence[MaskConfig] = (), *, labels: Sequence[str] | None = None,
                 forget_seconds: float = 5.0) -> None:
        for kind, items in (("zones", zones), ("lines", lines)):
            names = Counter(item.name for item in items)
            twice = [n for n, k in names.items() if k > 1]
            if twice:
                raise ConfigError(f"{kind}: the name {twice[0]!r} is used more than once")
        self.zone_configs, self.line_configs, self.mask_configs = list(zones), list(lines), list(masks)
        self.labels = None if labels is None else tuple(labels)
        self.forget_seconds = forget_seconds
        if labels is not None:
            self._check_classes(self.labels)
        self.zones: list[PolygonZone] = []
        self.lines: list[LineCounter] = []
        self.masks: list[Mask] = []
        self._size: FrameSize | None = None

    def warmup(self) -> None:
        """Load the kernels the zones, lines and masks run, before the first frame lays them out.

        With Numba's cache cold each compiles then (~1 s on a busy 2-core machine); at the first
        frame that was a live camera's first second. Nothing is loaded without shapes.
        """
        if not (self.zone_configs or self.line_configs or self.mask_configs):
            return
        from streamer.kernels._polygon import line_sides, points_in_polygon

        none = np.empty((0, 2), np.float32)
        if self.zone_configs or self.mask_configs:
            points_in_polygon(none, np.array([[0, 0], [1, 0], [0, 1]], np.float64))
        if self.line_configs:
            line_sides(none, (0, 0), (1, 0))

    def _check_classes(self, labels: tuple[str, ...] | None) -> None:
        for kind, items in (("zones", self.zone_configs), ("lines", self.line_configs)):
            for item in items:
                resolve_classes(item.classes, labels, where=f"{kind}.{item.name}.classes")

    def _layout(self, frame_size: FrameSize, labels: tuple[str, ...] | None) -> None:
        """Build the objects for the first size; move their geometry for a new one."""
        if self._size is None:
            labels = self.labels if self.labels is not None else labels
            self.zones = [PolygonZone.from_config(c, frame_size, labels=labels, forget_seconds=self.forget_seconds)
                          for c in self.zone_configs]
            self.lines = [LineCounter.from_config(c, frame_size, labels=labels, forget_seconds=self.forget_seconds)
                          for c in self.line_configs]
            self.masks = [Mask.from_config(c, frame_size) for c in self.mask_configs]
        else:
            for zone, config in zip(self.zones, self.zone_configs):
                zone.polygon = config.pixels(frame_size)
            for line, config in zip(self.lines, self.line_configs):
                line.start, line.end, line.margin = config.pixels(frame_size)
            self.masks = [Mask.from_config(c, frame_size) for c in self.mask_configs]
        self._size = frame_size
        self._zone_counts: list[ZoneCounts | None] = [None] * len(self.zones)
        self._line_counts: list[LineCounts | None] = [None] * len(self.lines)
        self._drawn_labels: tuple[str, ...] | None = None

    def mask(self, detections: Detections, frame_size: FrameSize) -> Detections:
        """Drop the detections whose anchor lies in a mask (before a tracker sees them).

        Lays the shapes out for ``frame_size`` first when it is new, so the first frame
        is masked too.
        """
        frame_size = (int(frame_size[0]), int(frame_size[1]))
        if frame_size != self._size:
            self._layout(frame_size, detections.labels)
        for mask in self.masks:
            detections = mask.apply(detections)
        return detections

    def update(self, detections: Detections, time: float, frame_size: FrameSize, *,
               masked: bool = False) -> AnalyticsResult:
        """Mask one frame's detections, then update every zone and line.

        Parameters
        ----------
        detections : Detections
            The frame's boxes in source pixels, with ``tracker_id`` from the tracker.
        time : float
            Frame time in seconds (non-decreasing).
        frame_size : tuple of int
            (width, height) of the source picture.
        masked : bool, keyword-only
            The detections went through :meth:`mask` already (the masks are not applied twice).

        Returns
        -------
        AnalyticsResult
            The kept detections, this frame's events and every zone's and line's figures.

        Raises
        ------
        ConfigError
            On the first frame, if a class name is not one of the detections' labels.
        """
        if not masked:
            detections = self.mask(detections, frame_size)
        elif (int(frame_size[0]), int(frame_size[1])) != self._size:
            self._layout((int(frame_size[0]), int(frame_size[1])), detections.labels)
        labels = detections.labels or self.labels
        if labels is not self._drawn_labels:  # names changed: every figure is rebuilt
            self._zone_counts, self._line_counts = [None] * len(self.zones), [None] * len(self.lines)
            self._drawn_labels = labels
        # The figures change only with an event (or, without tracker ids, on every frame):
        # rebuilding them on every frame cost ~40 us with 2 zones and 2 lines.
        events: list[AnalyticsEvent] = []
        for k, zone in enumerate(self.zones):
            new = zone.update(detections, time)
            if new or self._zone_counts[k] is None or zone.untracked:
                self._zone_counts[k] = ZoneCounts(zone.name, zone.polygon, _by_label(zone.occupancy, labels),
                                                  _by_label(zone.entries, labels), _by_label(zone.exits, labels))
            events += new
        for k, line in enumerate(self.lines):
            new = line.update(detections, time)
            if new or self._line_counts[k] is None:
                self._line_counts[k] = LineCounts(line.name, line.start, line.end, line.directions[-1],
                                                  line.directions[1],
                                                  {d: _by_label(c, labels) for d, c in line.counts.items()})
            events += new
        return AnalyticsResult(detections, events, tuple(self._zone_counts), tuple(self._line_counts))

    def clear_motion(self, motion_mask: np.ndarray) -> np.ndarray:
        """Zero a (H, W) uint8 motion mask inside every mask that applies to motion, in place.

        Before the first :meth:`update` (no frame size yet) the masks are laid out for
        the motion mask's own size.
        """
        height, width = motion_mask.shape[:2]
        if self._size is None:
            self._layout((width, height), self.labels)
        for mask in self.masks:
            mask.clear_motion(motion_mask)
        return motion_mask
