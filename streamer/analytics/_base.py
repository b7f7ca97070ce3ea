"""Anchor points of boxes and the per-track bookkeeping zones and lines share."""

from __future__ import annotations

from collections.abc import Collection
from itertools import repeat
from typing import get_args

import numpy as np

from streamer.analytics.config import Anchor
from streamer.detection import Detections

ANCHORS: tuple[str, ...] = get_args(Anchor)


def _weights(x1: float, x2: float, y1: float, y2: float) -> np.ndarray:
    """(4, 2) float32 with ``xyxy @ w`` = (x1 * x1_weight + x2 * x2_weight, y likewise)."""
    return np.array([[x1, 0], [0, y1], [x2, 0], [0, y2]], np.float32)


_WEIGHTS: dict[str, np.ndarray] = {
    "bottom_center": _weights(0.5, 0.5, 0.0, 1.0),
    "center": _weights(0.5, 0.5, 0.5, 0.5),
    "top_center": _weights(0.5, 0.5, 1.0, 0.0),
    "center_left": _weights(1.0, 0.0, 0.5, 0.5),
    "center_right": _weights(0.0, 1.0, 0.5, 0.5),
    "top_left": _weights(1.0, 0.0, 1.0, 0.0),
    "top_right": _weights(0.0, 1.0, 1.0, 0.0),
    "bottom_left": _weights(1.0, 0.0, 0.0, 1.0),
    "bottom_right": _weights(0.0, 1.0, 0.0, 1.0),
}


def anchor_points(xyxy: np.ndarray, anchor: str = "bottom_center") -> np.ndarray:
    """The anchor point of each box.

    Parameters
    ----------
    xyxy : numpy.ndarray, shape (N, 4), float32
        Boxes x1, y1, x2, y2 in pixels.
    anchor : str
        One of :data:`ANCHORS` (``bottom_center``: the middle of the bottom edge).

    Returns
    -------
    numpy.ndarray, shape (N, 2), float32
        x, y of each anchor.

    Raises
    ------
    ValueError
        If ``anchor`` is not one of :data:`ANCHORS`.
    """
    try:
        weights = _WEIGHTS[anchor]
    except KeyError:
        raise ValueError(f"unknown anchor {anchor!r} (one of {', '.join(ANCHORS)})") from None
    # Products by 0, 0.5 and 1 are exact, so e.g. x = (x1 + x2) / 2 to the bit.
    return xyxy @ weights


_NOTHING: tuple[np.ndarray, list[int], list[int]] = (np.empty((0, 2), np.float32), [], [])


class TrackedShape:
    """Per-track state kept for a bounded time: what zones and lines have in common.

    Subclasses keep their state in dicts keyed by track id and drop a track from them in
    :meth:`_forget`; this class decides when: a track not seen for ``forget_seconds`` of
    frame time. Sweeping every frame would cost a pass over all tracks; sweeping every
    quarter of ``forget_seconds`` keeps memory flat (tracks seen in the last 1.25 x
    ``forget_seconds``) at a cost spread thin.

    Parameters
    ----------
    name : str
        The zone's or the line's name, in events.
    classes : collection of int, optional
        Class ids that count; None for all.
    anchor : str
        Which point of a box counts (see :func:`anchor_points`).
    forget_seconds : float
        Seconds of frame time after which an unseen track is dropped (> 0).
    """

    def __init__(self, name: str, *, classes: Collection[int] | None, anchor: str, forget_seconds: float) -> None:
        if anchor not in _WEIGHTS:
            raise ValueError(f"unknown anchor {anchor!r} (one of {', '.join(ANCHORS)})")
        if not forget_seconds > 0:
            raise ValueError(f"forget_seconds must be > 0, got {forget_seconds}")
        self.name = name
        self.classes = None if classes is None else np.array(sorted(classes), np.int32)
        self.anchor = anchor
        self.forget_seconds = float(forget_seconds)
        self.labels: tuple[str, ...] | None = None
        self._last_seen: dict[int, float] = {}
        self._class: dict[int, int] = {}
        self._time: float | None = None
        self._next_sweep = -np.inf

    @property
    def tracked(self) -> int:
        """Number of tracks whose state is kept now."""
        return len(self._last_seen)

    def label(self, class_id: int) -> str | None:
        """The name of a class, when the last detections carried labels."""
        labels = self.labels
        return labels[class_id] if labels is not None and 0 <= class_id < len(labels) else None

    def _select(self, detections: Detections, time: float) -> tuple[np.ndarray, list[int], list[int]] | None:
        """Advance the clock, then return this frame's tracked rows of the wanted classes.

        Returns
        -------
        tuple or None
            ``(points (K, 2) float32, track ids, class ids)`` of the rows with a
            tracker id >= 0 (negative ids are tracks the tracker has not confirmed,
            shared by several objects) and a counted class (K may be 0, and is for a
            frame without detections); None when the detections carry no tracker ids.
        """
        time = float(time)
        if self._time is not None and time < self._time:
            # Time went backwards: a new timeline (another file, a restarted stream).
            # Its track ids mean nothing here, so start afresh (the counts stay).
            self._reset()
        self._time = time
        if detections.labels is not None:
            self.labels = detections.labels
        if time >= self._next_sweep:
            self._sweep(time)
        if len(detections) == 0:
            return _NOTHING
        if detections.tracker_id is None:
            return None
        keep = detections.tracker_id >= 0
        if self.classes is not None:
            keep &= np.isin(detections.class_id, self.classes)
        if keep.all():
            xyxy, tids, cids = detections.xyxy, detections.tracker_id.tolist(), detections.class_id.tolist()
        else:
            xyxy, tids, cids = detections.xyxy[keep], detections.tracker_id[keep].tolist(), detections.class_id[keep].tolist()
        self._last_seen.update(zip(tids, repeat(time)))
        self._class.update(zip(tids, cids))
        return anchor_points(xyxy, self.anchor), tids, cids

    def _sweep(self, time: float) -> None:
        limit = time - self.forget_seconds
        for tid in [t for t, seen in self._last_seen.items() if seen < limit]:
            self._forget(tid, time)
            del self._last_seen[tid]
            del self._class[tid]
        self._next_sweep = time + self.forget_seconds / 4

    def _forget(self, track_id: int, time: float) -> None:
        """Drop a track's own state (subclasses); ``_last_seen`` and ``_class`` go after."""

    def _clear_tracks(self) -> None:
        """Drop every track's own state without events (subclasses)."""

    def _reset(self) -> None:
        self._clear_tracks()
        self._last_seen.clear()
        self._class.clear()
        self._next_sweep = -np.inf
