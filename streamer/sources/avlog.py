"""Why streamer keeps PyAV's Python log callback switched off, and the one place that does it.

``av.logging.set_level(level)`` installs a callback that FFmpeg calls from *every* thread
that logs, including a frame-threaded decoder's worker threads, and that callback takes
the GIL. PyAV frees a codec context (``CodecContext.__dealloc__`` ->
``avcodec_free_context``) *with the GIL held*, and freeing a threaded decoder joins its
worker threads. When a worker logs an error at that moment, each waits for the other for
ever. Seen here (issue 12; PyAV 18.1.0, libavcodec 62.28, native stacks from gdb):

- main thread: ``Stream`` dealloc -> ``CodecContext`` dealloc -> ``avcodec_free_context``
  -> ``pthread_cond_wait`` (holding the GIL);
- worker ``av:h264:df0``: ``av_log`` -> ``av.logging.log_callback`` -> ``PyGILState_Ensure``
  -> ``take_gil``.

A 40-iteration loop of open/decode/drop with PyAV alone hung in 3 of 6 runs on
``intel_car-detection.mp4`` once ``set_level(ERROR)`` was on, and never with the level
left at ``None`` (PyAV's default, whose callback is ``nogil`` and does nothing). Upstream:
PyAV issues #909, #751 and #367.

So FFmpeg's own log lines are not routed into Python at all. What they told us is
recovered another way: a decode error's ``strerror`` is counted and logged by the
sources, and :func:`streamer.sources.errors.diagnose` inspects a file FFmpeg rejects
(e.g. an MP4 without its ``moov`` index). If code in the same process turns PyAV's
logging on, streamer turns it off again with a warning, once.
"""

from __future__ import annotations

import logging
import threading

import av.logging

log = logging.getLogger("streamer.sources")

_warned = threading.Event()


def keep_pyav_logging_off() -> None:
    """Make sure PyAV's GIL-taking log callback is not installed (see the module docstring).

    Call before opening anything that decodes. Cheap: one attribute read when the
    level is already None.
    """
    level = av.logging.get_level()
    if level is None:
        return
    av.logging.set_level(None)
    if not _warned.is_set():
        _warned.set()
        log.warning("PyAV logging was on (av.logging.set_level(%s)); streamer switched it off: with "
                    "threaded decoders it can deadlock the process (PyAV issue #909)", level)
