"""Greedy non-maximum suppression in NumPy, class-agnostic and class-aware."""

from __future__ import annotations

import numpy as np


def _check(xyxy: np.ndarray, scores: np.ndarray, iou: float) -> None:
    if xyxy.ndim != 2 or xyxy.shape[1] != 4:
        raise ValueError(f"xyxy must have shape (N, 4), got {xyxy.shape}")
    if scores.shape != (xyxy.shape[0],):
        raise ValueError(f"scores must have shape ({xyxy.shape[0]},), got {scores.shape}")
    if not 0.0 <= iou <= 1.0:
        raise ValueError(f"iou must be in [0, 1], got {iou}")


def nms(xyxy: np.ndarray, scores: np.ndarray, iou: float) -> np.ndarray:
    """Keep the best box of every group of boxes that overlap more than ``iou``.

    Parameters
    ----------
    xyxy : numpy.ndarray, shape (N, 4)
        Boxes x1, y1, x2, y2 (continuous coordinates, area ``(x2-x1)*(y2-y1)``).
    scores : numpy.ndarray, shape (N,)
        Box scores; ties keep the lower index first.
    iou : float
        A box is dropped when its IoU with an already kept box is strictly greater.

    Returns
    -------
    numpy.ndarray, shape (K,), int64
        Indices of kept boxes, highest score first.

    Raises
    ------
    ValueError
        If shapes disagree or ``iou`` is outside [0, 1].
    """
    xyxy = np.asarray(xyxy, np.float64)
    scores = np.asarray(scores)
    _check(xyxy, scores, iou)
    order = np.argsort(-scores, kind="stable")
    x1, y1, x2, y2 = xyxy.T
    areas = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    keep = []
    # One vectorised IoU row per kept box: K iterations of O(N) instead of an N x N matrix.
    while order.size:
        best, rest = order[0], order[1:]
        keep.append(best)
        w = np.clip(np.minimum(x2[best], x2[rest]) - np.maximum(x1[best], x1[rest]), 0, None)
        h = np.clip(np.minimum(y2[best], y2[rest]) - np.maximum(y1[best], y1[rest]), 0, None)
        inter = w * h
        union = areas[best] + areas[rest] - inter
        # Two degenerate (zero-area) boxes have union 0: treat as no overlap.
        overlap = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
        order = rest[overlap <= iou]
    return np.asarray(keep, np.int64)


def batched_nms(
    xyxy: np.ndarray, scores: np.ndarray, class_id: np.ndarray, iou: float
) -> np.ndarray:
    """Class-aware NMS: boxes of different classes never suppress each other.

    Parameters
    ----------
    xyxy : numpy.ndarray, shape (N, 4)
        Boxes x1, y1, x2, y2.
    scores : numpy.ndarray, shape (N,)
        Box scores.
    class_id : numpy.ndarray, shape (N,), integer
        Class of each box.
    iou : float
        Suppression threshold, as in :func:`nms`.

    Returns
    -------
    numpy.ndarray, shape (K,), int64
        Indices of kept boxes, highest score first.

    Raises
    ------
    ValueError
        If shapes disagree or ``iou`` is outside [0, 1].

    Notes
    -----
    Uses the offset trick: every class is shifted by ``class * (span + 1)`` along both
    axes so that boxes of different classes cannot intersect, then one :func:`nms`
    runs.  Coordinates are float64 so large offsets do not cost box precision.
    """
    xyxy = np.asarray(xyxy, np.float64)
    class_id = np.asarray(class_id)
    if class_id.shape != (xyxy.shape[0],):
        raise ValueError(f"class_id must have shape ({xyxy.shape[0]},), got {class_id.shape}")
    if xyxy.shape[0] == 0:
        _check(xyxy, np.asarray(scores), iou)
        return np.empty(0, np.int64)
    span = float(xyxy.max() - xyxy.min()) + 1.0
    shifted = xyxy + (class_id.astype(np.float64) * span)[:, None]
    return nms(shifted, scores, iou)
