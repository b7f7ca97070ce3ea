"""The unit of work that flows through the pipeline."""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from streamer.analytics import AnalyticsResult
    from streamer.detection import Detections
    from streamer.kernels import MotionResult


@dataclass(slots=True, eq=False)
class Frame:
    """One decoded video frame and what the stages have added to it.

    Each stage owns the frame while it holds it and hands it on through a queue, so the
    fields are filled in one direction: source, then kernels, detector, overlay, sinks.

    Attributes
    ----------
    index : int
        0-based position in the source's decode order.
    pts : int or None
        Presentation timestamp in ``time_base`` units, as the container gave it.
    time_base : Fraction
        Unit of ``pts`` in seconds.
    capture_time : float
        ``time.monotonic()`` when the frame left the decoder; stages measure latency from it.
    image : ndarray, shape (H, W, 3), uint8
        BGR pixels; kernels and the overlay stage modify it in place.
    passthrough : list
        Packets of other streams (audio) demuxed since the previous video frame, carried
        along so the sink can copy them without a second reader and in the right order.
    detections : Detections or None
        Set by the detector stage (reused from the last detected frame with ``detect_every``).
    edges : ndarray, shape (H, W), uint8, or None
        Edge map from the kernel stage, for the overlay.
    motion : MotionResult or None
        Moving regions (boxes), motion score and reset flag from the kernel stage's
        ``motion`` step.
    detected : bool
        True when the detector ran on this very frame.
    timings : dict of str to float
        Seconds each stage spent on this frame.
    wall_time : float or None
        Epoch seconds at capture, for live sources (lets outputs be matched to real time).
    analytics : AnalyticsResult or None
        Zone and line figures and the events decided on this frame (the analytics stage).
    events : list of dict
        The event records published on this frame (:mod:`streamer.bus` shape, plus
        ``box`` and the ``snapshot``/``crop``/``clip`` paths they name), for the outputs
        that write snapshots; empty when events are off.
    """

    index: int
    pts: int | None
    time_base: Fraction
    capture_time: float
    image: np.ndarray
    passthrough: list[Any] = field(default_factory=list)
    detections: Detections | None = None
    edges: np.ndarray | None = None
    motion: MotionResult | None = None
    detected: bool = False
    timings: dict[str, float] = field(default_factory=dict)
    wall_time: float | None = None
    analytics: AnalyticsResult | None = None
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def time(self) -> float | None:
        """Presentation time in seconds, or None when the frame has no pts."""
        if self.pts is None:
            return None
        return float(self.pts * self.time_base)

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    @property
    def width(self) -> int:
        return int(self.image.shape[1])
