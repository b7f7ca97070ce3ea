"""One detector shared by all the cameras of a process: fair turns, batches, graceful overload.

Cameras do not own detector sessions any more; each holds a :class:`DetectorClient` of one
:class:`DetectorService` and asks it for detections, one frame at a time, from its detect
stage's threads (:meth:`DetectorClient.detect` blocks; :meth:`DetectorClient.submit`
returns a future). The service has one worker thread per ONNX Runtime session
(``streamer-detector-N``); each takes the next requests:

- **fairly**: round-robin across the cameras that have a frame waiting, weighted by each
  camera's ``priority`` (stride scheduling: a camera's turn comes every ``1 / priority``
  rounds; one that was idle rejoins at the current round, with no credit saved up), so no
  camera starves however many frames another one sends;
- **in batches** of up to ``max_batch`` frames, waiting at most ``max_wait`` seconds for a
  batch to fill (a share of the latency budget), when the model's graph takes a dynamic
  batch (:mod:`streamer.detection.batching`, checked against batch 1 at warm-up); otherwise
  one frame after another.

Live cameras' detection intervals follow the load (:mod:`streamer.detection.pacing`): the
service measures its own milliseconds per frame (at warm-up, then as it runs) and each
camera's frame rate, and grows or shrinks the intervals so the detections asked for fit what
it does. Files are never paced: their frames wait (back-pressure), none is skipped.

Which runs more frames per second on a CPU, one batched session or a session per core, is
measured by ``scripts/bench_capacity.py --model-only`` (see :data:`CPU_BATCH`).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from streamer.detection.batching import (
    BATCH_TOLERANCE,
    check_batch,
    dynamic_batch,
    probe_pictures,
)
from streamer.detection.detections import Detections
from streamer.detection.detector import Detector, Transform
from streamer.detection.pacing import Demand, IntervalController, admission
from streamer.detection.session import open_like
from streamer.errors import StreamerError

if TYPE_CHECKING:
    from streamer.config import RunSettings

log = logging.getLogger("streamer")

#: Frames per inference on a CPU. ``scripts/bench_capacity.py --model-only`` on the 2-core
#: machine (YOLOX-Nano, 4 cameras, frames per CPU-second against separate per-camera
#: sessions; two runs on a busy machine): two single-threaded sessions at batch 1, 2, 4, 8:
#: 0.97/1.18x, 0.99/1.08x, 1.02/1.19x, 0.95/1.19x; one two-threaded session at batch 2, 4,
#: 8: 0.91/1.06x, 0.90/1.10x, 0.84/0.88x. Batching buys nothing measurable over batch 1 on
#: this CPU and costs latency (a frame waits for its batch): one frame per inference.
CPU_BATCH = 1
#: Frames per inference on a GPU (CUDA), where one inference of 8 frames costs little more
#: than one of 1 (a small detector does not fill the device; launches and copies are per
#: inference). Not measured here (no GPU on the development machine).
GPU_BATCH = 8
#: Latency budget assumed when no camera sets ``max_latency`` (seconds).
DEFAULT_BUDGET_S = 0.25
#: Share of the latency budget a worker may wait for a batch to fill.
BATCH_WAIT_SHARE = 0.1
#: Seconds between two revisions of the intervals.
REBALANCE_S = 0.25
#: Seconds of frames over which a camera's frame rate and detection rate are measured.
RATE_WINDOW_S = 2.0
#: A frame index this far below the last one seen means the source started counting again.
RESTART_GAP = 64
#: Weight of the newest batch in the running estimate of milliseconds per frame.
EWMA = 0.2


class ServiceClosed(StreamerError):
    """A request to a detector service that was closed."""


class Prepared(NamedTuple):
    """A frame already written into the model's input by the camera (what
    :meth:`Detector.prepare` does): what crosses processes when the detector runs in another
    one (:mod:`streamer.engines.ray_detectors`), instead of the whole frame.

    ``tensor``: shape (1, 3, H, W) float32, the model's input size; ``transform``: how its
    pixels map back to the frame's.
    """

    tensor: np.ndarray
    transform: Transform


@dataclass
class _Request:
    client: DetectorClient
    image: np.ndarray | Prepared
    future: Future[Detections]
    submitted: float


@dataclass
class _Window:
    """Times (and values) of recent events, for a rate over the last ``RATE_WINDOW_S``.

    ``count``: the values are a running count (frame indices), for :meth:`slope`. Several
    stage threads report frames a little out of order: a value below the last is left out,
    unless it is far below (the count started again: a source re-opened), which starts a
    new series.
    """

    items: deque[tuple[float, float]] = field(default_factory=deque)
    count: bool = False

    def add(self, t: float, value: float = 0.0) -> None:
        if self.count and self.items and value < self.items[-1][1]:
            if value > self.items[-1][1] - RESTART_GAP:
                return
            self.items.clear()
        self.items.append((t, value))
        while self.items and self.items[0][0] < t - RATE_WINDOW_S:
            self.items.popleft()

    def per_second(self, now: float) -> float:
        recent = [t for t, _ in self.items if t >= now - RATE_WINDOW_S]
        return len(recent) / RATE_WINDOW_S if recent else 0.0

    def slope(self) -> float | None:
        """Values per second between the oldest and the newest item (None below 0.5 s)."""
        if len(self.items) < 2:
            return None
        (t0, v0), (t1, v1) = self.items[0], self.items[-1]
        return (v1 - v0) / (t1 - t0) if t1 - t0 >= 0.5 and v1 >= v0 else None


class DetectorClient:
    """One camera's handle on a :class:`DetectorService` (from :meth:`DetectorService.client`).

    Attributes
    ----------
    name : str
    priority : float
        Weight of its turns against the other cameras'.
    every, every_max : int
        Its smallest and largest detection interval.
    adaptive : bool
        Whether its interval follows the load (live cameras); a file's stays ``every``.
    interval : int
        Detect every ``interval``-th frame, now.
    """

    def __init__(self, service: DetectorService, name: str, *, priority: float, every: int,
                 every_max: int, adaptive: bool) -> None:
        if priority <= 0:
            raise ValueError(f"priority must be > 0, got {priority}")
        if every < 1:
            raise ValueError(f"detect every must be >= 1, got {every}")
        self.service = service
        self.name = name
        self.priority = float(priority)
        self.every = int(every)
        self.every_max = max(int(every), int(every_max))
        self.adaptive = adaptive
        self.interval = self.every
        self.frames = self.submitted = self.detected = self.failed = 0
        self._pending: deque[_Request] = deque()
        self._pass = 0.0
        self._arrivals = _Window(count=True)
        self._done = _Window()
        self._waits = _Window()
        self.closed = False

    def __repr__(self) -> str:
        return f"DetectorClient({self.name!r}, priority={self.priority}, interval={self.interval})"

    @property
    def labels(self) -> tuple[str, ...]:
        return self.service.detector.labels

    @property
    def fps(self) -> float | None:
        """Frames per second the camera delivers (from its frames' indices and capture times)."""
        return self._arrivals.slope()

    def schedule(self, index: int, capture_time: float, *, still: bool = False) -> bool:
        """Count a frame and say whether it is to be detected.

        A frame is detected when its index is a multiple of the current interval (decided
        from the frame alone, so several stage threads agree) and it is not ``still``
        (the motion gate). Frames dropped before the detector still count toward the frame
        rate, as their indices are the decoder's.
        """
        detect = not still and index % self.interval == 0
        self.count(index, capture_time)
        return detect

    def count(self, index: int, capture_time: float, frames: int = 1) -> None:
        """Count ``frames`` frames of the camera, the newest ``index`` captured at ``capture_time``
        (:meth:`schedule` counts one; a camera in another process reports several at once)."""
        with self.service._cond:
            self.frames += frames
            self._arrivals.add(capture_time, float(index))
        self.service._tick()

    def submit(self, image: np.ndarray | Prepared) -> Future[Detections]:
        """Queue one BGR frame, shape (H, W, 3) uint8, or one :class:`Prepared` by the camera;
        its :class:`Detections` come in the future."""
        return self.service._submit(self, image)

    def detect(self, image: np.ndarray) -> Detections:
        """Detect objects in one BGR frame (H, W, 3) uint8, waiting for the service's turn."""
        return self.submit(image).result()

    def figures(self) -> dict[str, Any]:
        """Per-camera figures: frames seen, submitted, detected, skipped, the interval; the frame
        rate, detections per second and wait p95 (submitted to detected) over the last seconds."""
        now = time.monotonic()
        with self.service._cond:
            waits = [w for t, w in self._waits.items if t >= now - RATE_WINDOW_S]
            fps = self.fps
            return {
                "camera": self.name,
                "priority": self.priority,
                "interval": self.interval,
                "frames": self.frames,
                "submitted": self.submitted,
                "detected": self.detected,
                "skipped": self.frames - self.submitted,
                "fps_in": None if fps is None else round(fps, 2),
                "detect_fps": round(self._done.per_second(now), 2),
                "wait_ms_p95": round(float(np.percentile(waits, 95)), 1) if waits else None,
            }

    def close(self) -> None:
        """Leave the service: its share goes back to the other cameras."""
        self.service._leave(self)


class _Worker:
    """One session's thread: its detector and, when the graph batches, a batched session."""

    def __init__(self, service: DetectorService, index: int, detector: Detector, graph: bytes | None) -> None:
        self.service = service
        self.detector = detector
        self.graph = graph
        self.batched: Any = None
        self.buffer: np.ndarray | None = None
        self.ms_per_frame: float | None = None
        self.error: BaseException | None = None
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self.main, name=f"streamer-detector-{index}", daemon=True)

    def _open_batched(self) -> None:
        session, tensor, names = self.detector.model_io
        threads = session.get_session_options().intra_op_num_threads or None
        self.batched = open_like(self.graph, session, threads)  # type: ignore[arg-type]
        self.buffer = np.zeros((self.service.max_batch, *tensor.shape[1:]), np.float32)
        pictures = probe_pictures(*self.detector.input_size, n=min(3, self.service.max_batch))
        batch = np.stack([self._prepared(p)[0] for p in pictures])
        worst = check_batch(session, self.batched, names, batch)
        if worst > BATCH_TOLERANCE:
            log.info("detector %s: batched outputs differ from batch 1 by %.3g: one frame per inference",
                     self.detector.path.name, worst)
            self.batched = self.buffer = None

    def _prepared(self, image: np.ndarray | Prepared) -> tuple[np.ndarray, Any]:
        """The model input for ``image`` (written into the detector's input) and its transform."""
        tensor = self.detector.model_io[1]
        if isinstance(image, Prepared):
            np.copyto(tensor, image.tensor)
            return tensor[0], image.transform
        return tensor[0], self.detector.prepare(image)

    def _one(self, image: np.ndarray | Prepared) -> Detections:
        if not isinstance(image, Prepared):
            return self.detector.detect(image)
        transform = self._prepared(image)[1]
        return self.detector.decode(self.detector.infer(), transform)

    def run(self, images: Sequence[np.ndarray | Prepared]) -> list[Detections | BaseException]:
        """Detections for each image, or the exception that image raised."""
        if self.batched is None or len(images) == 1:
            out: list[Detections | BaseException] = []
            for image in images:
                try:
                    out.append(self._one(image))
                except Exception as exc:  # noqa: BLE001 - that camera's failure, handed to it
                    out.append(exc)
            return out
        assert self.buffer is not None
        session, _, names = self.detector.model_io
        transforms = []
        for i, image in enumerate(images):
            prepared, transform = self._prepared(image)
            self.buffer[i] = prepared
            transforms.append(transform)
        raw = self.batched.run(names, {session.get_inputs()[0].name: self.buffer[:len(images)]})
        return [self.detector.decode({k: v[i:i + 1] for k, v in zip(names, raw)}, t) for i, t in enumerate(transforms)]

    def warmup(self) -> None:
        """Check batching, then time a full batch: the service's first milliseconds per frame."""
        width, height = self.detector.input_size
        self.detector.warmup()
        if self.graph is not None and self.service.max_batch > 1:
            self._open_batched()
        n = self.service.max_batch if self.batched is not None else 1
        pictures = probe_pictures(width, height, n=n, seed=1)
        t0 = time.perf_counter()
        self.run(pictures)
        self.ms_per_frame = 1000.0 * (time.perf_counter() - t0) / n

    def main(self) -> None:
        # Numba's thread count is per thread: one here (preprocess), as in every stage.
        import numba

        numba.set_num_threads(1)
        try:
            self.warmup()
        except BaseException as exc:  # noqa: BLE001 - raised by DetectorService.start
            self.error = exc
            self.ready.set()
            return
        self.ready.set()
        self.service._serve(self)


