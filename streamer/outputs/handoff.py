"""In-process delivery: the pipeline's last stage hands finished frames to the caller's loop.

:func:`streamer.stream` runs the same pipeline as ``streamer run`` (same stages, threads
and queues); only the last stage differs: :class:`HandoffStage` writes the file outputs
the caller asked for (through the ordinary :class:`~streamer.outputs.stage.OutputStage`) and then
puts each frame, with its picture from before the overlay, on one more bounded queue that
the caller's thread reads. That queue has the pipeline's policy: ``BLOCK`` for files (a
slow loop body slows the pipeline down, nothing is dropped), ``LATEST`` for live sources
(the loop always gets the newest frame; frames it was too slow for are dropped and counted,
after they were written to the files).
"""

from __future__ import annotations

import threading
from dataclasses import replace

import numpy as np

from streamer.frames import Frame
from streamer.outputs.stage import OutputStage
from streamer.queues import FrameQueue, Policy

Delivered = tuple[Frame, np.ndarray]
"""A finished frame (annotated ``image``) and its picture before the overlay, (H, W, 3) uint8."""


class KeepOriginal:
    """First annotator of the overlay: the overlay draws on a copy, the caller gets both.

    The overlay draws in place, so without this the picture before the overlay would be
    gone. Pictures are kept by frame index until :class:`HandoffStage` takes them; one that
    is never taken (a live frame dropped between the overlay and the output stage) is
    discarded when a later frame is taken, so at most the frames in flight are held.
    """

    def __init__(self) -> None:
        self._kept: dict[int, np.ndarray] = {}
        self._lock = threading.Lock()  # the overlay thread adds, the output thread takes

    def annotate(self, scene: np.ndarray, frame: Frame) -> np.ndarray:
        with self._lock:
            self._kept[frame.index] = scene
        return scene.copy()

    def take(self, frame: Frame) -> np.ndarray:
        """The picture ``frame`` had before the overlay (``frame.image`` if nothing was drawn)."""
        with self._lock:
            original = self._kept.pop(frame.index, None)
            for index in [i for i in self._kept if i < frame.index]:
                del self._kept[index]
        return frame.image if original is None else original

    def clear(self) -> None:
        with self._lock:
            self._kept.clear()


class HandoffStage:
    """The last stage of an in-process run: write the outputs, then hand the frame over.

    Parameters
    ----------
    output : OutputStage
        Writes the files asked for (none by default); opened and closed in this thread.
    policy : Policy
        The pipeline's policy, used for the hand-over queue too (see module docstring).
    queue_size : int
        Capacity of the hand-over queue, in frames.

    Attributes
    ----------
    queue : FrameQueue of (Frame, ndarray)
        What the caller reads: :data:`Delivered` pairs; closed (end of stream) when this
        stage finishes, after the outputs were closed, so files are complete by the time the
        caller sees the end. The caller aborts it to stop the run (the stage then ends).
    keep : KeepOriginal
        Put first in the overlay so the caller also gets the picture before the overlay.
    """

    name = "output"  # the same stage name as a ``streamer run`` (statistics, thread names)

    def __init__(self, output: OutputStage, *, policy: Policy, queue_size: int) -> None:
        self.output = output
        self.queue: FrameQueue[Delivered] = FrameQueue(queue_size, policy, name="output->caller")
        self.keep = KeepOriginal()

    def start(self) -> None:
        self.output.start()

    def process(self, frame: Frame) -> None:
        original = self.keep.take(frame)
        self.output.process(frame)
        if self.output.outputs:
            # The outputs read the frame in their own threads, later: the caller, who owns what
            # it is handed and may draw on it, gets its own copy of the picture.
            frame = replace(frame, image=frame.image.copy())
        self.queue.put((frame, original))

    def finish(self) -> None:
        try:
            self.output.finish()
        finally:
            self.keep.clear()
            self.queue.close()

    @property
    def dropped(self) -> int:
        """Frames the caller's loop was too slow for (live sources only; files drop none)."""
        return self.queue.dropped

