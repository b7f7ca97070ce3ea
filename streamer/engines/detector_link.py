"""A camera's link to its node's detector actor, behind the interface a detect stage uses.

:class:`RemoteService` stands where a camera's :class:`~streamer.detection.service.DetectorService`
stands for the :class:`~streamer.runner.Runner` (``client``, ``detector``, ``workers``), and
its clients are :class:`~streamer.detection.service.DetectorClient` objects (``schedule``,
``submit``, ``detect``, ``figures``): the detect stage has no second code path. What differs:

* the frame is prepared here, in the camera's detect stage threads (letterbox and scaling into
  the model's float32 input), and only that tensor and its transform cross to the node's
  actor (:mod:`streamer.engines.ray_detectors`);
* the camera's frame counts travel with its next request, for the node's pacing; the
  interval the node decides comes back with each answer, with the node's batch figures;
* every wait is bounded (:data:`DETECT_TIMEOUT_S`). When the node's detector does not answer
  (its actor died and is being restarted, or it hangs), a live camera's
  :meth:`RemoteClient.detect` returns None: the frame passes on without new detections (the
  last ones are lent to it, as between detected frames), and the camera skips detection for a
  backoff (0.25 s doubling to 5 s) before it tries again; a warning when that starts, a line
  when the detector is back. A file skips no frame: its frame is sent again after each backoff,
  for at most :data:`FILE_WAIT_S`, then the job fails with that reason (a failure the run
  reports itself: not retried). A failure of the model itself (an error raised by its decoder) fails the
  camera as in-process.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

import numpy as np

from streamer.config import RunSettings
from streamer.detection.detections import Detections
from streamer.detection.detector import prepare_input
from streamer.detection.service import DetectorClient, Prepared, ServiceClosed
from streamer.engines.ray_detectors import (
    NAMESPACE,
    DetectorPlan,
    actor_name,
    detector_key,
)
from streamer.errors import StreamerError
from streamer.retry import Backoff

log = logging.getLogger("streamer")

#: Longest wait for one frame's detections. On the 2-core machine (two paced cameras, one node
#: detector, load ~6) a frame's wait p95 was 48-105 ms; a killed node detector answered again
#: 0.3-2.6 s later (restarted, model loaded). A frame is not worth holding the camera's detect
#: threads longer than this.
DETECT_TIMEOUT_S = 3.0
#: Longest wait at a camera's start for its node's detector (the driver creates it at its next
#: poll, then the actor starts a process and loads the model); then the camera detects alone.
FIND_TIMEOUT_S = 60.0
#: Between tries while the node's detector does not answer.
BACKOFF = Backoff(initial=0.25, maximum=5.0)
#: Longest a file's frame waits for the node's detector to answer again (a restart took 3 s).
FILE_WAIT_S = 60.0


class DetectorUnavailable(StreamerError):
    """The node's detector actor did not answer (dead, restarting, lost, or too slow)."""


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


class RemoteModel:
    """The node's model as a camera's Runner reads it (labels, card, provider, precision),
    and what prepares the camera's frames for it (:meth:`prepare`); no session here."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.card = spec["card"]
        self.labels: tuple[str, ...] = self.card.labels
        self.provider = spec["provider"]
        self.precision = spec["precision"]
        self.path = spec["path"]
        # The edited graph (--detect-size) stays on the node: non-None says it was edited.
        self.graph: bytes | None = b"" if spec["resized"] else None
        self.input_size: tuple[int, int] = (self.card.input.width, self.card.input.height)

    def prepare(self, image: np.ndarray) -> Prepared:
        """``image`` (H, W, 3) uint8 BGR as the model's input, shape (1, 3, h, w) float32."""
        width, height = self.input_size
        tensor = np.empty((1, 3, height, width), np.float32)
        return Prepared(tensor, prepare_input(self.card.input, image, tensor))