class DetectorService:
    """A detector shared by several cameras: fair turns, batches, paced intervals.

    Parameters
    ----------
    detectors : sequence of Detector
        One per worker thread (each with its own ONNX Runtime session), all of the same model
        and settings; the first one's ``labels``, ``card`` and ``provider`` describe the service.
    max_batch : int
        Most frames per inference (1: one at a time).
    max_wait : float
        Seconds a worker waits for a batch to fill once it holds one frame.
    controller : IntervalController, optional
        Paces the live cameras' intervals (default: :mod:`~streamer.detection.pacing`'s).
    rebalance : float
        Seconds between two revisions of the intervals.

    Attributes
    ----------
    ms_per_frame : float or None
        Running estimate of one frame's inference time on one worker (after :meth:`start`).
    batching : bool
        Whether frames really go through the model in batches (known after :meth:`start`).
    admission : str or None
        The last warning given because the cameras could not be held even at their largest
        intervals (checked when every live camera's frame rate is known, and again when one
        joins or leaves).

    Examples
    --------
    >>> with DetectorService([Detector()]) as service:            # doctest: +SKIP
    ...     door = service.client("door")
    ...     detections = door.detect(frame)
    """

    def __init__(self, detectors: Sequence[Detector], *, max_batch: int = 1, max_wait: float = 0.0,
                 controller: IntervalController | None = None, rebalance: float = REBALANCE_S) -> None:
        if not detectors:
            raise ValueError("a detector service needs at least one detector")
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        self.detectors = list(detectors)
        self.detector = self.detectors[0]
        self.max_batch = int(max_batch)
        self.max_wait = float(max_wait)
        self.controller = controller or IntervalController()
        self.rebalance = rebalance
        self.admission: str | None = None
        self.ms_per_frame: float | None = None
        self._cond = threading.Condition()
        self._clients: list[DetectorClient] = []
        self._waiting = 0
        self._round = 0.0
        self._closed = False
        self._started = False
        self._last_rebalance = 0.0
        self._admitted: frozenset[str] = frozenset()
        self.batches = 0
        self.frames = 0
        # The graph the detector runs: edited for --detect-size, else its file.
        graph = dynamic_batch(self.detector.graph or self.detector.path) if self.max_batch > 1 else None
        self._workers = [_Worker(self, i, d, graph) for i, d in enumerate(self.detectors)]

    @classmethod
    def from_settings(cls, settings: RunSettings, *, cameras: Sequence[RunSettings] = ()) -> DetectorService:
        """The service for cameras that share ``settings``' detector settings.

        On a CPU: ``detect_workers`` sessions (default: 2 on 2+ cores) of ``threads`` threads
        (default: cores / sessions), ``detect_batch`` frames per inference (default
        :data:`CPU_BATCH`); on a GPU one session and :data:`GPU_BATCH`. A batch waits at most
        ``BATCH_WAIT_SHARE`` of the smallest latency budget among ``cameras``.

        Raises
        ------
        ModelError, DeviceError, ConfigError
            As :class:`Detector`.
        """
        s = settings
        cores = os.cpu_count() or 1
        first = Detector.from_settings(s, threads=s.threads or 1)
        on_cpu = first.provider.provider == "CPUExecutionProvider"
        workers = s.detect_workers or (min(2, cores) if on_cpu else 1)
        threads = s.threads or max(1, cores // workers)
        if threads != (s.threads or 1):
            first = Detector.from_settings(s, threads=threads)
        detectors = [first, *(Detector.from_settings(s, threads=threads) for _ in range(workers - 1))]
        # TensorRT builds an engine for each new input shape (seconds each): batches of varying
        # size would stall it, so it gets one frame per inference unless asked.
        tensorrt = first.provider.provider == "TensorrtExecutionProvider"
        max_batch = s.detect_batch or (CPU_BATCH if on_cpu else 1 if tensorrt else GPU_BATCH)
        budgets = [c.max_latency for c in (*cameras, s) if c.max_latency is not None]
        budget = min(budgets) if budgets else DEFAULT_BUDGET_S
        return cls(detectors, max_batch=max_batch, max_wait=BATCH_WAIT_SHARE * budget if max_batch > 1 else 0.0)

    # -- life cycle ----------------------------------------------------------------------------
    def start(self, *, wait: bool = True) -> DetectorService:
        """Start the workers, which warm up (and measure ``ms_per_frame``) in their threads.

        Parameters
        ----------
        wait : bool
            Wait for the warm-up (:meth:`ready`); False lets the caller do other set-up
            meanwhile (a fleet opens its cameras) and call :meth:`ready` later.

        Raises
        ------
        StreamerError
            With ``wait``: as :meth:`ready`.
        """
        with self._cond:
            started, self._started = self._started, True
        if not started:
            for w in self._workers:
                w.thread.start()
        return self.ready() if wait else self

    def ready(self) -> DetectorService:
        """Wait for the workers' warm-up.

        Raises
        ------
        StreamerError
            A worker's warm-up failed (the model does not run); the service is closed.
        """
        for w in self._workers:
            w.ready.wait()
        failed = next((w.error for w in self._workers if w.error is not None), None)
        if failed is not None:
            self.close()
            raise failed
        times = [w.ms_per_frame for w in self._workers if w.ms_per_frame is not None]
        with self._cond:
            if self.ms_per_frame is None and times:
                self.ms_per_frame = float(np.median(times))
        return self

    def close(self) -> None:
        """Finish the requests queued, then end the workers; later requests fail."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        for w in self._workers:
            if w.thread.ident is not None and w.thread is not threading.current_thread():
                w.thread.join()
        with self._cond:  # left only by workers that never served (their warm-up failed)
            left = [c._pending.popleft() for c in self._clients for _ in range(len(c._pending))]
            self._waiting = 0
        for r in left:
            r.future.set_exception(ServiceClosed(f"detector service closed; frame of camera {r.client.name} not detected"))

    def __enter__(self) -> DetectorService:  # noqa: PYI034 - Self needs Python 3.11
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def workers(self) -> int:
        return len(self._workers)

    @property
    def batching(self) -> bool:
        return any(w.batched is not None for w in self._workers)

    @property
    def capacity(self) -> float | None:
        """Frames per second the workers get through together, from ``ms_per_frame``."""
        return None if not self.ms_per_frame else self.workers * 1000.0 / self.ms_per_frame

    def describe(self) -> str:
        """One line: sessions, batch and measured speed."""
        speed = "" if self.ms_per_frame is None else f", {self.ms_per_frame:.1f} ms per frame per worker"
        batch = f"batches of up to {self.max_batch}" if self.batching else "one frame per inference"
        return f"shared detector: {self.workers} worker{'s' if self.workers > 1 else ''}, {batch}{speed}"

    # -- clients -------------------------------------------------------------------------------
    def client(self, name: str, *, priority: float = 1.0, every: int = 1, every_max: int = 8,
               adaptive: bool = False) -> DetectorClient:
        """A new camera's handle (see :class:`DetectorClient`); names are unique per service."""
        with self._cond:
            if self._closed:
                raise ServiceClosed(f"detector service closed; camera {name} cannot join")
            if any(c.name == name for c in self._clients):
                raise ValueError(f"camera {name!r} is already a client of this detector service")
            c = DetectorClient(self, name, priority=priority, every=every, every_max=every_max, adaptive=adaptive)
            self._clients.append(c)
            return c

    @property
    def clients(self) -> list[DetectorClient]:
        with self._cond:
            return list(self._clients)

    def _leave(self, client: DetectorClient) -> None:
        with self._cond:
            client.closed = True
            if client in self._clients:
                self._clients.remove(client)
            self.controller.forget(client.name)
            self._admitted = frozenset()  # a later joiner is checked again

    def figures(self) -> dict[str, Any]:
        """Service-wide figures and each camera's (``cameras``)."""
        return {
            "workers": self.workers, "max_batch": self.max_batch, "batching": self.batching,
            "ms_per_frame": None if self.ms_per_frame is None else round(self.ms_per_frame, 2),
            "capacity_fps": None if self.capacity is None else round(self.capacity, 1),
            "frames": self.frames, "batches": self.batches,
            "cameras": [c.figures() for c in self.clients],
        }

    # -- requests ------------------------------------------------------------------------------
    def _submit(self, client: DetectorClient, image: np.ndarray | Prepared) -> Future[Detections]:
        if not self._started:
            self.start()
        future: Future[Detections] = Future()
        with self._cond:
            if self._closed or client.closed:
                raise ServiceClosed(f"detector service closed; frame of camera {client.name} not detected")
            if not client._pending:
                # Back from idle: its turn comes in the current round, with no credit saved up.
                client._pass = max(client._pass, self._round)
            client._pending.append(_Request(client, image, future, time.monotonic()))
            client.submitted += 1
            self._waiting += 1
            self._cond.notify()
        return future

    def _pick(self) -> _Request:
        """The next request: the waiting camera with the smallest pass (stride scheduling)."""
        client = min((c for c in self._clients if c._pending), key=lambda c: c._pass)
        self._round = client._pass
        client._pass += 1.0 / client.priority
        self._waiting -= 1
        return client._pending.popleft()

    def _take(self, limit: int) -> list[_Request] | None:
        """Up to ``limit`` requests, fairly; None once closed and drained."""
        with self._cond:
            while not self._waiting:
                if self._closed:
                    return None
                self._cond.wait()
            batch = [self._pick()]
            deadline = time.monotonic() + self.max_wait
            while len(batch) < limit:
                if self._waiting:
                    batch.append(self._pick())
                    continue
                left = deadline - time.monotonic()
                if left <= 0 or self._closed:
                    break
                self._cond.wait(left)
            return batch

    def _serve(self, worker: _Worker) -> None:
        limit = self.max_batch if worker.batched is not None else 1
        while True:
            batch = self._take(limit)
            if batch is None:
                return
            t0 = time.perf_counter()
            try:
                results = worker.run([r.image for r in batch])
            except Exception as exc:  # noqa: BLE001 - the whole inference failed: every frame in it
                results = [exc] * len(batch)
            seconds = time.perf_counter() - t0
            now = time.monotonic()
            with self._cond:
                per_frame = 1000.0 * seconds / len(batch)
                self.ms_per_frame = per_frame if self.ms_per_frame is None else (1 - EWMA) * self.ms_per_frame + EWMA * per_frame
                self.batches += 1
                self.frames += len(batch)
                for r, res in zip(batch, results):
                    r.client._waits.add(now, 1000.0 * (now - r.submitted))
                    if isinstance(res, BaseException):
                        r.client.failed += 1
                    else:
                        r.client.detected += 1
                        r.client._done.add(now)
            for r, res in zip(batch, results):
                if isinstance(res, BaseException):
                    r.future.set_exception(res)
                else:
                    r.future.set_result(res)
            self._tick()

    # -- pacing --------------------------------------------------------------------------------
    def _tick(self) -> None:
        now = time.monotonic()
        if now - self._last_rebalance < self.rebalance:
            return
        with self._cond:
            if now - self._last_rebalance < self.rebalance:
                return
            self._last_rebalance = now
            self._pace(now)

    def _pace(self, now: float) -> None:
        """Revise the live cameras' intervals (under the lock); warn once when they cannot fit."""
        capacity = self.capacity
        if capacity is None:
            return
        live = [c for c in self._clients if c.adaptive]
        files = [c for c in self._clients if not c.adaptive]
        if files and live:  # files take what they are given: their weighted share is not the cameras'
            capacity *= sum(c.priority for c in live) / sum(c.priority for c in self._clients)
        demands = [Demand(c.name, fps, c.priority, c.every, c.every_max) for c in live if (fps := c.fps)]
        intervals = self.controller.update(demands, capacity, now)
        for c in live:
            c.interval = intervals.get(c.name, c.interval)
        names = frozenset(d.name for d in demands)
        if live and len(demands) == len(live) and names != self._admitted:
            self._admitted = names
            message = admission(demands, capacity, self.ms_per_frame or 0.0, self.workers)
            if message is not None and message != self.admission:
                log.warning("streamer: warning: %s", message)
                self.admission = message
