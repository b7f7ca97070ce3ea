"""Drawing results onto frames.

Every annotator has one method, ``annotate(scene, frame) -> scene``, drawing in place on
``scene`` (H, W, 3) uint8 BGR from what the earlier stages put on the
:class:`~streamer.frames.Frame`. An :class:`Overlay` runs a list of them in order.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Sequence
from typing import Protocol

import cv2
import numpy as np

from streamer import kernels
from streamer.frames import Frame

# Distinct, saturated BGR colours (Tableau-like); class i gets PALETTE[i % len].
PALETTE: tuple[tuple[int, int, int], ...] = (
    (56, 56, 255), (151, 157, 255), (31, 112, 255), (29, 178, 255), (49, 210, 207),
    (10, 249, 72), (23, 204, 146), (134, 219, 61), (52, 147, 26), (187, 212, 0),
    (168, 153, 44), (255, 194, 0), (147, 69, 52), (255, 115, 100), (236, 24, 0),
    (255, 56, 132), (133, 0, 82), (255, 56, 203), (200, 149, 255), (199, 55, 255),
)
FONT = cv2.FONT_HERSHEY_SIMPLEX


def class_color(class_id: int) -> tuple[int, int, int]:
    """The palette colour of a class."""
    return PALETTE[int(class_id) % len(PALETTE)]


def _text_color(bg: tuple[int, int, int]) -> tuple[int, int, int]:
    # Rec. 601 luma: dark text on light boxes keeps labels readable.
    b, g, r = bg
    return (0, 0, 0) if 0.114 * b + 0.587 * g + 0.299 * r > 150 else (255, 255, 255)


def _scale_for(scene: np.ndarray) -> tuple[float, int]:
    """Font scale and line thickness that stay readable from 320p to 4K."""
    short = min(scene.shape[:2])
    scale = max(0.4, short / 900.0)
    return scale, max(1, round(short / 360.0))


def draw_label(
    scene: np.ndarray,
    text: str,
    origin: tuple[int, int],
    bg: tuple[int, int, int],
    *,
    scale: float,
    thickness: int,
) -> None:
    """Draw ``text`` on a filled box whose bottom-left corner is ``origin`` (kept inside the image)."""
    (tw, th), base = cv2.getTextSize(text, FONT, scale, thickness)
    h, w = scene.shape[:2]
    x = min(max(origin[0], 0), max(w - tw - 4, 0))
    y = origin[1]
    if y - th - base - 4 < 0:  # no room above the box: put the label inside it
        y = th + base + 4
    cv2.rectangle(scene, (x, y - th - base - 4), (x + tw + 4, y), bg, cv2.FILLED)
    cv2.putText(scene, text, (x + 2, y - base - 2), FONT, scale, _text_color(bg), thickness, cv2.LINE_AA)


class Annotator(Protocol):
    def annotate(self, scene: np.ndarray, frame: Frame) -> np.ndarray: ...


class EdgeAnnotator:
    """Blend the kernel stage's edge map onto the picture."""

    def __init__(self, *, threshold: int = 64, color: tuple[int, int, int] = (0, 255, 0), alpha: float = 0.6) -> None:
        self.threshold, self.color, self.alpha = threshold, color, alpha

    def annotate(self, scene: np.ndarray, frame: Frame) -> np.ndarray:
        if frame.edges is not None:
            kernels.edge_overlay(scene, frame.edges, threshold=self.threshold, color=self.color, alpha=self.alpha, out=scene)
        return scene


class BoxAnnotator:
    """Rectangles in the class colour."""

    def annotate(self, scene: np.ndarray, frame: Frame) -> np.ndarray:
        det = frame.detections
        if det is None or len(det) == 0:
            return scene
        _, thickness = _scale_for(scene)
        for (x1, y1, x2, y2), cid in zip(det.xyxy.round().astype(int), det.class_id):
            cv2.rectangle(scene, (x1, y1), (x2, y2), class_color(cid), thickness + 1, cv2.LINE_AA)
        return scene


