"""Compile (or load from Numba's cache) every kernel before the first frame arrives."""

from __future__ import annotations

import time

import numba
import numpy as np

from ._color import color_adjust
from ._edges import edge_overlay, sobel_edges
from ._gaussian import gaussian_blur
from ._preprocess import preprocess


def warmup() -> float:
    """Compile or cache-load every kernel for the dtypes and layouts the pipeline uses.

    Runs each public kernel on tiny inputs (uint8 BGR and gray frames, float32 model
    input), once with one Numba thread and once with ``NUMBA_NUM_THREADS``, so both
    the serial band functions and the ``prange`` drivers are ready.  The caller's
    thread count is restored afterwards.

    Returns
    -------
    float
        Seconds it took (about 0.5-1 s from Numba's on-disk cache, tens of seconds
        for a first compile).
    """
    start = time.perf_counter()
    frame = np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3)
    gray = np.ascontiguousarray(frame[:, :, 1])
    model_input = np.empty((1, 3, 4, 4), np.float32)
    previous = numba.get_num_threads()
    try:
        for threads in sorted({1, numba.config.NUMBA_NUM_THREADS}):
            numba.set_num_threads(threads)
            preprocess(frame, model_input, resize="letterbox")
            gaussian_blur(frame)
            gaussian_blur(gray)
            color_adjust(frame, gamma=1.2)
            edges = sobel_edges(frame)
            sobel_edges(gray)
            edge_overlay(frame, edges)
    finally:
        numba.set_num_threads(previous)
    return time.perf_counter() - start
