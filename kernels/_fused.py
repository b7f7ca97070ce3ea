"""The fused per-pixel path: blur -> colour LUT -> saturation -> gray -> gradient edges,
chosen at run time, in one pass over the frame."""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from ._borders import copy_row, reflect101
from ._color import lut_row
from ._edges import gradient_row, gray_row
from ._gaussian import binomial_row
from ._threading import run_bands, thread_count
from ._validate import require_choice, require_image, require_out, require_scratch

_EDGES = ("sobel", "scharr")


@njit(cache=True, nogil=True, inline="always")
def _processed_row(
    src: np.ndarray, y: int, radius: int, padded: np.ndarray, blurred: np.ndarray,
    lut: np.ndarray, use_lut: bool, saturation: float, out: np.ndarray,
) -> None:
    """Row ``y`` after the blur (radius 0, 1 or 2) and the LUT + saturation, into ``out``."""
    if radius > 0:
        binomial_row(src, y, 3, radius, padded, blurred)
        current = blurred
    else:
        current = src[y]
    if use_lut:
        lut_row(current, lut, saturation, out)
    else:
        copy_row(out, current)


@njit(cache=True, nogil=True)
def _fused_band(
    band: int, bands: int, scratch: np.ndarray, src: np.ndarray, dst: np.ndarray,
    edges: np.ndarray, radius: int, lut: np.ndarray, use_lut: bool, saturation: float,
    edge_mode: int,
) -> None:
    """Rows of band ``band``; ``src``/``dst`` (H, W * 3) uint8, ``edges`` (H, W) uint8.

    Each processed row is written once to ``dst`` and, when ``edge_mode`` is 1
    (Sobel) or 2 (Scharr), turned into a gray row in a ring of three, from which the
    edge row above it is computed: the frame is read once and written once.  A band
    also processes the row above and below it (into a work row), as their edges need
    them, so bands share nothing writable.
    """
    height, row_len = src.shape
    width = row_len // 3
    buffer = scratch[band]
    pad_len = row_len + 2 * radius * 3
    padded = buffer[: (pad_len + 1) // 2].view(np.uint16)[:pad_len]
    at = (pad_len + 1) // 2
    work = buffer[at : at + (2 * row_len + 3) // 4].view(np.uint8)
    blurred = work[:row_len]
    spare = work[row_len : 2 * row_len]
    at += (2 * row_len + 3) // 4
    ring = buffer[at : at + (3 * (width + 2) + 1) // 2].view(np.int16)[: 3 * (width + 2)]
    ring = ring.reshape(3, width + 2)
    row_start = band * height // bands
    row_stop = (band + 1) * height // bands
    if row_start == row_stop:
        return
    halo = 1 if edge_mode > 0 else 0
    for r in range(row_start - halo, row_stop + halo):
        y = reflect101(r, height)
        target = dst[y] if row_start <= r < row_stop else spare
        _processed_row(src, y, radius, padded, blurred, lut, use_lut, saturation, target)
        if edge_mode > 0:
            # Slot of logical row r is (r + 1) % 3.
            gray_row(target, 3, ring[(r + 1) % 3])
            if r >= row_start + 1:
                gradient_row(ring[(r - 1) % 3], ring[r % 3], ring[(r + 1) % 3],
                             edges[r - 1], edge_mode == 2)


@njit(cache=True, nogil=True, parallel=True)
def _fused_parallel(
    bands: int, scratch: np.ndarray, src: np.ndarray, dst: np.ndarray, edges: np.ndarray,
    radius: int, lut: np.ndarray, use_lut: bool, saturation: float, edge_mode: int,
) -> None:
    for index in prange(bands):
        band = np.int64(index)  # prange's index is uint64: see _threading
        _fused_band(band, bands, scratch, src, dst, edges, radius, lut, use_lut, saturation,
                    edge_mode)


def fused_scratch_length(width: int, blur: int = 5) -> int:
    """Float32 elements per band that :func:`fused_filter` needs."""
    row_len = 3 * width
    pad_len = row_len + 2 * (blur // 2) * 3
    return (pad_len + 1) // 2 + (2 * row_len + 3) // 4 + (3 * (width + 2) + 1) // 2


def fused_filter(
    image: np.ndarray,
    *,
    blur: int = 0,
    lut: np.ndarray | None = None,
    saturation: float = 1.0,
    edges: str | None = None,
    out: np.ndarray | None = None,
    edges_out: np.ndarray | None = None,
    scratch: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Run a chain of per-pixel steps, chosen at run time, in one pass over a BGR frame.

    In order, each optional: a binomial blur (``blur`` 3 or 5: exactly
    :func:`gaussian_blur` with that ksize and sigma 0), a per-channel lookup table
    (from :func:`color_lut`: white balance, contrast, brightness, gamma), saturation
    (as in :func:`color_adjust`), and an edge map of the result (exactly
    :func:`sobel_edges` or :func:`scharr_edges` of the returned picture).  The output
    equals running those kernels one after the other, but the frame is read once and
    written once, and the intermediate rows stay in the cache.

    Parameters
    ----------
    image : numpy.ndarray, shape (H, W, 3), uint8, C-contiguous
        BGR frame.
    blur : {0, 3, 5}, keyword-only
        Blur kernel size (0: none).
    lut : numpy.ndarray, shape (3, 256), uint8, optional, keyword-only
        Per-channel mapping (B, G, R rows); None skips it (and saturation).
    saturation : float, keyword-only
        >= 0, applied after ``lut`` (needs one).
    edges : {"sobel", "scharr"} or None, keyword-only
        Edge map to compute from the processed picture.
    out : numpy.ndarray, shape (H, W, 3), uint8, optional, keyword-only
        Processed picture.  It may be ``image`` only without blur and edges (the
        other steps are per pixel).
    edges_out : numpy.ndarray, shape (H, W), uint8, optional, keyword-only
        Edge map destination.
    scratch : numpy.ndarray, shape (T, N), float32, optional, keyword-only
        T >= the caller's Numba thread count, N >= :func:`fused_scratch_length`.

    Returns
    -------
    picture : numpy.ndarray, shape (H, W, 3), uint8
        ``out`` if given.
    edge_map : numpy.ndarray, shape (H, W), uint8, or None
        ``edges_out`` if given; None without ``edges``.

    Raises
    ------
    TypeError, ValueError
        On a wrong dtype, shape, layout or option, or a forbidden overlap.

    Examples
    --------
    >>> import numpy as np
    >>> from streamer.kernels import color_adjust, color_lut, fused_filter
    >>> image = np.random.default_rng(0).integers(0, 256, (6, 8, 3), dtype=np.uint8)
    >>> picture, edges = fused_filter(image, lut=color_lut(gamma=1.5), edges="sobel")
    >>> bool((picture == color_adjust(image, white_balance=False, gamma=1.5)).all()), edges.shape
    (True, (6, 8))
    """
    image = require_image("image", image, channels=(3,))
    if blur not in (0, 3, 5) or isinstance(blur, bool):
        raise ValueError(f"blur must be 0, 3 or 5, got {blur!r}")
    if edges is not None:
        edges = require_choice("edges", edges, _EDGES)
    if not (math.isfinite(saturation) and saturation >= 0):
        raise ValueError(f"saturation must be finite and >= 0, got {saturation!r}")
    if lut is None:
        if saturation != 1.0:
            raise ValueError("saturation needs a lut (use color_lut() for the identity)")
        table = np.empty(768, np.uint8)
    else:
        table = require_out(lut, (3, 256), np.uint8, name="lut").reshape(768)
    height, width = image.shape[:2]
    out = require_out(out, image.shape, np.uint8)
    if (blur or edges) and np.may_share_memory(out, image):
        raise ValueError("out must not overlap image when blurring or finding edges")
    edge_map = None
    if edges is not None:
        edge_map = require_out(edges_out, (height, width), np.uint8, name="edges_out")
        if np.may_share_memory(edge_map, image) or np.may_share_memory(edge_map, out):
            raise ValueError("edges_out must not overlap image or out")
    bands = thread_count(height)
    rows = require_scratch(scratch, bands, fused_scratch_length(width, blur))
    run_bands(
        _fused_band, _fused_parallel, bands,
        rows, image.reshape(height, 3 * width), out.reshape(height, 3 * width),
        edge_map if edge_map is not None else np.empty((height, 0), np.uint8),
        blur // 2, table, lut is not None, float(saturation),
        0 if edges is None else (1 if edges == "sobel" else 2),
    )
    return out, edge_map
