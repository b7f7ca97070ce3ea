"""Compile (or load from Numba's cache) every kernel before the first frame arrives."""

from __future__ import annotations

import time
from collections.abc import Callable

import numba
import numpy as np

# Each family imports its modules when it runs, so that warming a few families (what
# a stream's chain uses) imports only those.


def _preprocess(frame: np.ndarray, gray: np.ndarray) -> None:
    from ._preprocess import preprocess

    preprocess(frame, np.empty((1, 3, 4, 4), np.float32), resize="letterbox")


def _gaussian(frame: np.ndarray, gray: np.ndarray) -> None:
    from ._gaussian import gaussian_blur

    gaussian_blur(frame), gaussian_blur(gray), gaussian_blur(frame, ksize=7)


def _median(frame: np.ndarray, gray: np.ndarray) -> None:
    from ._median import median_blur

    median_blur(frame), median_blur(gray)


def _bilateral(frame: np.ndarray, gray: np.ndarray) -> None:
    from ._bilateral import bilateral_filter

    bilateral_filter(frame), bilateral_filter(gray)


def _temporal(frame: np.ndarray, gray: np.ndarray) -> None:
    from ._temporal import TemporalDenoiser

    denoiser = TemporalDenoiser(spatial=2)
    denoiser.apply(frame)
    denoiser.apply(frame)
    TemporalDenoiser().apply(gray)


def _color(frame: np.ndarray, gray: np.ndarray) -> None:
    from ._color import color_adjust

    color_adjust(frame, gamma=1.2, saturation=1.2)
    color_adjust(frame, white_balance="whitepatch")


def _clahe(frame: np.ndarray, gray: np.ndarray) -> None:
    from ._clahe import Clahe

    Clahe().apply(frame), Clahe().apply(gray)


def _convert(frame: np.ndarray, gray: np.ndarray) -> None:
    from ._convert import bgr_to_gray, bgr_to_i420, bgr_to_yuv, i420_to_bgr, yuv_to_bgr

    bgr_to_gray(frame), yuv_to_bgr(bgr_to_yuv(frame)), i420_to_bgr(bgr_to_i420(frame))


def _edges(frame: np.ndarray, gray: np.ndarray) -> None:
    from ._canny import canny_edges
    from ._edges import edge_overlay, scharr_edges, sobel_edges

    edge_overlay(frame, sobel_edges(frame)), sobel_edges(gray), scharr_edges(frame)
    canny_edges(frame), canny_edges(gray)


def _motion(frame: np.ndarray, gray: np.ndarray) -> None:
    from ._motion import MotionDetector

    # A small change: a frame unlike the last is a scene cut, which resets the model and runs
    # none of the motion kernels (a flipped frame did: they compiled at a camera's first frames).
    moved = frame.copy()
    moved[2:5, 2:4] = 255 - moved[2:5, 2:4]
    for method in ("background", "diff"):
        detector = MotionDetector(method, min_area=1)
        detector.update(frame)
        detector.update(moved)
        detector.update(frame, exclude=np.ones(frame.shape[:2], bool))


def _resize(frame: np.ndarray, gray: np.ndarray) -> None:
    from ._resize import resize

    resize(frame, (4, 3)), resize(gray, (4, 3)), resize(frame, (3, 4))  # bilinear, halving
    resize(frame, (3, 2), method="area"), resize(frame, (5, 3), method="area")


def _fused(frame: np.ndarray, gray: np.ndarray) -> None:
    from ._color import balance_gains, color_lut
    from ._fused import fused_filter

    fused_filter(frame, blur=3, lut=color_lut(), saturation=1.1, edges="sobel")
    balance_gains(frame, "grayworld"), balance_gains(frame, "whitepatch")  # a chain's white balance


_FAMILY_CALLS: dict[str, Callable[[np.ndarray, np.ndarray], None]] = {
    "preprocess": _preprocess,
    "gaussian": _gaussian,
    "median": _median,
    "bilateral": _bilateral,
    "temporal": _temporal,
    "color": _color,
    "clahe": _clahe,
    "convert": _convert,
    "edges": _edges,
    "motion": _motion,
    "resize": _resize,
    "fused": _fused,
}


def _calls(frame: np.ndarray, gray: np.ndarray) -> dict[str, Callable[[], object]]:
    """One call per kernel family, on tiny inputs of the layouts the pipeline uses."""
    return {name: (lambda call=call: call(frame, gray)) for name, call in _FAMILY_CALLS.items()}


FAMILIES: tuple[str, ...] = tuple(_FAMILY_CALLS)


def warmup(
    families: tuple[str, ...] | list[str] | None = None, *, threads: int = 1
) -> float:
    """Compile or cache-load kernels for the dtypes and layouts the pipeline uses.

    Runs each chosen kernel family on tiny inputs (uint8 BGR and gray frames, float32
    model input) with one Numba thread, so the serial band functions are ready, and,
    when ``threads > 1`` (and ``NUMBA_NUM_THREADS > 1``), once more with that many
    threads, so the ``prange`` drivers are too.  The caller's thread count is
    restored afterwards.

    Parameters
    ----------
    families : sequence of str, optional
        Names from :data:`FAMILIES` (e.g. those a stream's chain uses); None warms
        every family.
    threads : int, keyword-only
        The most Numba threads the caller will run kernels with (``numba.
        set_num_threads``).  The pipeline's stages run kernels on one thread each,
        the default; a kernel first called with more threads than were warmed loads
        its parallel driver then (tens of ms).

    Returns
    -------
    float
        Seconds it took (well under a second from Numba's on-disk cache, a few
        minutes for a first compile).

    Raises
    ------
    ValueError
        On an unknown family name.

    Examples
    --------
    >>> from streamer.kernels import warmup
    >>> seconds = warmup(["color"])   # compile (or load from Numba's cache) before the first frame
    >>> seconds >= 0
    True
    """
    start = time.perf_counter()
    frame = np.arange(8 * 6 * 3, dtype=np.uint8).reshape(8, 6, 3)
    gray = np.ascontiguousarray(frame[:, :, 1])
    calls = _calls(frame, gray)
    chosen = FAMILIES if families is None else tuple(families)
    unknown = sorted(set(chosen) - set(calls))
    if unknown:
        raise ValueError(f"unknown kernel families {unknown} (known: {', '.join(FAMILIES)})")
    previous = numba.get_num_threads()
    try:
        for count in sorted({1, max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS))}):
            numba.set_num_threads(count)
            for name in chosen:
                calls[name]()
    finally:
        numba.set_num_threads(previous)
    return time.perf_counter() - start