class RemoteClient(DetectorClient):
    """One camera's client of its node's detector; see the module's notes for what differs."""

    service: RemoteService

    def __init__(self, service: RemoteService, name: str, **kwargs: Any) -> None:
        super().__init__(service, name, **kwargs)  # type: ignore[arg-type]
        self._unsent = 0
        self._newest: tuple[int, float] | None = None
        self._retry_at = 0.0
        self._failures = 0
        self._down_since: float | None = None
        self.join = (name, self.priority, self.every, self.every_max, self.adaptive)

    def schedule(self, index: int, capture_time: float, *, still: bool = False) -> bool:
        detect = super().schedule(index, capture_time, still=still)
        with self.service._cond:
            self._unsent += 1
            self._newest = (index, capture_time)
            # A live camera skips detection while the detector is away; a file waits in detect().
            return detect and (not self.adaptive or time.monotonic() >= self._retry_at)

    def _take_arrivals(self) -> tuple[int, float, int] | None:
        """Frames counted since the last request (under the lock), for the node's pacing."""
        if self._newest is None:
            return None
        sent, self._unsent = self._unsent, 0
        return (*self._newest, sent)

    def detect(self, image: np.ndarray) -> Detections | None:  # type: ignore[override]
        """Detections of one BGR frame (H, W, 3) uint8; for a live camera None when the node's
        detector did not answer within :data:`DETECT_TIMEOUT_S` (the frame passes on without
        new ones); a file's frame is sent again until it is answered.

        Raises
        ------
        DetectorUnavailable
            A file's frame was not answered for :data:`FILE_WAIT_S`.
        StreamerError
            The model failed on the node (as a camera's own detector would raise).
        """
        give_up = time.monotonic() + FILE_WAIT_S
        while True:
            future = self.submit(image)
            try:
                detections = future.result(timeout=self.service.timeout)
            except FutureTimeout:
                self.service.cancel(future)
                why = f"node detector: no answer in {self.service.timeout:g} s"
            except DetectorUnavailable as exc:
                why = str(exc)
            else:
                self._back(future.t0)  # type: ignore[attr-defined]
                return detections
            self._outage(why)
            if self.adaptive:
                return None
            if time.monotonic() > give_up:
                raise DetectorUnavailable(f"{why}, for {FILE_WAIT_S:g} s")
            time.sleep(max(0.05, self._retry_at - time.monotonic()))

    def _outage(self, why: str) -> None:
        now = time.monotonic()
        with self.service._cond:
            if now < self._retry_at:
                return  # another of the camera's frames already failed: one backoff step each try
            self._failures += 1
            self._retry_at = now + BACKOFF.delay(self._failures, self.service.rng)
            first, self._down_since = self._down_since is None, self._down_since or now
        if first:
            then = "frames pass on without new detections" if self.adaptive else "the file's frames wait"
            log.warning("%s: %s; %s until it answers", self.name, why, then)

    def _back(self, asked: float) -> None:
        """An answer to a frame sent at ``asked``: the detector is back if that was after it went."""
        with self.service._cond:
            since = self._down_since
            if since is None or asked < since:
                return
            self._down_since, self._failures = None, 0
            log.info("%s: node detector answers again, after %.1f s", self.name, time.monotonic() - since)


