"""Cameras and files on a Ray cluster: ``streamer run --engine ray [--address ...]``.

One Ray actor per camera (or file) holds that camera's whole run: a :class:`~streamer.runner.Runner`
with its source, kernels, detector, tracker and outputs, in the actor's own process. The driver
(the ``streamer run`` process) only places the actors, polls their figures for the progress
display and collects their summaries; frames never cross processes.

Placement: cameras are spread over the nodes (``SPREAD``); each reserves ``ray_cpus`` CPUs. A
camera's detector lives in its actor, or (``--ray-detectors node``, and ``auto`` on GPU nodes)
in its node's detector actor, which batches the frames of that node's cameras (see
:mod:`streamer.engines.ray_detectors`): either way on the camera's node.

Failure:

* A camera actor that dies (its process killed, its node lost) is restarted by Ray
  (``max_restarts``, for ever for live cameras) on a node with room, and its camera connects
  again; the driver's calls to it are retried (``max_task_retries``). What the dead incarnation
  wrote is kept and made whole, the camera goes on in new files (see
  :mod:`streamer.engines.staging`).
* A file job is retried from its start (:data:`FILE_RETRIES` times); it writes under staging
  names and renames them over the final ones only when its run ended, so a dead attempt
  leaves neither a half-written nor a duplicate output.
* Node loss is noticed by Ray's health checks of the raylets: with Ray's defaults a lost
  node's cameras restart after about 15 s (3 s x 5 checks); ``RAY_health_check_period_ms=500``
  and ``RAY_health_check_failure_threshold=3`` on the head node bring that to about 2 s
  (measured with a worker node's raylet killed, 2-core machine).

Outputs are written by the actors where the config says, so paths must be on storage every
node sees at the same path (relative paths are made absolute on the driver).

Notifications (``notify:``, ``--webhook``, ``--mqtt``) are sent by each camera's actor, from its
node, where its events happen: the camera's own notifiers (same topics, payloads, bounded
queues and retries as in-process), drained for at most 5 s when its run ends. A restarted
actor sends only its own events: what the dead one had sent is not sent again, what it still
had queued is lost; a file job retried from its start sends its events again.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import math
import os
import pickle
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from streamer.config import RunSettings
from streamer.engines import ray_detectors, ray_figures, staging
from streamer.errors import ConfigError, PipelineError, SinkError, StreamerError
from streamer.outputs.paths import check_outputs, os_reason
from streamer.sources.urls import is_live, is_pipe, mask_credentials, output_stem

try:  # optional: pip install "streamer[ray]"
    import ray
except ImportError:  # pragma: no cover - exercised by the "without ray" test in a subprocess
    ray = None  # type: ignore[assignment]

log = logging.getLogger("streamer")

INSTALL_HINT = 'pip install "streamer[ray]"'
#: Attempts of a file job after the first, when its actor dies (a failure the run itself
#: reports, such as a corrupt file, is not retried: it would fail the same way).
FILE_RETRIES = 3
#: Seconds between the driver's polls of each actor (the progress display's refresh).
TICK = 0.25
#: A poll unanswered this long means the actor is being (re)started.
UNANSWERED_S = 2.0
#: Object store of a cluster the driver starts itself: actors exchange only figures (Ray's
#: default, 30% of memory, reserved 7 GB of /dev/shm here for nothing).
LOCAL_OBJECT_STORE_BYTES = 128 * 1024 * 1024
#: A restarted live camera runs at least this long, even when its ``duration`` was spent.
MIN_DURATION_S = 0.5
#: Seconds to reach a cluster's address before Ray is asked to connect.
CONNECT_TIMEOUT_S = 5.0


def require_ray() -> Any:
    """The ``ray`` module, or a :class:`ConfigError` saying what to install."""
    if ray is None:
        raise ConfigError(f"--engine ray: Ray is not installed ({INSTALL_HINT})")
    return ray


def _portable(obj: Any, fallback: Callable[[], Any]) -> Any:
    """``obj`` if it survives pickling (it crosses to the driver), else ``fallback()``."""
    try:
        pickle.loads(pickle.dumps(obj))
        return obj
    except Exception:  # noqa: BLE001 - any unpicklable part
        return fallback()


def _streamer_error(name: str, exc: BaseException) -> StreamerError:
    """``exc`` as the project's error (a bug's type and message, named after the camera)."""
    return exc if isinstance(exc, StreamerError) else StreamerError(f"{name}: {type(exc).__name__}: {exc}")


class _LogTap(logging.Handler):
    """Keeps the camera's log records (reconnects, warnings) for the driver to show."""

    def __init__(self, sink: collections.deque[tuple[int, str]]) -> None:
        super().__init__(logging.INFO)
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        self.sink.append((record.levelno, record.getMessage()))


