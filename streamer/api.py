"""``streamer.stream``: the pipeline as a Python loop, one :class:`Result` per frame.

The loop runs the very pipeline ``streamer run`` runs (:class:`~streamer.runner.Runner`:
the same decode, kernel, detector and overlay threads and bounded queues); only its last
stage differs, a :class:`~streamer.outputs.handoff.HandoffStage` that hands finished frames
to the caller's thread through one more bounded queue.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from streamer.config import RunSettings, settings_from
from streamer.detection.detections import Detections
from streamer.errors import ConfigError, PipelineError, StreamerError, did_you_mean
from streamer.frames import Frame
from streamer.queues import QueueAborted, QueueClosed
from streamer.runner import Runner, RunSummary
from streamer.sources import SourceInfo

if TYPE_CHECKING:
    from streamer.analytics import AnalyticsResult

log = logging.getLogger("streamer")

# Seconds between a live run's stats records while the loop waits for a frame (the
# pipeline's own wait slices in ``Pipeline.run`` are this long too).
TICK_S = 0.2
# Seconds the threads get to end after the loop stops: they stop within milliseconds
# (every queue is aborted) unless a stage is in the middle of one frame; the slowest such
# step measured here is a detector warm-up, ~0.3 s on 2 cores.
STOP_TIMEOUT_S = 10.0

# Streams still running, closed at interpreter exit: daemon threads left inside ONNX Runtime
# or FFmpeg while the interpreter finalises abort the process ("terminate called without
# an active exception", seen with a stream kept referenced to the end of a script).
_RUNNING: weakref.WeakSet[Stream] = weakref.WeakSet()


@atexit.register
def _close_running() -> None:
    for s in list(_RUNNING):
        try:
            s.close()
        except Exception as exc:  # noqa: BLE001 - exiting: report and go on
            log.warning("streamer.stream: %s", exc)


@dataclass(frozen=True, slots=True, eq=False)
class Result:
    """One processed frame, as :func:`stream` yields it.

    Attributes
    ----------
    index : int
        0-based position in the source's decode order (a live source's frames dropped
        for latency leave gaps).
    pts : int or None
        Presentation timestamp in the video stream's time base, as in the source.
    time : float or None
        ``pts`` in seconds (None for a frame without a timestamp, e.g. the first frame
        of some RTSP streams).
    image : numpy.ndarray, shape (H, W, 3), uint8
        BGR picture after the kernels, with the overlay (boxes, labels, edges, HUD) drawn.
        Yours: the outputs were written before it was handed over.
    original : numpy.ndarray, shape (H, W, 3), uint8
        The same picture before the overlay: what the detector saw (after the kernels,
        so boxes are in its pixels). The same array as ``image`` when nothing is drawn.
    detections : Detections
        Boxes (N, 4) in ``original``'s pixels, scores and class ids, with the model's
        ``labels``; empty without a detector. With ``detect_every`` > 1, frames between
        reuse the last detected frame's boxes.
    detected : bool
        The detector ran on this very frame.
    wall_time : float or None
        Live sources: capture time, seconds since the epoch.
    analytics : AnalyticsResult or None
        With zones or lines: their counts after this frame (``zones``, ``lines``) and the
        events decided on it (``events``: enter, exit, loiter, cross); None without.
    """

    index: int
    pts: int | None
    time: float | None
    image: np.ndarray
    original: np.ndarray
    detections: Detections
    detected: bool
    wall_time: float | None = None
    analytics: AnalyticsResult | None = None

    @property
    def names(self) -> dict[int, str]:
        """Class names by id, as Ultralytics' ``result.names``."""
        return self.detections.names

    def to_records(self) -> list[dict[str, Any]]:
        """One dict per detection, with the frame: ``pandas.DataFrame(r.to_records())``.

        Returns
        -------
        list of dict
            ``{"frame", "time", "label", "class_id", "score", "box"}`` (``"track_id"``
            too when set), as in the JSONL.
        """
        return [{"frame": self.index, "time": self.time, **rec} for rec in self.detections.to_records()]

    def __repr__(self) -> str:
        h, w = self.image.shape[:2]
        return (f"Result(index={self.index}, time={self.time}, image={w}x{h}, "
                f"detections={len(self.detections)}, detected={self.detected})")