class RemoteService:
    """The node's detector actor, as a camera's Runner reads a service (``client``, ``detector``,
    ``workers``, ``close``); made by :func:`connect`.

    Attributes
    ----------
    node_figures : dict
        The node service's newest batch figures (from the last answer): node, actor, cameras,
        frames, batches, max_batch, batching, ms_per_frame.
    """

    def __init__(self, handle: Any, spec: dict[str, Any], *, timeout: float = DETECT_TIMEOUT_S) -> None:
        self.handle = handle
        self.detector = RemoteModel(spec)
        self.workers: int = spec["workers"]
        self.node_figures: dict[str, Any] = spec["figures"]
        self.timeout = timeout
        self.rng = random.Random()
        self._cond = threading.Condition()
        self._clients: list[RemoteClient] = []

    def client(self, name: str, *, priority: float = 1.0, every: int = 1, every_max: int = 8,
               adaptive: bool = False) -> RemoteClient:
        c = RemoteClient(self, name, priority=priority, every=every, every_max=every_max, adaptive=adaptive)
        self._clients.append(c)
        return c

    def _tick(self) -> None:
        """The node paces the intervals (they come back with each answer)."""

    def _submit(self, client: DetectorClient, image: np.ndarray) -> Future[Detections]:
        assert isinstance(client, RemoteClient)
        prepared = self.detector.prepare(image)
        with self._cond:
            if client.closed:
                raise ServiceClosed(f"detector service closed; frame of camera {client.name} not detected")
            arrivals = client._take_arrivals()
            client.submitted += 1
        out: Future[Detections] = Future()
        t0 = out.t0 = time.monotonic()  # type: ignore[attr-defined]
        try:
            ref = self.handle.detect.remote(client.join, prepared, arrivals)
        except Exception as exc:  # noqa: BLE001 - Ray's, translated here
            out.set_exception(DetectorUnavailable(f"node detector unavailable ({type(exc).__name__}: {_first_line(exc)})"))
            return out
        out.ref = ref  # type: ignore[attr-defined]
        ref.future().add_done_callback(lambda f: self._done(client, out, t0, f))
        return out

    def _done(self, client: RemoteClient, out: Future[Detections], t0: float, f: Future[Any]) -> None:
        now = time.monotonic()
        exc = f.exception()
        with self._cond:
            client._waits.add(now, 1000.0 * (now - t0))
            if exc is None:
                client.detected += 1
                client._done.add(now)
            else:
                client.failed += 1
        if exc is not None:
            out.set_exception(self._translate(exc))
            return
        detections, interval, figures = f.result()
        if client.adaptive:
            client.interval = int(interval)
        self.node_figures = figures
        out.set_result(detections)

    def _translate(self, exc: BaseException) -> BaseException:
        import ray

        if isinstance(exc, ray.exceptions.RayTaskError):
            cause = exc.cause  # raised by the node's code: the model failed on this frame
            if isinstance(cause, ServiceClosed):
                return DetectorUnavailable(f"node detector unavailable ({cause})")
            if isinstance(cause, StreamerError):
                return cause
            return StreamerError(f"node detector: {type(cause).__name__}: {cause}")
        # Ray's texts run to several sentences (actor id, RPC codes): its type says what happened.
        return DetectorUnavailable(f"node detector unavailable ({type(exc).__name__})")

    def cancel(self, future: Future[Any]) -> None:
        """Drop a request that waited too long (its answer would come to nobody)."""
        import ray

        ref = getattr(future, "ref", None)
        if ref is not None:
            try:
                ray.cancel(ref)
            except Exception:  # noqa: BLE001, S110 - finished or gone meanwhile
                pass

    def _leave(self, client: DetectorClient) -> None:
        with self._cond:
            client.closed = True
        try:
            self.handle.leave.remote(client.name)
        except Exception:  # noqa: BLE001, S110 - the actor is gone: nothing to leave
            pass

    def close(self) -> None:
        """Nothing to end here: the node's detector belongs to the driver."""

    def figures(self) -> dict[str, Any]:
        return {"where": "node", **self.node_figures}


def connect(plan: DetectorPlan, settings: RunSettings, node_id: str, ask: Callable[[tuple[str, str]], None],
            *, timeout: float = FIND_TIMEOUT_S) -> RemoteService:
    """The link to the detector of ``settings`` on ``node_id``: asked of the driver through
    ``ask`` (the camera's poll answer carries it), found by name, its model's spec read.

    Raises
    ------
    DetectorUnavailable
        Not there within ``timeout`` seconds, or it failed to start.
    """
    import ray

    key = detector_key(settings)
    name = actor_name(plan.run, node_id, key)
    ask((node_id, key))
    deadline = time.monotonic() + timeout
    while True:
        try:
            handle = ray.get_actor(name, namespace=NAMESPACE)
            break
        except ValueError:
            if time.monotonic() > deadline:
                raise DetectorUnavailable(f"no node detector after {timeout:g} s") from None
            time.sleep(0.1)
    try:
        spec = ray.get(handle.spec.remote(), timeout=max(1.0, deadline - time.monotonic()))
    except Exception as exc:  # noqa: BLE001 - Ray's, translated here
        raise DetectorUnavailable(f"the node detector did not start ({_first_line(exc)})") from None
    return RemoteService(handle, spec)


def detector_report(service: Any) -> dict[str, Any] | None:
    """A camera's detector figures for the driver: the node's service (``where: node``) or the
    camera's own (``where: camera``); a few hundred bytes."""
    if service is None:
        return None
    if isinstance(service, RemoteService):
        return service.figures()
    f = service.figures()
    return {"where": "camera", **{k: f[k] for k in ("workers", "max_batch", "batching", "frames", "batches",
                                                   "ms_per_frame")}}
