"""Numba threading-layer choice and the serial/parallel dispatch every kernel uses.

Importing this module (``kernels/__init__`` does) selects the ``workqueue`` threading
layer unless ``NUMBA_THREADING_LAYER`` is set in the environment.  Each kernel is
compiled twice from the same per-row function: a serial driver (``range`` over rows)
and a parallel driver (``prange`` over rows).  :func:`run_rows` picks between them
from ``numba.get_num_threads()`` of the calling thread.
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


def run_rows(serial: Callable[..., Any], parallel: Callable[..., Any], *args: Any) -> Any:
    """Run a row-wise kernel with as many threads as the caller asked Numba for.

    Parameters
    ----------
    serial, parallel : numba dispatchers
        The same per-row loop driven by ``range`` and by ``prange``.
    *args
        Arrays and scalars passed unchanged to the driver.

    Returns
    -------
    Any
        Whatever the driver returns.

    Notes
    -----
    With one thread the serial driver runs, never touching the threading layer, so
    single-threaded pipeline workers may call kernels concurrently (all drivers are
    ``nogil``).  With more threads and the workqueue layer, launches are serialised.
    """
    if numba.get_num_threads() == 1:
        return serial(*args)
    if numba.config.THREADING_LAYER == "workqueue":
        with _WORKQUEUE_LAUNCH:
            return parallel(*args)
    return parallel(*args)
