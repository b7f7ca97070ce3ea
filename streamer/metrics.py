"""Prometheus metrics of a run (``/metrics`` of ``--serve``), in their own registry.

Two feeds, as the architecture keeps them apart:

- **figures** (cumulative counts and states) are *pulled*: the caller's tick hands each
  camera's :class:`~streamer.pipeline.PipelineStats` and counts to :meth:`Metrics.update`,
  and a scrape reads that latest snapshot (:class:`_SnapshotCollector`), so a scrape never
  touches a pipeline thread. Event records from the bus (source and output state changes)
  are applied by :meth:`Metrics.on_event` between ticks.
- **distributions** (frame age, stage time, inference time) need every frame: a
  :class:`FrameTap` output (``LATEST``, a few microseconds a frame) observes them.

Names follow Prometheus conventions: ``streamer_`` prefix, base units (seconds, bytes),
``_total`` counters; every series has a ``camera`` label (the camera's name, never a URL).

=============================================  =========  ==================================
metric                                         type       labels
=============================================  =========  ==================================
streamer_frames_in_total                       counter    camera
streamer_frames_out_total                      counter    camera
streamer_frames_dropped_total                  counter    camera, queue, reason
streamer_detections_total                      counter    camera, class
streamer_source_state                          gauge      camera, state (1 for the current)
streamer_source_reconnects_total               counter    camera
streamer_output_state                          gauge      camera, output, state
streamer_output_frames_total                   counter    camera, output
streamer_output_bytes_total                    counter    camera, output
streamer_viewers                               gauge      camera
streamer_frame_age_seconds                     histogram  camera
streamer_served_frame_age_seconds              histogram  camera
streamer_stage_seconds                         histogram  camera, stage
streamer_detector_inference_seconds            histogram  camera
=============================================  =========  ==================================
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from streamer.frames import Frame
from streamer.pipeline import PipelineStats
from streamer.queues import Policy

#: A camera's states, as the dashboard and ``streamer_source_state`` show them.
STATES = ("connecting", "streaming", "stalled", "reconnecting", "gave_up", "finished", "failed")

# Buckets (seconds) around what matters here: a live frame's age budget is ~100-300 ms;
# a stage takes 1-100 ms a frame on a CPU (YOLOX-Nano ~40 ms at 416x416 on 2 cores).
AGE_BUCKETS = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 5.0)
STAGE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28)


@dataclass
class OutputFigures:
    """What is known of one output; None where the output does not say."""

    state: str | None = None
    frames: int | None = None
    bytes: int | None = None
    dropped: int = 0


@dataclass
class CameraFigures:
    """One camera's latest cumulative figures (replaced whole on each tick)."""

    frames_in: int = 0
    frames_out: int = 0
    drops: dict[tuple[str, str], int] = field(default_factory=dict)  # (queue, reason) -> n
    detections: dict[str, int] = field(default_factory=dict)  # class label -> n
    state: str = "connecting"
    reconnects: int = 0


def drops_of(stats: PipelineStats) -> dict[tuple[str, str], int]:
    """Frames dropped per (queue, reason): ``overflow`` (a full ``LATEST`` queue, newest wins)
    and ``stale`` (older than the latency budget when the next stage took it from that queue)."""
    drops: dict[tuple[str, str], int] = {}
    for name, dropped, _ in stats.queues:
        if dropped:
            drops[(name, "overflow")] = dropped
    names = [q for q, _, _ in stats.queues]
    for i, st in enumerate(stats.stages[1:]):  # stages[0] is the source; stage i+1 reads queue i
        if st.stale and i < len(names):
            drops[(names[i], "stale")] = drops.get((names[i], "stale"), 0) + st.stale
    return drops


