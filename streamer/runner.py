"""The Python API behind ``streamer run``: build a pipeline from settings and run it.

>>> from streamer import RunSettings, Runner
>>> summary = Runner(RunSettings(source="clip.mp4")).run()   # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from streamer import kernels
from streamer.config import RunSettings
from streamer.detection import Detector, ProviderChoice
from streamer.errors import ConfigError
from streamer.frames import Frame
from streamer.kernel_chain import KernelChain, format_kernels
from streamer.overlay import Annotator, BoxAnnotator, EdgeAnnotator, HudAnnotator, LabelAnnotator, Overlay
from streamer.pipeline import Pipeline, PipelineStats, Stage, StageStats
from streamer.queues import Policy
from streamer.sinks.jsonl import JsonlSink
from streamer.sinks.video import VideoFileSink
from streamer.sources import FileSource, SourceInfo
from streamer.stages import DetectStage, KernelStage, OutputStage, OverlayStage

log = logging.getLogger("streamer")


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
            lines.append(f"  detector: {self.provider.provider} ({self.provider.reason}), ran on {self.detector_runs} frames"
                         f" with {self.detect_workers} worker{'s' if self.detect_workers > 1 else ''}")
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

    Construction validates and opens everything (source, model, outputs) so that bad
    input fails before any thread starts; :meth:`run` processes; :meth:`stop` (from a
    signal handler or another thread) ends it cleanly, keeping what was written.
    """

    def __init__(self, settings: RunSettings, *, detector: Detector | None = None) -> None:
        if settings.source is None:
            raise ConfigError("no source given")
        t0 = time.perf_counter()
        self.settings = settings
        self.source = FileSource(settings.source, max_frames=settings.max_frames, duration=settings.duration)
        self.info = self.source.open()
        try:
            self.detectors = [detector] if detector is not None else (self._detectors() if settings.detect else [])
            self.detector = self.detectors[0] if self.detectors else None
            self.chain = KernelChain(settings.kernels)
            self.video_path, self.jsonl_path = settings.outputs_for(settings.source)
            self.expected_frames = _expected_frames(self.info, settings)
            self.compile_seconds = kernels.warmup()
            self._jsonl = JsonlSink(self.jsonl_path, self.detector.labels if self.detector else [])
        except BaseException:
            self.source.close()
            raise
        self._interrupted = threading.Event()
        self._detect_stage: DetectStage | None = None
        self.pipeline = self._build()
        self.startup = time.perf_counter() - t0

    def _detectors(self) -> list[Detector]:
        """One detector per worker.

        On a CPU, two single-threaded sessions on successive frames get more frames
        through than one session with two threads (a small model parallelises poorly
        inside one inference); a GPU session wants a single feeder.
        """
        s = self.settings
        cores = os.cpu_count() or 1

        def make(threads: int) -> Detector:
            return Detector(s.model, device=s.device, conf=s.conf, iou=s.iou, classes=s.classes, threads=threads)

        first = make(s.threads or 1)
        on_cpu = first.provider.provider == "CPUExecutionProvider"
        workers = s.detect_workers or (min(2, cores) if on_cpu else 1)
        threads = s.threads or max(1, cores // workers)
        if threads != (s.threads or 1):
            first = make(threads)
        return [first, *(make(threads) for _ in range(workers - 1))]

    def _open_video(self, frame: Frame) -> VideoFileSink:
        assert self.video_path is not None
        v = self.source.video_stream
        rate = v.average_rate or v.guessed_rate if v is not None else None
        return VideoFileSink(
            self.video_path, width=frame.width, height=frame.height, time_base=frame.time_base,
            rate=Fraction(rate) if rate else None, audio=self.source.audio_stream,
            crf=self.settings.crf, preset=self.settings.preset,
        )

    def _build(self) -> Pipeline:
        s = self.settings
        stages: list[Stage] = []
        if self.chain:
            stages.append(KernelStage(self.chain))
        if self.detector is not None:
            self._detect_stage = DetectStage(self.detectors, every=s.detect_every)
            stages.append(self._detect_stage)
        annotators: list[Annotator] = []
        if self.chain.edges is not None and self.chain.edges.overlay:
            annotators.append(EdgeAnnotator(threshold=self.chain.edges.threshold, alpha=self.chain.edges.alpha))
        if self.detector is not None:
            annotators.append(BoxAnnotator())
            if s.labels:
                annotators.append(LabelAnnotator(self.detector.labels))
        if s.hud:
            annotators.append(HudAnnotator())
        if annotators and self.video_path is not None:
            stages.append(OverlayStage(Overlay(annotators)))
        stages.append(OutputStage(open_video=self._open_video if self.video_path is not None else None, jsonl=self._jsonl))
        return Pipeline(self.source.frames, stages, policy=Policy.BLOCK, queue_size=s.queue_size)

    def describe(self) -> str:
        """One line on what will run."""
        parts = [f"kernels: {format_kernels(self.chain.steps)}"]
        if self.detector is not None:
            parts.append(f"model: {self.detector.card.name} ({self.detector.card.family})")
            parts.append(f"device: {self.detector.provider.provider} ({self.detector.provider.reason})")
        return "; ".join(parts)

    def stop(self) -> None:
        """Finish early: stop decoding, process and write what is in flight, close outputs."""
        self._interrupted.set()
        self.pipeline.stop()

    def abort(self) -> None:
        """Finish now: drop what is in flight; outputs are still closed cleanly."""
        self._interrupted.set()
        self.pipeline.abort()

    def run(self, on_tick: Callable[[PipelineStats], None] | None = None) -> RunSummary:
        """Process the source to its end (or until stopped) and summarise.

        Raises
        ------
        PipelineError
            A stage failed; outputs were closed first, keeping every frame written.
        """
        try:
            stats = self.pipeline.run(on_tick)
        finally:
            self.source.close()
        labels = self.detector.labels if self.detector is not None else []
        per_class: dict[str, int] = {}
        if self._detect_stage is not None:
            for cid, n in self._detect_stage.per_class.items():
                per_class[labels[cid] if 0 <= cid < len(labels) else f"class_{cid}"] = n
        return RunSummary(
            source=self.settings.source or "",
            video=self.video_path,
            jsonl=self.jsonl_path,
            frames=stats.frames_out,
            elapsed=stats.elapsed,
            stages=stats.stages,
            per_class=per_class,
            detector_runs=self._detect_stage.runs if self._detect_stage is not None else 0,
            provider=self.detector.provider if self.detector is not None else None,
            interrupted=self._interrupted.is_set(),
            dropped=stats.dropped,
            startup=self.startup,
            detect_workers=len(self.detectors),
        )
