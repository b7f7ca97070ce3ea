"""Multi-object tracking: a stable id per object across frames.

:class:`ByteTracker` takes each frame's :class:`~streamer.detection.Detections` and
returns them with ``tracker_id`` filled in, and predicts the tracks' boxes on frames
where the detector did not run (``predicted`` says which boxes those are).
"""

from streamer.tracking.bytetrack import ByteTracker

__all__ = ["ByteTracker"]