def _reconstructed() -> bool:
    """Whether this actor is a restart of one that died (Ray re-runs ``__init__``)."""
    if ray is None or not ray.is_initialized():
        return False
    try:
        return bool(ray.get_runtime_context().was_current_actor_reconstructed)
    except Exception:  # noqa: BLE001 - not inside an actor
        return False


def _node() -> str:
    if ray is None or not ray.is_initialized():
        return "local"
    try:
        return str(ray.util.get_node_ip_address())
    except Exception:  # noqa: BLE001
        return "?"


class CameraWorker:
    """One camera's (or file's) run inside a Ray actor: a Runner in a named thread.

    Every method returns at once, so the driver's polls are answered while the camera runs.

    Parameters
    ----------
    settings : RunSettings
        The camera's settings (paths already absolute).
    outputs : (Path or None, Path or None)
        The final (video, JSONL) paths.
    job : bool
        A file: write under staging names, publish on success; retried from the start.
    restarted : bool, optional
        Whether Ray restarted this actor (default: asked from Ray's runtime context).
    started_at : float, optional
        Epoch seconds when the camera was first placed (Ray passes the same arguments to a
        restart): a restarted live camera's ``duration`` is what was left of it.
    detectors : DetectorPlan, optional
        Detect through the node's detector actor where the plan says (default: the actor's own).
    """

    def __init__(self, settings: RunSettings, outputs: tuple[Path | None, Path | None], *, job: bool,
                 restarted: bool | None = None, started_at: float | None = None,
                 detectors: ray_detectors.DetectorPlan | None = None) -> None:
        restarted = _reconstructed() if restarted is None else restarted
        if restarted and not job and settings.duration is not None and started_at is not None:
            left = settings.duration - (time.time() - started_at)
            settings = settings.model_copy(update={"duration": max(left, MIN_DURATION_S)})
        self.settings = settings
        self.name = settings.name or output_stem(settings.source or "")
        self.finals = outputs
        self.job = job
        self.incarnation = uuid.uuid4().hex
        self.node = _node()
        self.restart = 0
        self.logs: collections.deque[tuple[int, str]] = collections.deque(maxlen=200)
        logger = logging.getLogger("streamer")
        logger.addHandler(_LogTap(self.logs))
        if logger.level == logging.NOTSET or logger.level > logging.INFO:
            logger.setLevel(logging.INFO)
        self.runner: Any = None
        self.service: Any = None
        self.plan = detectors
        self.wants: tuple[str, str] | None = None  # (node id, detector key): asked of the driver
        self.notified: Any = None  # this camera's notifiers (streamer.notify.Notifications)
        self.summary: Any = None
        self.error: StreamerError | None = None
        self.done = False
        self._stop = threading.Event()
        self._abort = threading.Event()
        if job:
            staging.clear_staged(outputs)
            self.writes = tuple(staging.staged(p) if p is not None else None for p in outputs)
        elif restarted:
            self.writes, self.restart = staging.restart_outputs(outputs)
        else:
            self.writes = outputs
        self._thread = threading.Thread(target=self._run, name=f"streamer-camera-{self.name}", daemon=True)
        self._thread.start()

    def _build(self) -> Any:
        """The camera's Runner, detecting through a service of its own.

        As in the in-process fleet, where each camera is a client of the shared service: a live
        camera's detection interval follows what the detector keeps up with, and the JSONL
        stats records carry the same figures. (The service is not shared across actors: on a
        CPU, batching frames of several cameras did not pay, see ``CPU_BATCH`` in
        :mod:`streamer.detection.service`, and it would ship every frame between processes.)
        """
        from streamer.bus import EventBus
        from streamer.detection.service import DetectorService
        from streamer.runner import Runner

        s = self.settings
        if s.detect and self.plan is not None:
            self.service = self._node_detector()
        if s.detect and self.service is None:
            try:
                self.service = DetectorService.from_settings(s, cameras=[s]).start()
            except ConfigError as exc:
                raise s.located(exc) from None
        bus = EventBus()
        self.notified = self._notify(bus)  # subscribed before the source's first event
        return Runner(s, service=self.service, outputs=self.writes, bus=bus)  # type: ignore[arg-type]

    def _node_detector(self) -> Any:
        """The link to this node's detector actor (None: the camera detects in its actor)."""
        from streamer.engines import detector_link

        node_id = ray.get_runtime_context().get_node_id()
        if self.plan is None or not self.plan.on_node(node_id, self.settings.device):
            return None
        try:
            return detector_link.connect(self.plan, self.settings, node_id, lambda want: setattr(self, "wants", want))
        except detector_link.DetectorUnavailable as exc:
            log.warning("%s: %s; detecting in the camera's own actor", self.name, exc)
            return None

    def _notify(self, bus: Any) -> Any:
        """The camera's notifiers on ``bus``, sending from this node; None without ``notify``.

        Every actor has its own broker connection, so what belongs to a connection is made the
        camera's own: a ``client_id`` the user set (a broker drops the older of two connections
        with one id) and, unless set, the availability topic, ``PREFIX/CAMERA/available`` (one
        shared topic said "offline" as soon as any one camera's actor ended).
        """
        if not self.settings.notify:
            return None
        from streamer.notify import Notifications
        from streamer.notify.mqtt import PREFIX, level

        configs = []
        for c in self.settings.notify:
            if c.mqtt is not None:
                prefix = (c.prefix or PREFIX).rstrip("/")
                c = c.model_copy(update={
                    "client_id": f"{c.client_id}-{self.name}" if c.client_id else None,
                    "available": c.available or f"{prefix}/{level(self.name)}/available"})
            configs.append(c)
        hub = Notifications()
        hub.attach(configs, bus)
        for notifier in hub.notifiers:  # the driver shows every actor's summary: say whose
            notifier.name = f"{self.name}: {notifier.name}"
        return hub

    def _close(self) -> None:
        if self.runner is not None and self.runner.client is not None:
            self.runner.client.close()
        if self.service is not None:
            self.service.close()
        if self.notified is not None:
            self.notified.close()  # what is queued goes out, for at most 5 s; a summary line each

    def _run(self) -> None:
        summary = None
        error: StreamerError | None = None
        try:
            runner = self._build()
        except Exception as exc:  # noqa: BLE001 - every failure reaches the driver
            self._close()
            if self.job:
                staging.clear_staged(self.finals)
            self._finish(None, _streamer_error(self.name, exc))
            return
        self.runner = runner
        if self._abort.is_set():
            runner.abort()
        elif self._stop.is_set():
            runner.stop()
        try:
            summary = runner.run()
        except PipelineError as exc:
            cause = exc.__cause__
            error = cause if isinstance(cause, StreamerError) else StreamerError(str(exc))
        except Exception as exc:  # noqa: BLE001 - reported to the driver, never lost in the actor
            error = _streamer_error(self.name, exc)
        finally:
            self._close()
        if self.job:
            # The run closed its outputs (as an in-process run does, also after a failure or a
            # stop): now they may carry their final names.
            try:
                staging.publish(zip(self.writes, self.finals))
            except OSError as exc:
                error = error or SinkError(f"{exc.filename}: cannot rename the finished output to "
                                           f"{exc.filename2} ({os_reason(exc)})")
            if summary is not None:
                video, jsonl = self.finals
                summary = dataclasses.replace(summary, video=video if summary.video else None,
                                              jsonl=jsonl if summary.jsonl else None)
        self._finish(summary, error)

    def _finish(self, summary: Any, error: StreamerError | None) -> None:
        self.summary = _portable(summary, lambda: None)
        self.error = _portable(error, lambda: StreamerError(str(error))) if error is not None else None
        self.done = True

    def poll(self) -> dict[str, Any]:
        """Figures for the driver: frames out, live figures, new log lines, the end result."""
        runner = self.runner
        report: dict[str, Any] = {
            "incarnation": self.incarnation, "node": self.node, "pid": os.getpid(), "restart": self.restart,
            "frames": 0, "figures": None, "describe": None, "expected": None, "done": self.done,
            "wants_detector": self.wants,
        }
        if runner is not None:
            stats = runner.pipeline.stats()
            report["frames"] = stats.frames_out
            report["describe"] = runner.describe()
            report["expected"] = runner.expected_frames
            # What --serve and --fleet-stats show on the driver (streamer.engines.ray_figures).
            report["served"] = ray_figures.actor_report(runner, stats)
            from streamer.engines.detector_link import detector_report

            report["detector"] = detector_report(self.service)
            if runner.live or runner.settings.realtime:
                report["figures"] = report["served"]["figures"]
        logs = []
        while self.logs:
            logs.append(self.logs.popleft())
        report["logs"] = logs
        if self.done:
            report["summary"], report["error"] = self.summary, self.error
        return report

    def stop(self) -> None:
        """Finish early, writing the frames in flight (Ctrl-C)."""
        self._stop.set()
        if self.runner is not None:
            self.runner.stop()

    def abort(self) -> None:
        """Finish now (a second Ctrl-C); outputs are still closed."""
        self._abort.set()
        if self.runner is not None:
            self.runner.abort()