class LabelAnnotator:
    """"label 0.87" on a filled background above each box."""

    def __init__(self, labels: Sequence[str]) -> None:
        self.labels = list(labels)

    def _name(self, class_id: int) -> str:
        return self.labels[class_id] if 0 <= class_id < len(self.labels) else f"class_{class_id}"

    def annotate(self, scene: np.ndarray, frame: Frame) -> np.ndarray:
        det = frame.detections
        if det is None or len(det) == 0:
            return scene
        scale, thickness = _scale_for(scene)
        ids = det.tracker_id if det.tracker_id is not None else np.full(len(det), -1)
        for (x1, y1, _, _), cid, score, tid in zip(det.xyxy.round().astype(int), det.class_id, det.confidence, ids):
            name = self._name(int(cid)) + (f" #{tid}" if tid > 0 else "")
            draw_label(scene, f"{name} {score:.2f}", (x1, y1), class_color(cid),
                       scale=scale, thickness=thickness)
        return scene


class TrailAnnotator:
    """A short line through each tracked object's last positions (bottom centre of its box).

    Memory is bounded: at most ``length`` points per track, and a track not seen for
    ``forget`` frames is dropped.
    """

    def __init__(self, *, length: int = 20, forget: int = 50) -> None:
        self.length = length
        self.forget = forget
        self._points: dict[int, deque[tuple[int, int]]] = {}
        self._seen: dict[int, int] = {}
        self._count = 0

    def annotate(self, scene: np.ndarray, frame: Frame) -> np.ndarray:
        self._count += 1
        det = frame.detections
        if det is not None and det.tracker_id is not None:
            for (x1, _, x2, y2), tid in zip(det.xyxy, det.tracker_id):
                if tid > 0:
                    self._points.setdefault(int(tid), deque(maxlen=self.length)).append(
                        (int(round((x1 + x2) / 2)), int(round(y2))))
                    self._seen[int(tid)] = self._count
        for tid in [t for t, last in self._seen.items() if self._count - last > self.forget]:
            del self._points[tid], self._seen[tid]
        _, thickness = _scale_for(scene)
        for tid, points in self._points.items():
            if len(points) > 1 and self._seen[tid] == self._count:
                cv2.polylines(scene, [np.array(points, np.int32)], False, class_color(tid), thickness,
                              cv2.LINE_AA)
        return scene


class HudAnnotator:
    """Frame index, output fps and capture-to-draw latency in the top-left corner."""

    def __init__(self, *, window: int = 30) -> None:
        self._stamps: deque[float] = deque(maxlen=window)

    def annotate(self, scene: np.ndarray, frame: Frame) -> np.ndarray:
        now = time.monotonic()
        self._stamps.append(now)
        fps = (len(self._stamps) - 1) / (self._stamps[-1] - self._stamps[0]) if len(self._stamps) > 1 and self._stamps[-1] > self._stamps[0] else 0.0
        latency_ms = 1000.0 * (now - frame.capture_time)
        t = f" t={frame.time:.2f}s" if frame.time is not None else ""
        text = f"#{frame.index}{t}  {fps:.1f} fps  {latency_ms:.0f} ms"
        scale, thickness = _scale_for(scene)
        (tw, th), base = cv2.getTextSize(text, FONT, scale, thickness)
        pad = 4
        h, w = scene.shape[:2]
        x2, y2 = min(tw + 2 * pad, w), min(th + base + 2 * pad, h)
        roi = scene[0:y2, 0:x2]
        # Darken rather than cover, so the picture under the HUD stays visible.
        np.multiply(roi, 0.4, out=roi, casting="unsafe")
        cv2.putText(scene, text, (pad, pad + th), FONT, scale, (255, 255, 255), thickness, cv2.LINE_AA)
        return scene


class Overlay:
    """Run annotators in order on the frame's own image."""

    def __init__(self, annotators: Sequence[Annotator]) -> None:
        self.annotators = list(annotators)

    def annotate(self, scene: np.ndarray, frame: Frame) -> np.ndarray:
        for a in self.annotators:
            scene = a.annotate(scene, frame)
        return scene
