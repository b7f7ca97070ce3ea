"""Annotators for zones and lines, one method each like :mod:`streamer.overlay`'s.

Both read the frame's :class:`~streamer.analytics.AnalyticsResult` from
``frame.analytics`` (the field the analytics stage fills) and draw nothing on a frame
without one, so they can sit in an :class:`~streamer.overlay.Overlay` whatever ran.
"""

from __future__ import annotations

import cv2
import numpy as np

from streamer.analytics.camera import AnalyticsResult, LineCounts, ZoneCounts
from streamer.frames import Frame
from streamer.overlay import _scale_for, draw_label

ZONE_COLOR = (0, 200, 255)   # BGR amber: apart from the class palette's saturated boxes
LINE_COLOR = (255, 255, 255)


def _result(frame: Frame) -> AnalyticsResult | None:
    return getattr(frame, "analytics", None)


def _summary(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {label}" for label, n in counts.items()) or "0"


class ZoneAnnotator:
    """Each zone: a translucent fill, its outline and ``"name: 2 person, 1 car"``.

    The fill blends only the zone's bounding box (a copy with the polygon filled, then
    one ``cv2.addWeighted``): outside the polygon the copy equals the picture, and
    ``a x + (1 - a) x`` rounds back to ``x``, so nothing else changes.

    Parameters
    ----------
    color : tuple of int, keyword-only
        BGR of the fill, outline and label.
    alpha : float, keyword-only
        Opacity of the fill, 0 (none: the cheapest) to 1.
    """

    def __init__(self, *, color: tuple[int, int, int] = ZONE_COLOR, alpha: float = 0.2) -> None:
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {alpha}")
        self.color, self.alpha = color, alpha

    def annotate(self, scene: np.ndarray, frame: Frame) -> np.ndarray:
        result = _result(frame)
        if result is None:
            return scene
        scale, thickness = _scale_for(scene)
        for zone in result.zones:
            points = np.round(zone.polygon).astype(np.int32)
            if self.alpha > 0:
                self._fill(scene, points)
            cv2.polylines(scene, [points], True, self.color, thickness, cv2.LINE_AA)
            top = points[np.argmin(points[:, 1])]
            draw_label(scene, f"{zone.name}: {_summary(zone.occupancy)}", (int(top[0]), int(top[1])),
                       self.color, scale=scale, thickness=thickness)
        return scene

    def _fill(self, scene: np.ndarray, points: np.ndarray) -> None:
        h, w = scene.shape[:2]
        x0, y0 = np.maximum(points.min(axis=0), 0)
        x1, y1 = np.minimum(points.max(axis=0) + 1, (w, h))
        if x1 <= x0 or y1 <= y0:
            return
        roi = scene[y0:y1, x0:x1]
        tinted = roi.copy()
        cv2.fillPoly(tinted, [points - (x0, y0)], self.color)
        cv2.addWeighted(tinted, self.alpha, roi, 1.0 - self.alpha, 0.0, dst=roi)


class LineAnnotator:
    """Each line: the segment, an arrow into each side and ``"in 12"`` / ``"out 3"`` at its tip.

    Parameters
    ----------
    color : tuple of int, keyword-only
        BGR of the segment and arrows.
    """

    def __init__(self, *, color: tuple[int, int, int] = LINE_COLOR) -> None:
        self.color = color

    def annotate(self, scene: np.ndarray, frame: Frame) -> np.ndarray:
        result = _result(frame)
        if result is None:
            return scene
        scale, thickness = _scale_for(scene)
        arrow = 12 * scale * 3  # pixels: about three letters long at any resolution
        for line in result.lines:
            self._draw(scene, line, arrow, scale, thickness)
        return scene

    def _draw(self, scene: np.ndarray, line: LineCounts, arrow: float, scale: float, thickness: int) -> None:
        start, end = np.array(line.start), np.array(line.end)
        cv2.line(scene, tuple(np.round(start).astype(int)), tuple(np.round(end).astype(int)),
                 self.color, thickness + 1, cv2.LINE_AA)
        d = end - start
        normal = np.array([-d[1], d[0]]) / np.hypot(*d)  # points to the right-hand side
        mid = (start + end) / 2
        for sign in (1, -1):
            tip = np.round(mid + sign * arrow * normal).astype(int)
            cv2.arrowedLine(scene, tuple(np.round(mid).astype(int)), tuple(tip), self.color, thickness,
                            cv2.LINE_AA, tipLength=0.3)
        # One label for both directions: two labels at the arrow tips overlapped on small pictures.
        totals = ", ".join(f"{name} {sum(line.counts[name].values())}" for name in (line.right, line.left))
        draw_label(scene, f"{line.name}: {totals}", (int(round(mid[0])), int(round(mid[1]))), self.color,
                   scale=scale, thickness=thickness)