_ACTOR: Any = None


def _actor_class() -> Any:
    global _ACTOR
    if _ACTOR is None:
        _ACTOR = require_ray().remote(CameraWorker)
    return _ACTOR


# -- the driver --------------------------------------------------------------------------------


@dataclasses.dataclass
class RemoteStats:
    """A camera's figures as the progress display reads them (``frames_out``, live figures)."""

    frames_out: int
    figures: dict[str, Any]


def _for_actor(settings: RunSettings) -> RunSettings:
    """Settings for a camera's actor: paths that mean the same on every node (workers do not
    share our cwd), and a detector sized to the CPUs the actor reserves.

    Unless set, a CPU detector gets one single-threaded session per reserved CPU (at least
    one): the in-process default (two sessions, threads = cores / 2) would give every actor on
    a node all of its cores, several times over. (``device: cuda`` keeps its one session.)
    """
    update: dict[str, Any] = {}
    if settings.detect_workers is None and settings.device in ("auto", "cpu"):
        update["detect_workers"] = max(1, min(16, int(settings.ray_cpus)))
        update["threads"] = settings.threads or 1
    src = settings.source or ""
    if src and not is_live(src) and not is_pipe(src):
        update["source"] = os.path.abspath(src)
    for key in ("out", "jsonl", "out_dir"):
        value = getattr(settings, key)
        if value is not None:
            update[key] = Path(os.path.abspath(value))
    if settings.model is not None and Path(settings.model).exists():
        update["model"] = Path(os.path.abspath(settings.model))
    if settings.out_dir is None and settings.out is None and is_live(src):
        update["out_dir"] = Path(os.path.abspath("."))  # a live camera's outputs: the driver's cwd
    return settings.model_copy(update=update) if update else settings