class Stream:
    """An iterator of :class:`Result` over one source; what :func:`stream` returns.

    The pipeline's threads start when the stream is created. Leaving the loop in any
    way (``break``, an exception in its body, ``close()``, the end of a ``with`` block, or
    the stream being garbage collected) stops every thread and closes every output; the
    files written so far stay playable.

    Attributes
    ----------
    settings : RunSettings
        The validated settings.
    info : SourceInfo or None
        A file's container, size, frame rate and frame count; None for a live source.
    expected_frames : int or None
        Frames a file will give (within ``max_frames``/``duration``), for a progress bar.
    names : dict of int to str
        The detector's class names by id (empty without a detector).
    summary : RunSummary or None
        Frames, timings, per-class counts; set once the stream ended or was closed.
    """

    def __init__(self, settings: RunSettings) -> None:
        self._runner: Runner | None = None
        self._done = False
        self.settings = settings
        self.summary: RunSummary | None = None
        self._runner = Runner(settings, outputs=_requested_outputs(settings), deliver=True)
        assert self._runner.handoff is not None
        self._handoff = self._runner.handoff
        labels = self._runner.detector.labels if self._runner.detector is not None else ()
        self._labels = tuple(labels)
        self._no_detections = Detections.empty(self._labels)
        self.info: SourceInfo | None = self._runner.info
        self.expected_frames: int | None = self._runner.expected_frames
        self.names = dict(enumerate(self._labels))
        self._runner.pipeline.start()
        _RUNNING.add(self)

    # -- iteration -------------------------------------------------------------------
    def __iter__(self) -> Iterator[Result]:
        return self

    def __next__(self) -> Result:
        if self._done:
            raise StopIteration
        assert self._runner is not None
        while True:
            try:
                frame, original = self._handoff.queue.get(timeout=TICK_S)
            except TimeoutError:
                self._runner.tick(self._runner.pipeline.stats())
                continue
            except (QueueClosed, QueueAborted):
                self._end()
                raise StopIteration from None
            return self._result(frame, original)

    def _result(self, frame: Frame, original: np.ndarray) -> Result:
        dets = frame.detections
        return Result(
            index=frame.index, pts=frame.pts, time=frame.time, image=frame.image, original=original,
            detections=self._no_detections if dets is None else replace(dets, labels=self._labels),
            detected=frame.detected, wall_time=frame.wall_time, analytics=frame.analytics,
        )

    # -- ending ----------------------------------------------------------------------
    def close(self) -> None:
        """Stop now: drop the frames in flight, stop every thread, close every output.

        Idempotent. Waits (at most ``STOP_TIMEOUT_S``) for the threads to end.

        Raises
        ------
        StreamerError
            An output could not be closed, or a worker failed before the stop.
        """
        if self._done or self._runner is None:
            return
        self._runner.stop()  # a live source stops connecting or reading
        self._runner.abort()  # every queue: frames in flight are dropped, stages finish
        self._handoff.queue.abort()  # the last stage may wait on a full hand-over queue
        self._end()

    def _end(self) -> None:
        """Wait for the threads, release the source, summarise, raise a worker's failure."""
        self._done = True
        _RUNNING.discard(self)
        runner = self._runner
        assert runner is not None
        if threading.current_thread().name.startswith(runner.pipeline.name + "-"):
            # Garbage collected inside one of its own threads: the threads end by themselves.
            return
        if not runner.pipeline.wait(STOP_TIMEOUT_S):
            alive = [t.name for t in threading.enumerate() if t.name.startswith(runner.pipeline.name + "-")]
            raise StreamerError(f"{runner.display}: threads still running {STOP_TIMEOUT_S:.0f} s after the stop: "
                                f"{', '.join(alive)}")
        runner.source.close()
        if runner.camera_events is not None:
            runner.camera_events.close()  # after the outputs: the last clips, then the events file
        self.summary = runner.summarise(runner.pipeline.stats())
        _raise_failure(runner)

    def __enter__(self) -> Stream:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        if exc_type is None:
            self.close()
            return
        try:  # the loop body's exception is the one to see; a stop failure is only reported
            self.close()
        except StreamerError as exc:
            log.warning("streamer.stream: %s", exc)

    def __del__(self) -> None:
        try:
            self.close()
        except Exception as exc:  # noqa: BLE001 - nobody left to raise to: say it
            log.warning("streamer.stream: %s", exc)

    # -- figures ---------------------------------------------------------------------
    @property
    def dropped(self) -> int:
        """Frames dropped before reaching the loop: by the pipeline (live: newest frame wins,
        too old) and because the loop body was slower than the source (live only)."""
        assert self._runner is not None
        return self._runner.pipeline.stats().dropped + self._handoff.dropped

    def describe(self) -> str:
        """One line on what runs: source, size, kernels, model, device."""
        assert self._runner is not None
        return self._runner.describe()

    def __repr__(self) -> str:
        state = "ended" if self._done else "running"
        return f"<streamer.Stream {self._runner.display if self._runner else '?'} ({state})>"