class Metrics:
    """Every metric of one process (all cameras), in its own :class:`CollectorRegistry`.

    Thread-safe: :meth:`update` and :meth:`on_event` run in the caller's thread, the taps in
    output threads, scrapes in the server's thread.
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self._lock = threading.Lock()
        self._cameras: dict[str, CameraFigures] = {}
        self._outputs: dict[str, dict[str, OutputFigures]] = {}
        self._output_feeds: dict[tuple[str, str], Callable[[], OutputFigures]] = {}
        self._viewers: dict[str, Callable[[], int]] = {}
        self.frame_age = Histogram("streamer_frame_age", "Age of a finished frame (capture to outputs), seconds",
                                   ["camera"], unit="seconds", buckets=AGE_BUCKETS, registry=self.registry)
        self.served_age = Histogram("streamer_served_frame_age", "Age of a frame when sent to a live viewer, seconds",
                                    ["camera"], unit="seconds", buckets=AGE_BUCKETS, registry=self.registry)
        self.stage_time = Histogram("streamer_stage", "Time one stage spent on one frame, seconds",
                                    ["camera", "stage"], unit="seconds", buckets=STAGE_BUCKETS, registry=self.registry)
        self.inference = Histogram("streamer_detector_inference", "Detector time on a frame it ran on "
                                   "(preprocess, inference, NMS), seconds",
                                   ["camera"], unit="seconds", buckets=STAGE_BUCKETS, registry=self.registry)
        self.registry.register(_SnapshotCollector(self))

    # -- feeds -------------------------------------------------------------------------------

    def add_camera(self, camera: str) -> None:
        with self._lock:
            self._cameras.setdefault(camera, CameraFigures())

    def update(self, camera: str, stats: PipelineStats, *, state: str, reconnects: int = 0,
               detections: Mapping[str, int] | None = None) -> None:
        """A camera's latest figures (the caller's tick)."""
        figures = CameraFigures(
            frames_in=stats.stages[0].frames if stats.stages else 0,
            frames_out=stats.frames_out,
            drops=drops_of(stats),
            detections=dict(detections or {}),
            state=state,
            reconnects=reconnects,
        )
        with self._lock:
            self._cameras[camera] = figures

    def set_output(self, camera: str, output: str, **figures: Any) -> None:
        """Set some of an output's figures (``state``, ``frames``, ``bytes``, ``dropped``)."""
        with self._lock:
            current = self._outputs.setdefault(camera, {}).setdefault(output, OutputFigures())
            for key, value in figures.items():
                setattr(current, key, value)

    def feed_output(self, camera: str, output: str, read: Callable[[], OutputFigures]) -> None:
        """Read an output's figures at each scrape from ``read()`` (e.g. the live viewers)."""
        with self._lock:
            self._output_feeds[(camera, output)] = read

    def feed_viewers(self, camera: str, read: Callable[[], int]) -> None:
        with self._lock:
            self._viewers[camera] = read

    def on_event(self, record: Mapping[str, Any]) -> None:
        """An event record from the bus: source and output state changes."""
        camera = record.get("camera")
        if not isinstance(camera, str):
            return
        if record.get("event") == "output" and isinstance(record.get("output"), str) and record.get("state"):
            self.set_output(camera, record["output"], state=str(record["state"]))

    def tap(self, camera: str) -> FrameTap:
        """The output that observes each finished frame of ``camera``."""
        self.add_camera(camera)
        return FrameTap(self, camera)

    def exposition(self) -> tuple[bytes, str]:
        """The text format for a scrape, and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    # -- the collector's view ------------------------------------------------------------

    def snapshot(self) -> tuple[dict[str, CameraFigures], dict[str, dict[str, OutputFigures]], dict[str, int]]:
        with self._lock:
            cameras = dict(self._cameras)
            outputs = {c: {o: OutputFigures(**vars(f)) for o, f in outs.items()} for c, outs in self._outputs.items()}
            feeds = dict(self._output_feeds)
            viewers = dict(self._viewers)
        for (camera, output), read in feeds.items():
            outputs.setdefault(camera, {})[output] = read()
        return cameras, outputs, {c: read() for c, read in viewers.items()}


class _SnapshotCollector:
    """Yields the pulled figures as Prometheus families at each scrape."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        cameras, outputs, viewers = self._metrics.snapshot()
        frames_in = CounterMetricFamily("streamer_frames_in", "Frames decoded from the source", labels=["camera"])
        frames_out = CounterMetricFamily("streamer_frames_out", "Frames that reached the outputs", labels=["camera"])
        dropped = CounterMetricFamily("streamer_frames_dropped", "Frames dropped, by queue and reason "
                                      "(overflow: a full newest-wins queue; stale: older than the latency budget)",
                                      labels=["camera", "queue", "reason"])
        detections = CounterMetricFamily("streamer_detections", "Objects detected, by class", labels=["camera", "class"])
        state = GaugeMetricFamily("streamer_source_state", "1 for the camera's current state, 0 for the others",
                                  labels=["camera", "state"])
        reconnects = CounterMetricFamily("streamer_source_reconnects", "Reconnections of a live source", labels=["camera"])
        out_state = GaugeMetricFamily("streamer_output_state", "1 for an output's current state", labels=["camera", "output", "state"])
        out_frames = CounterMetricFamily("streamer_output_frames", "Frames sent or written by an output", labels=["camera", "output"])
        out_bytes = CounterMetricFamily("streamer_output_bytes", "Bytes sent or written by an output", labels=["camera", "output"])
        viewer_gauge = GaugeMetricFamily("streamer_viewers", "Live viewers connected (MJPEG streams)", labels=["camera"])
        for camera, f in sorted(cameras.items()):
            frames_in.add_metric([camera], f.frames_in)
            frames_out.add_metric([camera], f.frames_out)
            for (queue, reason), n in sorted(f.drops.items()):
                dropped.add_metric([camera, queue, reason], n)
            for label, n in sorted(f.detections.items()):
                detections.add_metric([camera, label], n)
            for s in STATES:
                state.add_metric([camera, s], 1.0 if f.state == s else 0.0)
            reconnects.add_metric([camera], f.reconnects)
        for camera, outs in sorted(outputs.items()):
            for output, o in sorted(outs.items()):
                if o.state is not None:
                    out_state.add_metric([camera, output, o.state], 1.0)
                if o.frames is not None:
                    out_frames.add_metric([camera, output], o.frames)
                if o.bytes is not None:
                    out_bytes.add_metric([camera, output], o.bytes)
                if o.dropped:
                    dropped.add_metric([camera, f"output:{output}", "overflow"], o.dropped)
        for camera, n in sorted(viewers.items()):
            viewer_gauge.add_metric([camera], n)
        yield from (frames_in, frames_out, dropped, detections, state, reconnects,
                    out_state, out_frames, out_bytes, viewer_gauge)


class FrameTap:
    """An :class:`~streamer.outputs.base.Output` that observes each finished frame's age and timings.

    ``LATEST``: observing costs a few microseconds, so it keeps up; under a stall it skips
    frames rather than hold anything up.
    """

    name = "metrics"
    policy = Policy.LATEST

    def __init__(self, metrics: Metrics, camera: str) -> None:
        self._age = metrics.frame_age.labels(camera)
        self._inference = metrics.inference.labels(camera)
        self._stage_time = metrics.stage_time
        self._stages: dict[str, Any] = {}
        self._camera = camera

    def write(self, frame: Frame) -> None:
        self._age.observe(max(0.0, time.monotonic() - frame.capture_time))
        for stage, seconds in frame.timings.items():
            child = self._stages.get(stage)
            if child is None:
                child = self._stages[stage] = self._stage_time.labels(self._camera, stage)
            child.observe(seconds)
        if frame.detected and "detect" in frame.timings:
            self._inference.observe(frame.timings["detect"])

    def close(self) -> None:
        pass