def _expected_frames(settings: RunSettings) -> int | None:
    """A file's frame count as the progress bar's total (probed here; None when unknown)."""
    if is_live(settings.source or "") or settings.realtime:
        return settings.max_frames
    try:
        from streamer.runner import _expected_frames as expected
        from streamer.sources import probe

        return expected(probe(settings.source or ""), settings)
    except StreamerError:
        return None  # the camera's actor reports why


class RayCamera:
    """The driver's handle of one camera's actor; what the progress display reads."""

    def __init__(self, settings: RunSettings, outputs: tuple[Path | None, Path | None]) -> None:
        self.settings = settings
        self.name = settings.name or output_stem(settings.source or "")
        self.live = is_live(settings.source or "")
        self.job = not self.live and not settings.realtime
        self.outputs = outputs
        self.expected_frames = _expected_frames(settings)
        self.actor: Any = None
        self.ref: Any = None
        self.asked = 0.0
        self.incarnation: str | None = None
        self.node: str | None = None
        self.restarts = 0
        self.frames = 0
        self.frames_before = 0  # frames of a live camera's dead incarnations
        self.figures: dict[str, Any] | None = None
        self.state = "starting"
        self.described: str | None = None
        self.result: Any = None  # CameraResult once finished
        self.report: dict[str, Any] | None = None  # the actor's newest answer to poll()
        self.placed = time.monotonic()

    def describe(self) -> str:
        restarts = f"retried up to {FILE_RETRIES} times" if self.job else "restarted for ever"
        return (f"{mask_credentials(self.settings.source or '')}: Ray actor, {self.settings.ray_cpus:g} CPU, "
                f"{restarts} if it dies")

    def stats(self) -> RemoteStats:
        figures = dict(self.figures or {"state": None, "fps_in": 0.0, "dropped": 0, "age_ms_p50": None,
                                        "age_ms_p95": None})
        if self.state != "running" or figures.get("state") is None:
            figures["state"] = self.state if self.state != "running" else figures.get("state")
        return RemoteStats(self.frames_before + self.frames, figures)

    def live_figures(self, stats: RemoteStats) -> dict[str, Any]:
        return stats.figures


