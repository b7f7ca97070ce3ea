"""What every output is: one destination of finished frames, behind its own queue and thread.

The pipeline's last stage (:class:`streamer.outputs.stage.OutputStage`) fans each finished
frame out to several outputs. Each output runs in its own named thread and reads its own
bounded queue whose policy it declares:

- ``Policy.BLOCK`` (files: the MP4, the JSONL, event clips): never drops; a slow one slows
  the pipeline down (and a live pipeline's upstream queues drop stale frames instead).
- ``Policy.LATEST`` (network outputs, live views, the local window): a slow or dead one
  drops its oldest queued frames and counts them; it never stalls the others.

An output sees a finished :class:`~streamer.frames.Frame` (annotated ``image``, ``pts`` and
``time_base``, ``detections``, ``analytics``, ``passthrough`` audio packets) and must not
modify it: the same frame object goes to every output. It knows nothing of sources.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from streamer.frames import Frame
from streamer.queues import Policy


@runtime_checkable
class Output(Protocol):
    """One destination of finished frames.

    Attributes
    ----------
    name : str
        Short and unique per camera ("video", "jsonl", "rtsp://host:8554/x" with the
        password masked, "live-view", "window"); shown in logs, stats and metric labels.
    policy : Policy
        ``BLOCK`` never drops; ``LATEST`` drops the oldest queued frame and counts it.
    """

    name: str
    policy: Policy

    def write(self, frame: Frame) -> None:
        """Take one frame, in frame order, from the output's own thread.

        Raises
        ------
        OutputError
            A failure of this output (a permanent one ends this output only, not the run).
        """

    def close(self) -> None:
        """Flush and release; called once, from the output's thread, whatever happened."""
