"""Connected components of a mask (8-connected) as bounding boxes, by run-length union-find."""

from __future__ import annotations

import numpy as np
from numba import njit

from ._validate import require_image


@njit(cache=True, nogil=True, inline="always")
def _find(parent: np.ndarray, i: int) -> int:
    """Root of run ``i``, halving the path on the way."""
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i


@njit(cache=True, nogil=True)
def _label_runs(mask: np.ndarray, runs: np.ndarray, parent: np.ndarray) -> int:
    """Find the runs of non-zero pixels and union 8-connected ones; return the count.

    ``runs`` (N, 3) int32 gets (row, first column, last column + 1) in raster order,
    ``parent`` (N,) the union-find forest over them (roots are the earliest run of
    each component).  Zero stretches are skipped eight bytes at a time.
    """
    height, width = mask.shape
    count = 0
    prev_first = 0
    prev_stop = 0
    words = width // 8
    for y in range(height):
        row = mask[y]
        packed = row[: words * 8].view(np.uint64)
        first = count
        x = 0
        while x < width:
            if x % 8 == 0 and x // 8 < words and packed[x // 8] == 0:
                x += 8
                continue
            if row[x] == 0:
                x += 1
                continue
            start = x
            while x < width and row[x] != 0:
                x += 1
            runs[count, 0] = y
            runs[count, 1] = start
            runs[count, 2] = x
            parent[count] = count
            # 8-connectivity: runs of the row above overlapping [start - 1, x + 1).
            for j in range(prev_first, prev_stop):
                if runs[j, 2] < start:
                    continue
                if runs[j, 1] > x:
                    break
                a = _find(parent, count)
                b = _find(parent, j)
                if a < b:
                    parent[b] = a
                elif b < a:
                    parent[a] = b
            count += 1
        prev_first = first
        prev_stop = count
    return count


@njit(cache=True, nogil=True)
def _component_boxes(
    runs: np.ndarray, parent: np.ndarray, count: int, min_area: int, boxes: np.ndarray,
    areas: np.ndarray, index: np.ndarray,
) -> tuple[int, int]:
    """Bounding box (x1, y1, x2, y2), x2/y2 exclusive, and pixel count per component.

    Components are numbered in raster order of their first pixel; those smaller than
    ``min_area`` are dropped.  Returns the number kept (at the front of ``boxes``) and
    the pixel count of all components.
    """
    components = 0
    total = 0
    for i in range(count):
        root = _find(parent, i)
        if root == i:
            index[i] = components
            boxes[components, 0] = runs[i, 1]
            boxes[components, 1] = runs[i, 0]
            boxes[components, 2] = runs[i, 2]
            boxes[components, 3] = runs[i, 0] + 1
            areas[components] = 0
            components += 1
        c = index[root]
        boxes[c, 0] = min(boxes[c, 0], runs[i, 1])
        boxes[c, 2] = max(boxes[c, 2], runs[i, 2])
        boxes[c, 3] = runs[i, 0] + 1
        areas[c] += runs[i, 2] - runs[i, 1]
        total += runs[i, 2] - runs[i, 1]
    kept = 0
    for c in range(components):
        if areas[c] >= min_area:
            boxes[kept] = boxes[c]
            areas[kept] = areas[c]
            kept += 1
    return kept, total


class ComponentBoxes:
    """Reusable working memory for :func:`connected_boxes` (one per stream)."""

    def __init__(self) -> None:
        self._shape: tuple[int, int] | None = None
        self.runs = np.empty((0, 3), np.int32)
        self.parent = np.empty(0, np.int64)
        self.index = np.empty(0, np.int64)
        self.boxes = np.empty((0, 4), np.int32)
        self.areas = np.empty(0, np.int64)

    def ensure(self, height: int, width: int) -> None:
        """Size the buffers for the worst case of an (H, W) mask (every other pixel set)."""
        if self._shape == (height, width):
            return
        capacity = height * ((width + 1) // 2)
        self.runs = np.empty((capacity, 3), np.int32)
        self.parent = np.empty(capacity, np.int64)
        self.index = np.empty(capacity, np.int64)
        self.boxes = np.empty((capacity, 4), np.int32)
        self.areas = np.empty(capacity, np.int64)
        self._shape = (height, width)


def connected_boxes(
    mask: np.ndarray, *, min_area: int = 1, work: ComponentBoxes | None = None
) -> tuple[np.ndarray, np.ndarray, int]:
    """Bounding boxes of the 8-connected components of the non-zero pixels of ``mask``.

    The same components and statistics as ``cv2.connectedComponentsWithStats(mask,
    connectivity=8)``: box ``(x1, y1, x2, y2) = (left, top, left + width, top +
    height)`` in pixel-edge coordinates (x2, y2 exclusive) and the pixel count.

    Parameters
    ----------
    mask : numpy.ndarray, shape (H, W), uint8, C-contiguous
        Any non-zero value is foreground.
    min_area : int, keyword-only
        Components with fewer pixels are dropped (>= 1).
    work : ComponentBoxes, optional, keyword-only
        Buffers kept between calls; None allocates them for this call.

    Returns
    -------
    boxes : numpy.ndarray, shape (N, 4), int32
        Largest component first (ties: raster order of the first pixel).  A new array.
    areas : numpy.ndarray, shape (N,), int64
        Pixel count of each box's component.
    total : int
        Non-zero pixels of the whole mask (small components included).

    Raises
    ------
    TypeError, ValueError
        On a wrong dtype, shape or layout, or ``min_area < 1``.

    Examples
    --------
    >>> import numpy as np
    >>> from streamer.kernels import connected_boxes
    >>> mask = np.zeros((6, 8), np.uint8); mask[1:3, 1:4] = 255; mask[4:6, 6:8] = 255
    >>> boxes, areas, total = connected_boxes(mask)   # boxes as [x1, y1, x2, y2)
    >>> boxes.tolist(), areas.tolist(), total
    ([[1, 1, 4, 3], [6, 4, 8, 6]], [6, 4], 10)
    """
    mask = require_image("mask", mask, channels=(None,))
    if isinstance(min_area, bool) or not isinstance(min_area, (int, np.integer)) or min_area < 1:
        raise ValueError(f"min_area must be an int >= 1, got {min_area!r}")
    work = work if work is not None else ComponentBoxes()
    height, width = mask.shape
    work.ensure(height, width)
    count = _label_runs(mask, work.runs, work.parent)
    kept, total = _component_boxes(work.runs, work.parent, count, int(min_area), work.boxes,
                                   work.areas, work.index)
    order = np.argsort(-work.areas[:kept], kind="stable")
    return work.boxes[:kept][order], work.areas[:kept][order], int(total)
