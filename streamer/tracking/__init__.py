"""Multi-object tracking: a stable id per object across frames.

:class:`ByteTracker` takes each frame's :class:`~streamer.detection.Detections` and
returns them with ``tracker_id`` filled in, and predicts the tracks' boxes on frames
where the detector did not run (``predicted`` says which boxes those are).  Call
:func:`warmup` before the first frame (it imports SciPy and loads the IoU kernel).
"""

from streamer.tracking.bytetrack import ByteTracker, warmup

__all__ = ["ByteTracker", "warmup"]