def _raise_failure(runner: Runner) -> None:
    """A worker's failure as the product's exception: its own when it is one (a
    :class:`SourceError` from a camera that gave up), else :class:`PipelineError`."""
    try:
        runner.pipeline.raise_if_failed()
    except PipelineError as exc:
        if isinstance(exc.__cause__, StreamerError):
            raise exc.__cause__ from None
        raise


def _requested_outputs(settings: RunSettings) -> tuple[Path | None, Path | None]:
    """Files a stream writes: none unless asked for (``out``, ``jsonl``; ``out_dir``: both,
    named as ``streamer run`` names them)."""
    if settings.out_dir is not None:
        return settings.outputs_for(settings.source or "")
    return (None if settings.no_video else settings.out), settings.jsonl


def _validated(source: str | os.PathLike[str], options: dict[str, Any]) -> RunSettings:
    """``RunSettings`` from keyword arguments; one-line :class:`ConfigError` otherwise."""
    fields = [f for f in RunSettings.model_fields if f != "source"]
    for key in options:
        if key not in fields:
            raise ConfigError(f"stream(): {key}: unknown setting{did_you_mean(key, fields)}")
    if options.get("cameras"):
        raise ConfigError("stream(): cameras: one stream runs one source; call stream() once per camera")
    return settings_from({**options, "source": os.fspath(source)}, origin="stream()")


def stream(source: str | os.PathLike[str], **settings: Any) -> Stream:
    """Process a video file, stream URL or webcam and yield one :class:`Result` per frame.

    The frames come from the same threaded pipeline as ``streamer run`` (decode, kernels,
    detector, overlay, each in its own thread behind a bounded queue), so decoding and
    detection of the next frames go on while your loop body runs. By default no file is
    written; pass ``out=`` and/or ``jsonl=`` to also write the annotated video and the
    detections, exactly as ``streamer run`` writes them.

    Parameters
    ----------
    source : str or path-like
        A video file; an ``rtsp://``, ``http(s)://`` URL or ``/dev/videoN`` for a live
        source (it reconnects by itself; frames your loop is too slow for are skipped,
        the newest frame wins).
    **settings
        Any ``streamer run`` setting, with the same name and default as the CLI option
        and the YAML key (:class:`~streamer.config.RunSettings`): e.g. ``model`` (None:
        the bundled detector), ``conf``, ``iou``, ``classes``, ``detect=False`` (kernels
        only, as ``--no-detect``), ``detect_every``, ``kernels``, ``device``,
        ``max_frames``, ``out``, ``jsonl``. All of them, with their defaults:

{settings_table}

    Returns
    -------
    Stream
        An iterator of :class:`Result` (``index``, ``time``, ``pts``, ``image`` (H, W, 3)
        uint8 BGR with the overlay, ``original`` without it, ``detections``,
        ``detected``). Leaving the loop early (``break``, an exception) stops every thread
        and closes the outputs; ``with stream(...) as frames:`` does it at a known point.

    Raises
    ------
    ConfigError
        An unknown setting (with a suggestion) or an invalid value, at the call.
    SourceError, ModelError, DeviceError
        A file that cannot be opened, a bad model or an unusable device, at the call.
    StreamerError
        While iterating: a worker failed (the original error is raised when it is one of
        the product's, e.g. ``SourceError`` for a camera that gave up; otherwise
        :class:`PipelineError`, with the cause attached).

    Examples
    --------
    >>> import streamer
    >>> for r in streamer.stream("street.mp4", classes=["person", "car"]):  # doctest: +SKIP
    ...     people = r.detections[r.detections.class_name == "person"]
    ...     print(f"{r.time:6.2f} s  {len(people)} people")
    >>> for r in streamer.stream("clip.mp4", detect=False,                  # doctest: +SKIP
    ...                          kernels="white_balance=grayworld,gamma=0.8"):
    ...     cv2.imshow("clip", r.image)
    """
    return Stream(_validated(source, settings))


def _settings_table() -> str:
    lines = []
    for name, info in RunSettings.model_fields.items():
        if name in {"source", "cameras"}:
            continue
        default = info.default_factory() if info.default_factory is not None else info.default  # type: ignore[call-arg]
        text = f"        {name}={default!r}"
        if info.description:
            text += f": {info.description}"
        lines.append(text)
    return "\n".join(lines)


if stream.__doc__:  # None under python -OO
    stream.__doc__ = stream.__doc__.replace("{settings_table}", _settings_table())
