"""Polygon zones: occupancy per class, entries and exits, dwell and loitering per track."""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Collection, Sequence
from itertools import compress, repeat

import numpy as np

from streamer.analytics._base import TrackedShape, anchor_points
from streamer.analytics.config import FrameSize, ZoneConfig, resolve_classes
from streamer.analytics.events import AnalyticsEvent
from streamer.detection import Detections


class PolygonZone(TrackedShape):
    """Count the tracked objects whose anchor stands in a polygon.

    A track is *inside* once its anchor has been in the polygon for ``min_seconds`` (an
    ``enter`` event), and *outside* again once it has been out of it for ``min_seconds``
    (an ``exit`` event with the dwell), or when it has not been seen for
    ``forget_seconds`` (the exit then comes with that delay). A track that is not seen
    on some frames (occluded, or lost and found again by the tracker) keeps its state:
    absence is not evidence of leaving. ``loiter`` comes once per stay, when the stay
    reaches ``loiter_seconds``.

    Parameters
    ----------
    name : str
        The zone's name, in events and on the overlay.
    polygon : array_like, shape (M, 2)
        Vertices in pixels, M >= 3 (kept as float64; assign :attr:`polygon` to move it).
    classes : collection of int, optional, keyword-only
        Class ids that count; None (default) for all.
    min_seconds : float, keyword-only
        Debounce of entries and exits, seconds (>= 0).
    loiter_seconds : float, optional, keyword-only
        Stay after which a ``loiter`` event comes; None: never.
    anchor : str, keyword-only
        The point of a box that counts (default ``bottom_center``).
    forget_seconds : float, keyword-only
        Unseen tracks are dropped (and exit) after this long (default 5 s).

    Attributes
    ----------
    entries, exits : collections.Counter
        Counts per class id since the start.

    Examples
    --------
    >>> zone = PolygonZone("porch", np.array([[0, 0], [100, 0], [100, 100], [0, 100.0]]))
    >>> events = zone.update(tracked_detections, time=12.5)                  # doctest: +SKIP
    >>> zone.occupancy                                                        # doctest: +SKIP
    Counter({0: 2})
    """

    def __init__(self, name: str, polygon: np.ndarray, *, classes: Collection[int] | None = None,
                 min_seconds: float = 0.5, loiter_seconds: float | None = None,
                 anchor: str = "bottom_center", forget_seconds: float = 5.0) -> None:
        super().__init__(name, classes=classes, anchor=anchor, forget_seconds=forget_seconds)
        if not min_seconds >= 0:
            raise ValueError(f"min_seconds must be >= 0, got {min_seconds}")
        if loiter_seconds is not None and not loiter_seconds > 0:
            raise ValueError(f"loiter_seconds must be > 0, got {loiter_seconds}")
        self.polygon = np.ascontiguousarray(polygon, np.float64)
        # The kernels load Numba (~0.5 s of CPU with SciPy): only where a zone exists.
        from streamer.kernels._polygon import points_in_polygon

        points_in_polygon(np.empty((0, 2), np.float32), self.polygon)  # checks the polygon
        self.min_seconds = float(min_seconds)
        self.loiter_seconds = loiter_seconds
        self.entries: Counter[int] = Counter()
        self.exits: Counter[int] = Counter()
        # Per track, only while it applies:
        self._entered: dict[int, float] = {}      # inside: time first seen inside this stay
        self._entry_class: dict[int, int] = {}    # inside: class when it entered
        self._occupancy: Counter[int] = Counter()  # inside, per entry class: kept as they change
        self._last_inside: dict[int, float] = {}  # inside: time last seen inside
        self._pending: dict[int, float] = {}      # seen on the other side of its state since
        self._loiter_due: list[tuple[float, int, float]] = []  # heap of (due, track, entered)
        self._frame_occupancy: Counter[int] | None = None  # untracked detections: this frame's
        self._events: list[AnalyticsEvent] = []

    @classmethod
    def from_config(cls, config: ZoneConfig, frame_size: FrameSize, *, labels: Sequence[str] | None = None,
                    forget_seconds: float = 5.0) -> PolygonZone:
        """Build from a :class:`ZoneConfig` for a ``(width, height)`` picture.

        Raises
        ------
        ConfigError
            If a class name is not one of ``labels``.
        """
        return cls(config.name, config.pixels(frame_size),
                   classes=resolve_classes(config.classes, labels, where=f"zones.{config.name}.classes"),
                   min_seconds=config.min_seconds, loiter_seconds=config.loiter_seconds,
                   anchor=config.anchor, forget_seconds=forget_seconds)

    @property
    def occupancy(self) -> Counter[int]:
        """Objects inside now, per class id (each track's class when it entered).

        Without tracker ids, the anchors inside the polygon on the last frame. Do not
        modify the returned counter.
        """
        # Kept up to date on entries and exits: counting the tracks inside on every frame
        # cost ~15 us with 50 objects.
        return self._frame_occupancy if self._frame_occupancy is not None else self._occupancy

    @property
    def untracked(self) -> bool:
        """True when the last frame had no tracker ids (:attr:`occupancy` is that frame's)."""
        return self._frame_occupancy is not None

    def dwell(self, track_id: int) -> float | None:
        """Seconds a track inside has been seen inside so far; None if it is not inside."""
        entered = self._entered.get(track_id)
        return None if entered is None else self._last_inside[track_id] - entered

    def update(self, detections: Detections, time: float) -> list[AnalyticsEvent]:
        """Take one frame's tracked detections; return what happened.

        Parameters
        ----------
        detections : Detections
            The frame's boxes with ``tracker_id`` (rows with a negative id, or of a class
            not counted, are ignored). Without tracker ids only :attr:`occupancy` is
            updated, from this frame's boxes alone.
        time : float
            Frame time in seconds, non-decreasing (when it goes back, per-track state
            starts afresh; the counts stay).

        Returns
        -------
        list of AnalyticsEvent
            ``enter``, ``exit`` and ``loiter`` events decided on this frame, in that order
            per track.
        """
        selected = self._select(detections, time)
        now = self._time
        if selected is None:
            keep = np.ones(len(detections), bool) if self.classes is None else np.isin(detections.class_id, self.classes)
            from streamer.kernels._polygon import points_in_polygon

            inside = points_in_polygon(anchor_points(detections.xyxy[keep], self.anchor), self.polygon)
            self._frame_occupancy = Counter(detections.class_id[keep][inside].tolist())
            return self._take_events()
        points, tids, cids = selected
        if not tids and self._frame_occupancy is not None:  # untracked so far, and empty
            self._frame_occupancy = Counter()
        elif tids:
            self._frame_occupancy = None
            self._step(points, tids, cids, now)
        if self._loiter_due:
            self._loiter(now)
        return self._take_events()

    def _step(self, points: np.ndarray, tids: list[int], cids: list[int], now: float) -> None:
        """Compare each track's side of the border with its state; enter or exit when due."""
        # The compiled core directly: the anchors are ours (C-contiguous float32), and the
        # public wrapper's checks cost ~5 us a call, a fifth of a zone's update.
        from streamer.kernels._polygon import _in_polygon

        raw = np.empty(len(tids), bool)
        _in_polygon(points, self.polygon, raw)
        entered = self._entered
        state = np.fromiter(map(entered.__contains__, tids), bool, len(tids))  # lookups in C
        differs = raw != state
        if self._pending:
            for t in compress(tids, ~differs):
                self._pending.pop(t, None)
        self._last_inside.update(zip(compress(tids, raw & state), repeat(now)))
        if not differs.any():
            return
        for i in np.nonzero(differs)[0].tolist():
            t = tids[i]
            since = self._pending.setdefault(t, now)
            if now - since < self.min_seconds:
                continue
            del self._pending[t]
            if raw[i]:
                self._enter(t, cids[i], since, now)
            else:
                self._exit(t, cids[i], now)

    # -- state changes -------------------------------------------------------------------

    def _take_events(self) -> list[AnalyticsEvent]:
        events, self._events = self._events, []
        return events

    def _enter(self, track_id: int, class_id: int, since: float, now: float) -> None:
        self._entered[track_id] = since
        self._entry_class[track_id] = class_id
        self._occupancy[class_id] += 1
        self._last_inside[track_id] = now
        self.entries[class_id] += 1
        self._events.append(AnalyticsEvent("enter", now, self.name, track_id, class_id, self.label(class_id)))
        if self.loiter_seconds is not None:
            heapq.heappush(self._loiter_due, (since + self.loiter_seconds, track_id, since))

    def _exit(self, track_id: int, class_id: int, now: float) -> None:
        entered = self._entered.pop(track_id)
        entry_class = self._entry_class.pop(track_id)
        self._occupancy[entry_class] -= 1
        if not self._occupancy[entry_class]:
            del self._occupancy[entry_class]
        dwell = self._last_inside.pop(track_id) - entered
        self.exits[class_id] += 1
        self._events.append(AnalyticsEvent("exit", now, self.name, track_id, class_id, self.label(class_id),
                                           dwell=dwell))

    def _loiter(self, now: float) -> None:
        heap = self._loiter_due
        while heap and heap[0][0] <= now:
            _, track_id, since = heapq.heappop(heap)
            if self._entered.get(track_id) == since:  # still the same stay
                class_id = self._class[track_id]
                self._events.append(AnalyticsEvent("loiter", now, self.name, track_id, class_id,
                                                   self.label(class_id), dwell=now - since))
        # Stays that ended before their due time leave stale entries; with a long
        # loiter_seconds and much traffic they would pile up, so rebuild past a bound.
        if len(heap) > 2 * len(self._entered) + 64:
            heap[:] = [item for item in heap if self._entered.get(item[1]) == item[2]]
            heapq.heapify(heap)

    def _forget(self, track_id: int, time: float) -> None:
        self._pending.pop(track_id, None)
        if track_id in self._entered:
            self._exit(track_id, self._class[track_id], time)

    def _clear_tracks(self) -> None:
        self._entered.clear()
        self._entry_class.clear()
        self._occupancy.clear()
        self._last_inside.clear()
        self._pending.clear()
        self._loiter_due.clear()
