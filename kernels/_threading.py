"""Numba threading-layer choice and the serial/parallel dispatch every kernel uses.

Importing this module (``kernels/__init__`` does) selects the ``workqueue`` threading
layer unless ``NUMBA_THREADING_LAYER`` is set in the environment.  Every kernel is a
*band* function that processes a contiguous range of output rows, plus a ``prange``
driver over bands; :func:`run_bands` calls the band function directly when the caller
asked Numba for one thread, so that case never enters the threading layer.

Each ``prange`` driver casts its loop index to int64 before calling the band function.
Numba types a ``prange`` index as uint64, so the band function (typed int64 when called
from Python) was compiled a second time, inside the driver: the preprocess driver's first
compile took 5.8-6.1 s, and 1.9 s with the cast (a cold cache, a quiet 2-core machine).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

import numba

# The OpenMP layer spin-waits between parallel regions and burns several ms of CPU per
# frame when several pipeline stages run at once on 2 cores; workqueue threads sleep.
# An explicit NUMBA_THREADING_LAYER from the user always wins.  This has effect only
# if no parallel Numba function has run yet in this process (the layer is chosen once).
if "NUMBA_THREADING_LAYER" not in os.environ:
    numba.config.THREADING_LAYER = "workqueue"

# workqueue is not thread-safe: two Python threads launching parallel regions at the
# same time abort the whole process ("Concurrent access has been detected").  The
# threading layer is itself process-global, so its guard has to be process-global too.
_WORKQUEUE_LAUNCH = threading.Lock()


def thread_count(n_rows: int) -> int:
    """Number of row bands to split ``n_rows`` into: the caller's Numba thread count."""
    return max(1, min(numba.get_num_threads(), n_rows))


def run_bands(
    band: Callable[..., Any], parallel: Callable[..., Any], bands: int, *args: Any
) -> None:
    """Run a row-band kernel on ``bands`` threads.

    Parameters
    ----------
    band : numba dispatcher
        ``band(index, bands, *args)`` processes rows ``[index * n // bands,
        (index + 1) * n // bands)`` of its output, using row ``index`` of any scratch.
    parallel : numba dispatcher
        ``parallel(bands, *args)``: calls ``band`` for every index under ``prange``.
    bands : int
        From :func:`thread_count`.
    *args
        Arrays and scalars passed unchanged.

    Notes
    -----
    One band runs ``band`` directly and never touches the threading layer, so
    single-threaded pipeline workers may call kernels concurrently (everything is
    ``nogil``).  With more bands and the workqueue layer, launches are serialised.
    """
    if bands == 1:
        band(0, 1, *args)
    else:
        launch_parallel(parallel, bands, *args)


def launch_parallel(parallel: Callable[..., Any], *args: Any) -> Any:
    """Call a ``parallel=True`` dispatcher, serialised when the layer is workqueue.

    Parameters
    ----------
    parallel : numba dispatcher
        Any function containing ``prange``.
    *args
        Passed unchanged.

    Returns
    -------
    Any
        Whatever ``parallel`` returns.
    """
    if numba.config.THREADING_LAYER == "workqueue":
        with _WORKQUEUE_LAUNCH:
            return parallel(*args)
    return parallel(*args)
