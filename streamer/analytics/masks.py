"""Masks: polygons where detections and motion are ignored (trees, a road outside the property)."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from streamer.analytics._base import ANCHORS, anchor_points
from streamer.analytics.config import FrameSize, MaskConfig
from streamer.detection import Detections


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
        # The kernels load Numba (~0.5 s of CPU with SciPy): only where a mask exists.
        from streamer.kernels._polygon import points_in_polygon

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
        from streamer.kernels._polygon import points_in_polygon

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


class MotionMasks:
    """The masks that apply to motion, as one raster for the kernel stage's motion step.

    Called with the source picture's (width, height) and the (H, W) of the picture the
    motion step sees: each polygon is laid out for the source (pixels or fractions), then
    scaled to the motion picture (a ``resize`` step may come before ``motion``). The raster
    is cached per pair of sizes; used from the kernel stage's thread only.

    Parameters
    ----------
    configs : sequence of MaskConfig
        A camera's ``masks``; those with ``motion: false`` are left out.

    Examples
    --------
    >>> from streamer.analytics import MaskConfig
    >>> masks = MotionMasks([MaskConfig(polygon=[[0, 0], [0.5, 0], [0.5, 1], [0, 1]], units="fraction")])
    >>> raster = masks((640, 360), (180, 320))   # the motion step runs on a half-size picture
    >>> raster.shape, bool(raster[90, 10]), bool(raster[90, 300])
    ((180, 320), True, False)
    """

    def __init__(self, configs: Sequence[MaskConfig]) -> None:
        self.configs = [c for c in configs if c.motion]
        self._key: tuple[tuple[int, int], tuple[int, int]] | None = None
        self._raster: np.ndarray | None = None

    def __bool__(self) -> bool:
        return bool(self.configs)

    def __call__(self, source_size: FrameSize, shape: tuple[int, int]) -> np.ndarray | None:
        """(H, W) bool, True where motion is ignored; None without motion masks."""
        if not self.configs:
            return None
        key = ((int(source_size[0]), int(source_size[1])), (int(shape[0]), int(shape[1])))
        if key != self._key or self._raster is None:
            (width, height), (rows, cols) = key
            scale = np.array([cols / width, rows / height])
            raster = np.zeros((rows, cols), np.uint8)
            for config in self.configs:  # one call each: overlapping polygons stay filled
                polygon = config.pixels((width, height)) * scale
                cv2.fillPoly(raster, [np.round(polygon).astype(np.int32)], 1)
            self._raster, self._key = raster.view(bool), key
        return self._raster
