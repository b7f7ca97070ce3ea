"""Wires a run to ``--serve`` and ``--show``: one place, so :class:`~streamer.runner.Runner` stays thin.

The CLI (or any caller of :class:`~streamer.multirun.MultiRunner`) does::

    served = attach.start(cameras)              # None when neither --serve nor --show
    multi = MultiRunner(cameras, extra_outputs=served.outputs_for)
    served.bind(multi)
    multi.run(lambda runner, stats: served.on_tick(runner, stats))
    served.close()

:func:`start` checks what can fail before any camera opens (a display for ``--show``, the
address for ``--serve``, which then listens at once: a port in use is a one-line error and
``/healthz`` answers while models load). Each camera gets a
:class:`~streamer.outputs.live_view.LiveView`, a :class:`~streamer.metrics.FrameTap` and a
:class:`~streamer.outputs.window.WindowOutput` as extra outputs, as asked. On the caller's
tick, :meth:`Served.on_tick` turns the runner's figures into the camera's status and metrics;
a failure there is logged once and never stops a camera.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from streamer.config import RunSettings
from streamer.errors import ConfigError
from streamer.metrics import Metrics, OutputFigures
from streamer.outputs.base import Output
from streamer.outputs.live_view import LiveView
from streamer.pipeline import PipelineStats
from streamer.server.address import is_loopback, parse_address
from streamer.server.board import NO_LIVE_VIEW, Board, CameraEntry
from streamer.sources.urls import mask_credentials, output_stem, without_credentials

if TYPE_CHECKING:
    from streamer.multirun import MultiRunner
    from streamer.runner import Runner
    from streamer.server.thread import ServerThread

log = logging.getLogger("streamer")


def public_source(source: str) -> str:
    """A source as the status shows it: no user, password or query string (tokens live there)."""
    clean = without_credentials(source)
    parts = urlsplit(clean)
    if parts.scheme and parts.netloc:
        return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    return clean


def camera_name(settings: RunSettings) -> str:
    """The name a camera's runner will have (``Runner.name``)."""
    return settings.name or output_stem(str(settings.source))


def hls_dir(settings: RunSettings) -> Path | None:
    """The folder of a camera's HLS output (``--hls DIR``, else the first ``outputs:`` entry
    with ``hls``), served at ``/hls/NAME/``; None without one."""
    if getattr(settings, "hls", None) is not None:
        return Path(settings.hls)
    for entry in getattr(settings, "outputs", None) or ():
        if getattr(entry, "hls", None) is not None:
            return Path(entry.hls)
    return None


def camera_state(runner: Runner, stats: PipelineStats, result: Any | None) -> str:
    """connecting, streaming, stalled, reconnecting, gave_up, finished or failed."""
    source_state = getattr(getattr(runner.source, "state", None), "value", None)
    if result is not None:
        if result.error is None:
            return "finished"
        return "gave_up" if source_state == "gave_up" else "failed"
    if runner.live:
        if source_state is None:
            return "connecting"
        return "finished" if source_state == "stopped" else str(source_state)
    return "streaming" if stats.stages and stats.stages[0].frames > 0 else "connecting"


