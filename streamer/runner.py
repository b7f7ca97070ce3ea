"""The Python API behind ``streamer run``: build a pipeline from settings and run it.

>>> from streamer import RunSettings, Runner
>>> summary = Runner(RunSettings(source="clip.mp4")).run()   # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from streamer import kernels
from streamer.analytics.masks import MotionMasks
from streamer.analytics.stage import AnalyticsStage, build_analytics
from streamer.bus import EventBus, Record
from streamer.config import RunSettings
from streamer.detection import Detector, ProviderChoice
from streamer.errors import ConfigError
from streamer.events.camera import CameraEvents
from streamer.events.publisher import EventPublisher
from streamer.kernel_chain import KernelChain, format_kernels
from streamer.overlay import Annotator, BoxAnnotator, EdgeAnnotator, HudAnnotator, LabelAnnotator, Overlay
from streamer.pipeline import Pipeline, PipelineStats, Stage, StageStats
from streamer.privacy.stage import build_privacy
from streamer.queues import Policy
from streamer.outputs.base import Output
from streamer.outputs.build import build_outputs, describe_outputs, shared_encoder
from streamer.outputs.handoff import HandoffStage
from streamer.outputs.jsonl import JsonlSink
from streamer.outputs.paths import PlannedOutputs, check_outputs
from streamer.outputs.video import VideoOutput
from streamer.sources import FileSource, SourceInfo
from streamer.sources.live import LiveSource, SourceEvent
from streamer.sources.urls import is_live, is_pipe, mask_credentials, output_stem, without_credentials
from streamer.outputs.stage import OutputStage, OutputStats
from streamer.stages import DetectStage, KernelStage, OverlayStage

if TYPE_CHECKING:
    from streamer.detection.service import DetectorClient, DetectorService

log = logging.getLogger("streamer")

#: A live source ends itself at ``--duration`` (connecting, waiting or streaming), except while
#: FFmpeg blocks in a read (a stall lasts up to ~2x ``stall_timeout``); this long after it, the
#: pipeline is stopped, which lets go of such a source (``Pipeline.DETACH_GRACE``).
DURATION_SLACK = 0.5
#: Bus records that are also written to the JSONL (analytics events are written with their frame).
JSONL_BUS_EVENTS = frozenset({"source", "output"})


@dataclass
class RunSummary:
    """What a finished (or interrupted) run did."""

    source: str
    video: Path | None
    jsonl: Path | None
    frames: int
    elapsed: float
    stages: list[StageStats]
    per_class: dict[str, int] = field(default_factory=dict)
    detector_runs: int = 0
    provider: ProviderChoice | None = None
    interrupted: bool = False
    dropped: int = 0
    startup: float = 0.0
    detect_workers: int = 1
    reconnects: int = 0
    live: dict[str, Any] | None = None
    outputs: list[OutputStats] = field(default_factory=list)

    @property
    def fps(self) -> float:
        return self.frames / self.elapsed if self.elapsed > 0 else 0.0

    def format(self) -> str:
        head = "interrupted" if self.interrupted else "done"
        lines = [f"{head}: {self.frames} frames in {self.elapsed:.1f} s ({self.fps:.1f} fps), start-up {self.startup:.1f} s"]
        if self.video is not None:
            lines.append(f"  video: {self.video}")
        if self.jsonl is not None:
            lines.append(f"  detections: {self.jsonl}")
        if self.provider is not None:
            # The provider's reason was said at start-up (describe()); not repeated here.
            lines.append(f"  detector: {self.provider.provider}, ran on {self.detector_runs} frames"
                         f" with {self.detect_workers} worker{'s' if self.detect_workers > 1 else ''}")
        if any(s.frames for s in self.stages):  # none when a camera never connected
            lines.append("  per stage (ms/frame wall/cpu, summed over a stage's workers): " + ", ".join(
                f"{s.name} {s.ms_per_frame:.1f}/{s.cpu_ms_per_frame:.1f}" + (f" ({s.workers} workers)" if s.workers > 1 else "")
                for s in self.stages if s.frames))
        if self.per_class:
            top = sorted(self.per_class.items(), key=lambda kv: (-kv[1], kv[0]))
            lines.append("  detections: " + ", ".join(f"{k} {v}" for k, v in top))
        elif self.provider is not None:
            lines.append("  detections: none")
        if self.dropped:
            lines.append(f"  dropped frames: {self.dropped}")
        if any(o.policy == Policy.LATEST.value or o.state == "failed" for o in self.outputs):
            lines.append("  outputs: " + ", ".join(
                f"{o.name} {o.frames} frames" + (f" ({o.dropped} dropped)" if o.dropped else "")
                + (" (failed)" if o.state == "failed" else "") for o in self.outputs))
        if self.live is not None:
            lv = self.live
            ages = "" if lv["age_ms_p50"] is None else f", frame age p50 {lv['age_ms_p50']} ms, p95 {lv['age_ms_p95']} ms"
            lines.append(f"  live: {lv['fps_in']:.1f} fps in, {lv['fps_out']:.1f} fps out{ages}, {self.reconnects} reconnects")
        return "\n".join(lines)


def _expected_frames(info: SourceInfo, settings: RunSettings) -> int | None:
    v = info.video
    if v is None:
        return None
    total = v.frames
    if total is None and v.duration and v.fps:
        total = round(v.duration * float(v.fps))
    if total is None and info.duration and v.fps:
        total = round(info.duration * float(v.fps))
    if settings.duration is not None and v.fps:
        cap = round(settings.duration * float(v.fps))
        total = cap if total is None else min(total, cap)
    if settings.max_frames is not None:
        total = settings.max_frames if total is None else min(total, settings.max_frames)
    return total


class Runner:
    """One run of the pipeline on one source.

    Construction validates and opens everything that can be checked up front (a file
    source, the model, the outputs) so that bad input fails before any thread starts;
    :meth:`run` processes; :meth:`stop` (from a signal handler or another thread) ends it
    cleanly, keeping what was written. Live sources connect in the decode thread and
    heal themselves (see :mod:`streamer.sources.live`); their frames flow newest-first
    through queues that drop stale frames and count every drop.

    Parameters
    ----------
    settings : RunSettings
        What to run.
    detector : Detector, optional
        Use this detector (one worker) instead of building them from ``settings``.
    service : DetectorService, optional
        Detect through this shared service (a client of it, named after the camera, with
        the camera's ``priority``; a live camera's interval follows the service's load)
        instead of detectors of its own. The caller owns the service (:class:`~streamer.fleet.Fleet`).
    outputs : (Path or None, Path or None), optional
        (video, JSONL) paths to write, None for none; default: ``settings.outputs_for``.
    deliver : bool
        In-process run (:func:`streamer.stream`): the last stage is a
        :class:`~streamer.outputs.handoff.HandoffStage`, whose ``queue`` the caller reads, and
        the overlay is drawn even without a video file.
    extra_outputs : sequence of Output
        More outputs of the finished frames (a live view, a window), each behind its own
        queue and thread (see :mod:`streamer.outputs.stage`); the overlay is drawn for them.
    bus : EventBus, optional
        Where source and output state events are published (default: a new one, ``bus``).

    Attributes
    ----------
    bus : EventBus
        Source events (``{"event": "source", ...}``) and output events
        (``{"event": "output", ...}``) of this camera; the JSONL subscribes to it.
    """

    def __init__(self, settings: RunSettings, *, detector: Detector | None = None, service: DetectorService | None = None,
                 outputs: tuple[Path | None, Path | None] | None = None, deliver: bool = False,
                 extra_outputs: Sequence[Output] = (), bus: EventBus | None = None) -> None:
        if settings.source is None:
            raise ConfigError("no source given")
        t0 = time.perf_counter()
        self.settings = settings
        self.live = is_live(settings.source)
        self.name = settings.name or output_stem(settings.source)
        self.display = mask_credentials(settings.source)
        self.events: list[SourceEvent] = []
        self.bus = bus if bus is not None else EventBus()
        self._extra_outputs = list(extra_outputs)
        self._jsonl: JsonlSink | None = None
        self._deliver = deliver
        self.handoff: HandoffStage | None = None
        self.source: FileSource | LiveSource
        if self.live:
            self.source = LiveSource(
                settings.source, transport=settings.transport, open_timeout=settings.open_timeout,
                stall_timeout=settings.stall_timeout, retries=settings.retries,
                options=settings.device_options(), input_format=settings.input_format,
                on_event=self._on_source_event, max_frames=settings.max_frames, duration=settings.duration,
            )
            self.source.open()  # a webcam path that is no V4L2 device is an error now, not a retry
            self.info: SourceInfo | None = None
        else:
            self.source = FileSource(settings.source, max_frames=settings.max_frames,
                                     duration=settings.duration, realtime=settings.realtime)
            self.info = self.source.open()
        try:
            self.video_path, self.jsonl_path = outputs if outputs is not None else settings.outputs_for(settings.source)
            # Before anything is opened for writing or the model loads: no output may destroy an input.
            events = settings.events_for(settings.source)
            check_outputs([PlannedOutputs(self.name, settings.source, self.video_path, self.jsonl_path,
                                          events[0] if events else None)])
            try:
                own = detector is None and service is None and settings.detect
                self.detectors = [detector] if detector is not None else (self._detectors() if own else [])
            except ConfigError as exc:
                raise settings.located(exc) from None
            self._service = service if settings.detect and detector is None else None
            self.client: DetectorClient | None = None
            self.detector = self.detectors[0] if self.detectors else (self._service.detector if self._service else None)
            self.chain = KernelChain(settings.kernels)
            self.expected_frames = _expected_frames(self.info, settings) if self.info is not None else settings.max_frames
            # Only what this stream runs: a warm start stays well under a second; a run
            # without a detector or kernels does not load Numba at all.
            families = self.chain.families_with(detects=self.detector is not None or bool(settings.privacy))
            self.compile_seconds = kernels.warmup(families) if families else 0.0
            # Faces are hidden after the detector and analytics, before the overlay and every output.
            self._privacy = build_privacy(settings, self.detector.labels if self.detector is not None else ())
            if self.jsonl_path is not None:
                self._jsonl = JsonlSink(self.jsonl_path, self.detector.labels if self.detector else [])
                self.bus.subscribe(self._to_jsonl, name="jsonl")
            # The events file, snapshots and clips (the analytics stage publishes the events).
            self.camera_events = CameraEvents.build(settings, camera=self.name, bus=self.bus, live=self.live,
                                                    labels=self.detector.labels if self.detector else [])
        except BaseException:
            self.source.close()
            raise
        self._interrupted = threading.Event()
        self._detect_stage: DetectStage | None = None
        self._analytics: AnalyticsStage | None = None
        self._output: OutputStage | None = None
        self._last_stats_record = time.monotonic()
        self.pipeline = self._build()
        self.startup = time.perf_counter() - t0

    def _on_source_event(self, event: SourceEvent) -> None:
        self.events.append(event)
        self.bus.publish({**event.to_record(), "camera": self.name})

    def _to_jsonl(self, record: Record) -> None:
        """State events go into the JSONL too (analytics events are written with their frame)."""
        if self._jsonl is not None and record.get("event") in JSONL_BUS_EVENTS:
            self._jsonl.write_record(record, if_open=True)

    def _detectors(self) -> list[Detector]:
        """One detector per worker.

        On a CPU, two single-threaded sessions on successive frames get more frames
        through than one session with two threads (a small model parallelises poorly
        inside one inference); a GPU session wants a single feeder.
        """
        s = self.settings
        cores = os.cpu_count() or 1

        def make(threads: int) -> Detector:
            return Detector.from_settings(s, threads=threads)

        first = make(s.threads or 1)
        on_cpu = first.provider.provider == "CPUExecutionProvider"
        workers = s.detect_workers or (min(2, cores) if on_cpu else 1)
        threads = s.threads or max(1, cores // workers)
        if threads != (s.threads or 1):
            first = make(threads)
        return [first, *(make(threads) for _ in range(workers - 1))]

    def _media(self) -> tuple[Any, Any]:
        """(frame rate, audio stream) of the source, for outputs opened on the first frame."""
        return self.source.frame_rate, self.source.audio_stream

    def _build(self) -> Pipeline:
        s = self.settings
        stages: list[Stage] = []
        if self.chain:
            # Masks with motion: true (the default) clear motion inside the kernel stage's
            # motion step, so their pixels never count toward the motion gate or its boxes.
            stages.append(KernelStage(self.chain, motion_masks=MotionMasks(s.masks) or None))
        shapes: list[Annotator] = []
        if self.detector is not None:
            publisher = (self.camera_events.publisher if self.camera_events is not None
                         # notifications without an events file still get the zone, line and track events
                         else EventPublisher(self.name, self.bus.publish, labels=self.detector.labels) if s.notify
                         else None)
            self._analytics, shapes = build_analytics(s, self.detector.labels, publisher=publisher)
            if self._service is not None:  # last: nothing after it can fail and leave it joined
                self.client = self._service.client(self.name, priority=s.priority, every=s.detect_every,
                                                   every_max=s.detect_every_max, adaptive=self.live or s.realtime)
            self._detect_stage = DetectStage(self.detectors, every=s.detect_every, min_motion=s.detect_min_motion,
                                             client=self.client)
            stages.append(self._detect_stage)
            if self._analytics is not None:
                stages.append(self._analytics)
        stages += self._privacy
        annotators: list[Annotator] = []
        if self.chain.edges is not None and self.chain.edges.overlay:
            annotators.append(EdgeAnnotator(threshold=self.chain.edges.threshold, alpha=self.chain.edges.alpha))
        annotators += shapes  # zones, lines and trails under the boxes
        if self.detector is not None:
            annotators.append(BoxAnnotator())
            if s.labels:
                annotators.append(LabelAnnotator(self.detector.labels))
        if s.hud:
            annotators.append(HudAnnotator())
        live = self.live or s.realtime
        extra = [*self._extra_outputs, *(self.camera_events.outputs if self.camera_events else [])]
        clips = self.camera_events is not None and self.camera_events.clips is not None
        outputs = build_outputs(s, video=self.video_path, jsonl=self._jsonl, media=self._media, live=live,
                                extra=extra, camera=self.name, publish=self.bus.publish, encoder=clips)
        if clips and (encoded := shared_encoder(outputs)) is not None:
            self.camera_events.attach(encoded)  # type: ignore[union-attr]  # clips cut its packets
        self._output = OutputStage(outputs, camera=self.name, queue_size=s.queue_size, publish=self.bus.publish)
        if self._deliver:
            self.handoff = HandoffStage(self._output, policy=Policy.LATEST if live else Policy.BLOCK,
                                        queue_size=1 if live else s.queue_size)
            if annotators:
                annotators.insert(0, self.handoff.keep)
        if annotators and (self.video_path is not None or self.handoff is not None or extra):
            stages.append(OverlayStage(Overlay(annotators)))
        stages.append(self.handoff or self._output)
        return Pipeline(
            self.source.frames, stages,
            policy=Policy.LATEST if live else Policy.BLOCK,
            # Live: one slot per link keeps latency low (the newest frame replaces a waiting
            # one); files: a few frames absorb jitter.
            queue_size=1 if live else s.queue_size,
            name=f"streamer-{self.name}", max_age=s.max_latency if live else None,
            on_stop=self.source.stop if isinstance(self.source, LiveSource) else None,
            # A pipe's read blocks while its writer is silent, as a camera's connect does.
            detach_source=self.live or is_pipe(s.source or ""),
        )

    def describe(self) -> str:
        """One line on what will run."""
        parts = [self.display if self.info is None or self.info.video is None
                 else f"{self.display}: {self.info.video.width}x{self.info.video.height}"]
        parts.append(f"kernels: {format_kernels(self.chain.steps)}")
        if self.detector is not None:
            parts.append(f"model: {self.detector.card.name} ({self.detector.card.family})")
            parts.append(f"device: {self.detector.provider.provider} ({self.detector.provider.reason})")
            parts.append(f"precision: {self.detector.precision}")
            if self.detector.graph is not None:
                parts.append(f"detect size: {self.detector.input_size[0]}x{self.detector.input_size[1]}")
        network = describe_outputs(self._output.outputs) if self._output is not None else None
        if network:
            parts.append(network)
        return "; ".join(parts)

    def stop(self) -> None:
        """Finish early: stop decoding, process and write what is in flight, close outputs."""
        self._interrupted.set()
        self.pipeline.stop()

    def abort(self) -> None:
        """Finish now: drop what is in flight; outputs are still closed cleanly."""
        self._interrupted.set()
        self.pipeline.abort()
        if self._output is not None:
            self._output.abort()

    def live_figures(self, stats: PipelineStats) -> dict[str, Any]:
        """fps in and out, drops per queue and stage, frame age p50/p95 (for the terminal and JSONL)."""
        src = stats.stages[0]
        ages = self._output.ages_ms() if self._output is not None else []
        return {
            "event": "stats",
            "source": without_credentials(self.settings.source or ""),
            "elapsed": round(stats.elapsed, 3),
            "frames_in": src.frames,
            "frames_out": stats.frames_out,
            "fps_in": round(src.frames / stats.elapsed, 2) if stats.elapsed > 0 else 0.0,
            "fps_out": round(stats.fps, 2),
            "dropped": stats.dropped,
            "dropped_by_queue": {name: d for name, d, _ in stats.queues if d},
            "dropped_stale_by_stage": {st.name: st.stale for st in stats.stages if st.stale},
            "dropped_by_output": {o.name: o.dropped for o in self._output.stats() if o.dropped} if self._output else {},
            "age_ms_p50": round(float(np.percentile(ages, 50)), 1) if ages else None,
            "age_ms_p95": round(float(np.percentile(ages, 95)), 1) if ages else None,
            "reconnects": getattr(self.source, "reconnects", 0),
            "state": getattr(self.source, "state", None) and self.source.state.value,  # type: ignore[union-attr]
            **(self._detect_stage.figures(stats.elapsed) if self._detect_stage is not None else {}),
        }

    def tick(self, stats: PipelineStats, on_tick: Callable[[PipelineStats], None] | None = None) -> None:
        """Between waits in the caller's thread: a live run's stats record, then ``on_tick``."""
        duration = self.settings.duration
        if self.live and duration is not None and not self.pipeline.stopping and stats.elapsed >= duration + DURATION_SLACK:
            self.pipeline.stop()
        if self.live or self.settings.realtime:
            now = time.monotonic()
            if now - self._last_stats_record >= self.settings.stats_interval and self._jsonl is not None:
                self._last_stats_record = now
                self._jsonl.write_record(self.live_figures(stats), if_open=True)
        if on_tick is not None:
            on_tick(stats)

    def run(self, on_tick: Callable[[PipelineStats], None] | None = None) -> RunSummary:
        """Process the source to its end (or until stopped) and summarise.

        Raises
        ------
        PipelineError
            A stage failed, or a live source gave up; outputs were closed first, keeping
            every frame written.
        """
        try:
            stats = self.pipeline.run(lambda st: self.tick(st, on_tick))
        finally:
            self.source.close()
            if self.camera_events is not None:
                self.camera_events.close()  # after the outputs: the last clips, then the events file
        return self.summarise(stats)

    def summarise(self, stats: PipelineStats) -> RunSummary:
        """The summary of a run whose pipeline ended with ``stats``."""
        labels = self.detector.labels if self.detector is not None else []
        per_class: dict[str, int] = {}
        if self._detect_stage is not None:
            for cid, n in self._detect_stage.per_class.items():
                per_class[labels[cid] if 0 <= cid < len(labels) else f"class_{cid}"] = n
        return RunSummary(
            source=self.display,
            # Only files that exist: no video when no frame arrived (or none reached the disk).
            video=self._video_written(),
            jsonl=self.jsonl_path if self._jsonl is not None and self.jsonl_path is not None and self.jsonl_path.exists() else None,
            frames=stats.frames_out,
            elapsed=stats.elapsed,
            stages=stats.stages,
            per_class=per_class,
            detector_runs=self._detect_stage.runs if self._detect_stage is not None else 0,
            provider=self.detector.provider if self.detector is not None else None,
            interrupted=self._interrupted.is_set(),
            dropped=stats.dropped,
            startup=self.startup,
            detect_workers=self._service.workers if self._service is not None else len(self.detectors),
            reconnects=getattr(self.source, "reconnects", 0),
            live=self.live_figures(stats) if self.live or self.settings.realtime else None,
            outputs=self._output.stats() if self._output is not None else [],
        )

    def _video_written(self) -> Path | None:
        video = self._output.output(VideoOutput.name) if self._output is not None else None
        return video.written if isinstance(video, VideoOutput) else None
