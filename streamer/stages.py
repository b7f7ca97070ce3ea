"""The pipeline's stages: kernels, detector, overlay (outputs: :mod:`streamer.outputs.stage`).

Each stage follows :class:`streamer.pipeline.Stage`: ``start`` and ``finish`` run in the
stage's own thread, ``process`` takes a frame and hands it on.
"""

from __future__ import annotations

import functools
import sys
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from streamer.detection import Detections, Detector
from streamer.detection.service import DetectorClient
from streamer.frames import Frame
from streamer.kernel_chain import KernelChain
from streamer.overlay import Overlay

#: Threads of a detect stage on a shared detector service: they only wait, and each lets one
#: more of the camera's frames be in the service while the frames after it pass on.
SERVICE_STAGE_WORKERS = 4


class KernelStage:
    """Runs the user's image-processing chain on every frame.

    ``motion_masks`` (e.g. :class:`streamer.analytics.masks.MotionMasks`), called with the
    source picture's (width, height) and the motion step's (H, W), gives the pixels the
    motion step ignores, or None.
    """

    name = "kernels"

    def __init__(self, chain: KernelChain, *, threads: int = 1,
                 motion_masks: Callable[[tuple[int, int], tuple[int, int]], np.ndarray | None] | None = None) -> None:
        self.chain = chain
        self.threads = threads
        self.motion_masks = motion_masks

    def start(self) -> None:
        # Numba's thread count is per calling thread: one per stage beats two on 2 cores,
        # where the decoder, detector and encoder need the other one.
        import numba

        numba.set_num_threads(min(self.threads, numba.config.NUMBA_NUM_THREADS))

    def process(self, frame: Frame) -> Frame:
        masks = self.motion_masks
        exclude = None if masks is None else functools.partial(masks, (frame.width, frame.height))
        result = self.chain.apply(frame.image, motion_exclude=exclude)
        frame.image = result.image
        if result.edges is not None:
            frame.edges = result.edges
        if result.motion is not None:
            frame.motion = result.motion
        return frame

    def finish(self) -> None:
        pass


