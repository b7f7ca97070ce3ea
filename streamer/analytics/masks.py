"""Masks: polygons where detections and motion are ignored (trees, a road outside the property)."""

from __future__ import annotations

import cv2
import numpy as np

from streamer.analytics._base import ANCHORS, anchor_points
from streamer.analytics.config import FrameSize, MaskConfig
from streamer.detection import Detections
from streamer.kernels._polygon import points_in_polygon


class Mask:
    """One polygon in which detections are dropped and motion is cleared.

    Parameters
    ----------
    polygon : array_like, shape (M, 2)
        Vertices in pixels, M >= 3.
    anchor : str, keyword-only
        The point of a box that decides whether a detection is inside (default
        ``bottom_center``, as Frigate's object masks do).
    detections : bool, keyword-only
        :meth:`apply` drops detections inside (default True; False passes them through).
    motion : bool, keyword-only
        :meth:`clear_motion` clears the motion mask inside (default True).
    name : str, optional, keyword-only
        For messages.
    """

    def __init__(self, polygon: np.ndarray, *, anchor: str = "bottom_center", detections: bool = True,
                 motion: bool = True, name: str | None = None) -> None:
        if anchor not in ANCHORS:
            raise ValueError(f"unknown anchor {anchor!r} (one of {', '.join(ANCHORS)})")
        self.polygon = np.ascontiguousarray(polygon, np.float64)
        points_in_polygon(np.empty((0, 2), np.float32), self.polygon)  # checks the polygon
        self.anchor, self.detections, self.motion, self.name = anchor, detections, motion, name
        self._raster: np.ndarray | None = None

    @classmethod
    def from_config(cls, config: MaskConfig, frame_size: FrameSize) -> Mask:
        """Build from a :class:`MaskConfig` for a ``(width, height)`` picture."""
        return cls(config.pixels(frame_size), anchor=config.anchor, detections=config.detections,
                   motion=config.motion, name=config.name)

    def apply(self, detections: Detections) -> Detections:
        """Drop the detections whose anchor is inside the polygon.

        Parameters
        ----------
        detections : Detections
            Any frame's detections (tracker ids are kept on the rows that stay).

        Returns
        -------
        Detections
            The rows outside, in order; ``detections`` itself when none is inside or the
            mask does not apply to detections.
        """
        if not self.detections or len(detections) == 0:
            return detections
        inside = points_in_polygon(anchor_points(detections.xyxy, self.anchor), self.polygon)
        return detections[~inside] if inside.any() else detections

    def raster(self, shape: tuple[int, int]) -> np.ndarray:
        """The polygon as pixels: (H, W) bool, True inside (cached per shape).

        Filled by ``cv2.fillPoly`` at pixel centres, so it may differ from
        :func:`~streamer.kernels.points_in_polygon` by a pixel along the border.
        """
        if self._raster is None or self._raster.shape != shape:
            image = np.zeros(shape, np.uint8)
            cv2.fillPoly(image, [np.round(self.polygon).astype(np.int32)], 1)
            self._raster = image.view(bool)
        return self._raster

    def clear_motion(self, motion_mask: np.ndarray) -> np.ndarray:
        """Zero a motion mask inside the polygon, in place.

        Parameters
        ----------
        motion_mask : numpy.ndarray, shape (H, W), uint8
            E.g. :attr:`streamer.kernels.MotionResult.mask` (255 where it moves).

        Returns
        -------
        numpy.ndarray, shape (H, W), uint8
            ``motion_mask``.
        """
        if self.motion:
            motion_mask[self.raster(motion_mask.shape[:2])] = 0
        return motion_mask