def _check_reachable(address: str | None) -> None:
    """Refuse at once an address where nothing listens (``ray.init`` retries it for a minute)."""
    if address is None or address == "auto":
        return
    hostport = address.removeprefix("ray://").rsplit("/", 1)[0]
    host, _, port = hostport.rpartition(":")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except ValueError:
        raise ConfigError(f"--address {address}: expected auto, HOST:PORT or ray://HOST:PORT") from None
    except OSError as exc:
        raise ConfigError(f"--address {address}: cannot connect to a Ray cluster "
                          f"(nothing answers there: {os_reason(exc)})") from None


class RayFleet:
    """Run cameras and files on a Ray cluster, one actor each; the same interface as
    :class:`~streamer.multirun.MultiRunner` (``runners``, ``run``, ``stop``, ``abort``).

    Parameters
    ----------
    settings : sequence of RunSettings
        One per camera; ``ray_address`` and ``ray_cpus`` are read from them.
    address : str, optional
        Ray cluster: ``auto``, ``host:port``, ``ray://host:10001``; default the first camera's
        ``ray_address``, else ``RAY_ADDRESS``, else a cluster started here for this run.

    Raises
    ------
    ConfigError
        Ray is not installed, no cluster at ``address``, standard input as a source.
    SinkError
        Two cameras would write one file, or an output would overwrite an input or a user's file.
    """

    def __init__(self, settings: Sequence[RunSettings], *, address: str | None = None) -> None:
        require_ray()
        if not settings:
            raise ValueError("no cameras")
        names = [s.name for s in settings if s.name]
        if len(set(names)) != len(names):
            raise StreamerError("camera names must be unique")
        for s in settings:
            if is_pipe(s.source or ""):
                raise ConfigError(f"{s.source}: a pipe or standard input cannot be read by a Ray actor "
                                  "(run it without --engine ray)")
        # The runtime is imported once Ray is known to be there (the error without it is quick).
        from streamer.outputs.paths import plan_outputs

        cams = [_for_actor(s) for s in settings]
        plans = [plan_outputs(s) for s in cams]
        check_outputs(plans)
        self.runners = [RayCamera(s, (p.video, p.jsonl)) for s, p in zip(cams, plans)]
        # A node's detector is sized to the node (as in one process), not to one camera's CPUs.
        self._detector_settings = {c.name: c.settings.model_copy(update={"detect_workers": s.detect_workers,
                                                                          "threads": s.threads})
                                   for c, s in zip(self.runners, settings)}
        self.detectors = ray_detectors.NodeDetectors(
            ray_detectors.DetectorPlan(uuid.uuid4().hex[:8], settings[0].ray_detectors),
            len({ray_detectors.detector_key(s) for s in settings if s.detect}))
        self._stop = threading.Event()
        self._abort = threading.Event()
        self._connect(address if address is not None else settings[0].ray_address)
        if any(s.detect for s in settings):
            log.info("%s", ray_detectors.choice(settings[0].ray_detectors, settings[0], ray.nodes()))
        try:
            self._place()
        except BaseException:
            self._release()
            raise

    def _connect(self, address: str | None) -> None:
        needed = sum(c.settings.ray_cpus for c in self.runners)
        kwargs: dict[str, Any] = {"namespace": "streamer", "log_to_driver": False, "logging_level": logging.ERROR}
        local = address is None and not os.environ.get("RAY_ADDRESS")
        if local:
            # A cluster for this run only, sized so every camera fits, as in-process (the
            # cameras share the cores either way).
            kwargs.update(num_cpus=max(os.cpu_count() or 1, math.ceil(needed)), include_dashboard=False,
                          object_store_memory=LOCAL_OBJECT_STORE_BYTES)
        _check_reachable(address)
        main = threading.current_thread() is threading.main_thread()
        handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)} if main else {}
        try:
            ray.init(address=address, **kwargs)
        except Exception as exc:  # noqa: BLE001 - Ray's errors, translated here (ConnectionError, RuntimeError, ...)
            where = f"--address {address}" if address else "--engine ray"
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            # Ray >= 2.5x turns on token authentication for clusters that ray.init starts; a
            # driver joining one by address needs RAY_AUTH_MODE=token (and the token).
            hint = "" if os.environ.get("RAY_AUTH_MODE") else "; a cluster with token authentication needs RAY_AUTH_MODE=token"
            raise ConfigError(f"{where}: cannot connect to a Ray cluster ({first}{hint})") from None
        finally:
            # ray.init puts in its own SIGTERM handler (sys.exit): the caller's stay in charge.
            for sig, handler in handlers.items():
                if handler is not None:
                    signal.signal(sig, handler)
        total = ray.cluster_resources().get("CPU", 0.0)
        if needed > total:
            log.warning("the cameras ask for %g CPUs, the Ray cluster has %g: some wait until others end "
                        "(lower ray_cpus, or add nodes)", needed, total)

    def _place(self) -> None:
        actor = _actor_class()
        for cam in self.runners:
            cam.actor = actor.options(
                num_cpus=cam.settings.ray_cpus,
                max_restarts=FILE_RETRIES if cam.job else -1,
                max_task_retries=-1,
                # poll() must be answered while stop() runs; every method returns at once.
                max_concurrency=4,
                scheduling_strategy="SPREAD",
            ).remote(cam.settings, cam.outputs, job=cam.job, started_at=time.time(),
                     detectors=self.detectors.plan if cam.settings.detect else None)
            cam.placed = time.monotonic()

    def stop(self) -> None:
        """Ask every camera to finish (safe from a signal handler: the run loop sends it)."""
        self._stop.set()

    def abort(self) -> None:
        self._abort.set()

    def _take(self, cam: RayCamera) -> None:
        """Read a finished poll of ``cam``."""
        from streamer.fleet import CameraResult

        ref, cam.ref = cam.ref, None
        try:
            report = ray.get(ref)
        except ray.exceptions.ActorUnavailableError:
            cam.state = "restarting"
            return
        except ray.exceptions.RayError as exc:
            why = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            cam.result = CameraResult(cam.name, error=StreamerError(f"{cam.name}: its Ray actor died ({why})"))
            return
        if report["incarnation"] != cam.incarnation:
            if cam.incarnation is not None:
                cam.restarts += 1
                if not cam.job:
                    cam.frames_before += cam.frames
                what = "the file starts again" if cam.job else "the camera reconnects"
                log.warning("%s: its worker on %s died; restarted on %s, %s", cam.name, cam.node,
                            report["node"], what)
            cam.incarnation, cam.node, cam.frames, cam.described = report["incarnation"], report["node"], 0, None
        for level, message in report["logs"]:
            log.log(level, message)
        if report["describe"] and cam.described is None:
            cam.described = report["describe"]
            log.info("%s on %s: %s", cam.name, cam.node, cam.described)
        if report["expected"] is not None and cam.expected_frames is None:
            cam.expected_frames = report["expected"]
        cam.frames, cam.figures, cam.report = report["frames"], report["figures"], report
        if report.get("wants_detector"):
            self.detectors.ensure(*report["wants_detector"], self._detector_settings[cam.name])
        cam.state = "running" if report["describe"] else "starting"
        if report["done"]:
            summary = report["summary"]
            if summary is not None and cam.frames_before:
                # A restarted camera: its frames and time since it was first placed.
                summary = dataclasses.replace(summary, frames=summary.frames + cam.frames_before,
                                              elapsed=time.monotonic() - cam.placed)
            cam.result = CameraResult(cam.name, summary=summary, error=report["error"])

    def run(self, on_tick: Callable[[Any, Any], None] | None = None, *, tick: float = TICK) -> list[Any]:
        """Run every camera to its end (or until stopped); results in camera order.

        ``on_tick(camera, stats)`` is called for each camera every ``tick`` seconds with a
        :class:`RemoteStats` (``frames_out`` and, for live cameras, ``live_figures(stats)``).
        """
        sent: set[str] = set()
        try:
            while True:
                active = [c for c in self.runners if c.result is None]
                if not active:
                    break
                t0 = time.monotonic()
                for flag, method in ((self._stop, "stop"), (self._abort, "abort")):
                    if flag.is_set() and method not in sent:
                        sent.add(method)
                        for cam in active:
                            getattr(cam.actor, method).remote()
                for cam in active:
                    if cam.ref is None:
                        cam.ref, cam.asked = cam.actor.poll.remote(), t0
                ready, _ = ray.wait([c.ref for c in active], num_returns=len(active), timeout=tick)
                done = set(ready)
                for cam in active:
                    if cam.ref in done:
                        self._take(cam)
                    elif time.monotonic() - cam.asked > UNANSWERED_S:
                        cam.state = "restarting" if cam.incarnation is not None else "starting"
                if on_tick is not None:
                    for cam in self.runners:
                        on_tick(cam, cam.stats())
                rest = tick - (time.monotonic() - t0)
                if rest > 0 and any(c.result is None for c in self.runners):
                    time.sleep(rest)
        finally:
            for line in self.detectors.report():
                log.info("%s", line)
            self._release()
        return [c.result for c in self.runners]

    def _release(self) -> None:
        """End every actor (they have finished, or the driver is going) and disconnect."""
        for cam in self.runners:
            if cam.actor is not None:
                try:
                    ray.kill(cam.actor, no_restart=True)
                except Exception:  # noqa: BLE001, S110 - already gone
                    pass
        self.detectors.release()
        ray.shutdown()