class DetectStage:
    """Runs the detector on every ``every``-th frame; frames between reuse the last result.

    The frames detected are those whose ``index`` is a multiple of ``every`` (and, with
    ``min_motion``, that move), decided from the frame alone: with several workers taking
    successive frames at once the schedule does not depend on which worker gets there first.

    With several detectors (one per worker thread, each with its own ONNX Runtime
    session) successive frames are detected in parallel: on a CPU, two single-threaded
    sessions get more frames through than one session with two threads, because a small
    model parallelises poorly inside one inference.

    With a ``client`` of a shared :class:`~streamer.detection.service.DetectorService`
    instead, the frames go to the service (which several cameras share) and the interval is
    the client's: a live camera's grows under overload and comes back when load falls. Its
    ``workers`` threads only wait for the service, so that several of the camera's frames
    can be in the service at once while the frames between pass on.
    """

    name = "detect"

    def __init__(self, detectors: Sequence[Detector] = (), *, every: int = 1, min_motion: float | None = None,
                 client: DetectorClient | None = None, workers: int = SERVICE_STAGE_WORKERS) -> None:
        if every < 1:
            raise ValueError(f"detect every must be >= 1, got {every}")
        if not detectors and client is None:
            raise ValueError("DetectStage needs at least one detector or a detector service client")
        self.client = client
        self.workers = len(detectors) if client is None else workers
        self.every = every
        # With a motion step in the kernels: skip the detector while nothing moves
        # (the last boxes stay), which saves most of the CPU on a quiet camera.
        self.min_motion = min_motion
        self.skipped_still = 0
        self._pool = list(detectors)
        self._lock = threading.Lock()
        self._local = threading.local()
        self._last: Detections | None = None
        self.per_class: Counter[int] = Counter()
        self.runs = 0

    @property
    def interval(self) -> int:
        """Detect every ``interval``-th frame, now."""
        return self.every if self.client is None else self.client.interval

    def start(self) -> None:
        import numba  # the detector's preprocess is a kernel

        # One Numba thread in every worker, also with a service client: a camera whose model
        # runs in another process (streamer.engines.detector_link) prepares its frames in
        # these threads. With Numba's default (the core count) the preprocess ran its prange
        # driver, which the kernels' warm-up leaves uncompiled: the first frame compiled it
        # (~6 CPU-s, 13 s behind on a busy 2-core machine, Numba's cache cold), and the
        # workers' launches queued on the workqueue layer's one lock.
        numba.set_num_threads(1)
        if self.client is not None:
            return  # the service's workers warm up its detectors
        with self._lock:
            detector = self._pool.pop()
        self._local.detector = detector
        # A detector is confined to the thread that uses it, so warm up here,
        # before the first frame arrives.
        detector.warmup()

    def process(self, frame: Frame) -> Frame:
        still = (self.min_motion is not None and frame.motion is not None
                 and not frame.motion.reset and frame.motion.score < self.min_motion)
        if still:
            with self._lock:
                self.skipped_still += 1
        if self.client is not None:
            if self.client.schedule(frame.index, frame.capture_time, still=still):
                # None: a detector in another process did not answer in time; the frame
                # passes on as one between detections (streamer.engines.detector_link).
                frame.detections = self.client.detect(frame.image)
                frame.detected = frame.detections is not None
        elif not still and frame.index % self.every == 0:
            frame.detections = self._local.detector.detect(frame.image)
            frame.detected = True
        return frame

    def figures(self, elapsed: float) -> dict[str, Any]:
        """For the stats records: ``detect_interval`` (now), ``detected`` (frames so far),
        ``detect_fps`` (detections per second: over the last seconds with a service, else
        over the ``elapsed`` seconds of the run) and, with a service, ``detect_submitted``
        and ``detect_skipped`` (frames sent to it, frames not sent: interval or motion gate)
        and ``detect_wait_ms_p95`` (submitted to detected)."""
        if self.client is not None:
            f = self.client.figures()
            return {"detect_interval": f["interval"], "detected": f["detected"], "detect_fps": f["detect_fps"],
                    "detect_submitted": f["submitted"], "detect_skipped": f["skipped"],
                    "detect_wait_ms_p95": f["wait_ms_p95"]}
        return {"detect_interval": self.every, "detected": self.runs,
                "detect_fps": round(self.runs / elapsed, 2) if elapsed > 0 else 0.0}

    def ordered(self, frame: Frame) -> None:
        """In frame order: remember the newest result and lend it to frames between."""
        if frame.detected and frame.detections is not None:
            self._last = frame.detections
            self.runs += 1
            self.per_class.update(int(c) for c in frame.detections.class_id)
        else:
            frame.detections = self._last

    def finish(self) -> None:
        detector = getattr(self._local, "detector", None)
        if detector is not None:
            # Handed back for the next worker to start (a slow-starting thread of this run,
            # or the next run's): it must not be tied to this thread any more. Under load a
            # worker that started late took one its peer had finished with and failed.
            self._local.detector = None
            detector.release()
            with self._lock:
                self._pool.append(detector)


class OverlayStage:
    """Draws the annotators onto the frame's picture."""

    name = "overlay"

    def __init__(self, overlay: Overlay) -> None:
        self.overlay = overlay

    def start(self) -> None:
        # The overlay runs a kernel only for the edge map, which the kernel chain's warm-up
        # loaded already; without kernels Numba stays unloaded (~0.5 s of CPU per run:
        # Numba, and SciPy's linalg that it imports for its BLAS check).
        numba = sys.modules.get("numba")
        if numba is not None:
            numba.set_num_threads(1)

    def process(self, frame: Frame) -> Frame:
        frame.image = self.overlay.annotate(frame.image, frame)
        return frame

    def finish(self) -> None:
        pass