class Served:
    """What ``--serve`` and ``--show`` add to a run (see the module docstring).

    Parameters
    ----------
    cameras : sequence of RunSettings
        One per camera, named as the runners will be; ``serve``, ``token`` and
        ``max_viewers`` are read from the first (they are top-level settings).
    """

    def __init__(self, cameras: Sequence[RunSettings]) -> None:
        first = cameras[0]
        self.serve = first.serve
        token = first.token.get_secret_value() if first.token is not None else None
        self.show = {camera_name(c) for c in cameras if c.show}
        # --engine ray: the frames stay in the cameras' actors; figures come from their polls.
        remote = first.engine == "ray"
        if self.show and remote:
            raise ConfigError("--show: the window needs the frames in this process, not with --engine ray "
                              "(they stay on the worker nodes; --serve shows the figures)")
        if self.show:
            from streamer.outputs.window import check_display

            check_display()
        self.metrics: Metrics | None = None
        self.board: Board | None = None
        self.server: ServerThread | None = None
        self.views: dict[str, LiveView] = {}
        self._multi: MultiRunner | None = None
        self._tick_failed = False
        if self.serve is None:
            return
        host, port = parse_address(self.serve)
        self.metrics = Metrics()
        self.board = Board(max_viewers=first.max_viewers)
        for c in cameras:
            name = camera_name(c)
            view = None if remote else LiveView(name)
            if view is not None:
                self.views[name] = view
            entry = self.board.add(name, view=view, hls_dir=hls_dir(c), no_view=NO_LIVE_VIEW if remote else None)
            self.board.update(name, {"state": "connecting", "source": public_source(str(c.source)),
                                     "live": None})
            self.metrics.add_camera(name)
            if view is not None:
                self.metrics.feed_output(name, view.name, _viewer_figures(entry))
            self.metrics.feed_viewers(name, lambda e=entry: e.viewers)
        from streamer.server.app import build_app
        from streamer.server.thread import ServerThread

        self.server = ServerThread(build_app(self.board, metrics=self.metrics, token=token), host, port)
        self.server.start()
        views = "no live views with --engine ray" if remote else "live views at /cameras/NAME/live.mjpg"
        log.info("serving %s (dashboard; %s; /metrics, /api/status)%s",
                 self.server.url, views, ", token required" if token else "")
        if not is_loopback(host) and token is None:
            log.warning("warning: --serve %s is reachable from other machines and has no --token: "
                        "anyone there can watch the cameras", self.serve)

    def outputs_for(self, name: str) -> list[Output]:
        """The extra outputs of camera ``name`` (live view, metrics tap, window)."""
        outputs: list[Output] = []
        if name in self.views:
            outputs.append(self.views[name])
        if self.metrics is not None:
            outputs.append(self.metrics.tap(name))
        if name in self.show:
            from streamer.outputs.window import WindowOutput

            outputs.append(WindowOutput(name))
        return outputs

    def bind(self, multi: MultiRunner) -> None:
        """Listen to the cameras' buses; label the views; ``q`` in a window stops the run."""
        self._multi = multi
        for runner in multi.runners:
            view = self.views.get(runner.name)
            if view is not None and runner.detector is not None:
                view.labels = tuple(runner.detector.labels)
            if self.metrics is not None and getattr(runner, "bus", None) is not None:
                runner.bus.subscribe(self.metrics.on_event, name="metrics")
        if self.board is not None:
            for name, result in multi.results.items():  # set-up failures: never started
                if result.error is not None and self.board.camera(name) is not None:
                    self.board.update(name, {"state": "failed", "error": mask_credentials(str(result.error))})
        if self.show:
            from streamer.outputs.window import set_quit_callback

            set_quit_callback(multi.stop)

    def on_tick(self, runner: Runner, stats: PipelineStats) -> None:
        """The caller's tick: the camera's status and metrics from its runner's figures."""
        if self.board is None or self.metrics is None:
            return
        try:
            self._tick(runner, stats)
        except Exception as exc:  # noqa: BLE001 - the server's trouble is never the cameras'
            if not self._tick_failed:
                self._tick_failed = True
                log.warning("server: status update failed: %s (the cameras go on)", exc)

    def _tick(self, runner: Runner, stats: PipelineStats) -> None:
        assert self.board is not None and self.metrics is not None
        result = self._multi.results.get(runner.name) if self._multi is not None else None
        state = camera_state(runner, stats, result)
        figures = runner.live_figures(stats)
        summary = runner.summarise(stats)
        outputs = [o for o in getattr(summary, "outputs", []) or []]
        view = self.views.get(runner.name)
        frame = view.latest_frame if view is not None else None
        analytics = frame.analytics.counts_record() if frame is not None and frame.analytics is not None else None
        status: dict[str, Any] = {
            "state": state,
            "source": public_source(str(runner.settings.source)),
            "live": runner.live,
            "detector": runner.detector is not None,
            "elapsed": figures["elapsed"],
            "frames_in": figures["frames_in"],
            "frames_out": figures["frames_out"],
            "fps_in": figures["fps_in"],
            "fps_out": figures["fps_out"],
            "age_ms_p50": figures["age_ms_p50"],
            "age_ms_p95": figures["age_ms_p95"],
            "dropped": figures["dropped"],
            "dropped_by_queue": figures["dropped_by_queue"],
            "reconnects": figures["reconnects"],
            "detections": view.last_detections() if view is not None else {},
            "detections_total": summary.per_class,
            "analytics": analytics,
            "outputs": [{"name": o.name, "state": o.state, "frames": o.frames, "dropped": o.dropped} for o in outputs],
            "error": mask_credentials(str(result.error)) if result is not None and result.error is not None else None,
            # Where a Ray camera runs and how often its actor was restarted (RemoteRunner).
            **(runner.engine_status() if hasattr(runner, "engine_status") else {}),
        }
        self.board.update(runner.name, status)
        self.metrics.update(runner.name, stats, state=state, reconnects=figures["reconnects"],
                            detections=summary.per_class)
        for o in outputs:
            if o.name not in (LiveView.name, "metrics"):
                self.metrics.set_output(runner.name, o.name, frames=o.frames, dropped=o.dropped, state=o.state,
                                        bytes=getattr(o, "bytes", None))

    def finish(self, multi: MultiRunner) -> None:
        """A last status of every camera once the run ended (finished, failed, gave up)."""
        for runner in multi.runners:
            self.on_tick(runner, runner.pipeline.stats())

    def close(self) -> None:
        """Stop the server (viewers are ended) and let go of the windows' quit callback."""
        if self.show:
            from streamer.outputs.window import set_quit_callback

            set_quit_callback(None)
        if self.server is not None:
            self.server.stop()
            self.server = None


def _viewer_figures(entry: CameraEntry) -> Any:
    def read() -> OutputFigures:
        return OutputFigures(state=None, frames=entry.frames_sent, bytes=entry.bytes_sent)

    return read


def start(cameras: Sequence[RunSettings]) -> Served | None:
    """The run's server and windows, when any camera asks for them (``serve``, ``show``).

    Raises
    ------
    ConfigError
        No display for ``--show``; a bad or busy ``--serve`` address.
    """
    if cameras and cameras[0].serve is None and cameras[0].token is not None:
        raise ConfigError("--token: it guards --serve, which is not given")
    if not cameras or (cameras[0].serve is None and not any(c.show for c in cameras)):
        return None
    return Served(cameras)
