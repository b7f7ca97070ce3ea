"""``streamer``: a thin command line over :mod:`streamer`'s Python API."""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import click

from streamer.errors import PipelineError, StreamerError

log = logging.getLogger("streamer")

EXIT_ERROR = 1
EXIT_INTERRUPTED = 130


class _Interrupted(Exception):
    """Ctrl-C or SIGTERM before the pipeline runs (while loading, compiling, connecting)."""


class _Signals:
    """SIGINT/SIGTERM handling for the whole command, installed before anything slow.

    Before the pipeline runs, a signal ends the command at once (:class:`_Interrupted`,
    exit 130). While it runs, the first signal stops decoding and lets the frames in flight
    be written, a second one aborts (outputs are still closed properly). Handlers stay
    installed until the process exits, so a late signal never turns into a traceback or
    a death by signal.
    """

    def __init__(self) -> None:
        self.received: list[int] = []
        self.on_first: Callable[[], None] | None = None
        self.on_second: Callable[[], None] | None = None
        self.done = False

    def install(self) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._handle)

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        self.received.append(signum)
        if self.done:
            return
        if self.on_first is None:
            raise _Interrupted(signal.Signals(signum).name)
        if len(self.received) == 1:
            click.echo(f"\nstreamer: {signal.Signals(signum).name}: finishing the frames in flight "
                       "(again to stop at once)", err=True)
            self.on_first()
        elif self.on_second is not None:
            self.on_second()


_signals = _Signals()


@contextlib.contextmanager
def _status(text: str, *, after: float = 1.5, enabled: bool = True,
            when: threading.Event | None = None) -> Iterator[dict[str, str]]:
    """Show ``text`` with a spinner on stderr if the block is still running after ``after`` s
    (and, with ``when``, once that event is set: the spinner says only what is happening).

    The caller may put a closing line in the yielded dict's ``"done"`` key; it is printed
    only when the spinner was shown (a warm start stays silent). Without a terminal the
    text is printed once instead of animated.
    """
    result: dict[str, str] = {}
    stop = threading.Event()
    shown = threading.Event()
    tty = sys.stderr.isatty()

    def spin() -> None:
        if stop.wait(after):
            return
        while when is not None and not when.is_set():
            if stop.wait(0.05):
                return
        shown.set()
        if not tty:
            click.echo(f"{text}...", err=True)
            return
        for mark in itertools.cycle("|/-\\"):
            click.echo(f"\r{mark} {text}", err=True, nl=False)
            if stop.wait(0.1):
                break
        click.echo("\r\033[K", err=True, nl=False)

    thread = threading.Thread(target=spin, name="streamer-status", daemon=True)
    if enabled:
        thread.start()
    try:
        yield result
    finally:
        stop.set()
        if enabled:
            thread.join()
        if shown.is_set() and result.get("done"):
            click.echo(result["done"], err=True)


def _fail(exc: BaseException) -> None:
    message = str(exc)
    if isinstance(exc, PipelineError) and isinstance(exc.__cause__, StreamerError):
        message = str(exc.__cause__)
    click.echo(f"streamer: error: {message}", err=True)
    sys.exit(EXIT_ERROR)


def _guard(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn the project's exceptions into a one-line message and exit status 1."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except StreamerError as exc:
            _fail(exc)

    return wrapper


class _Main(click.Group):
    """The command group; a signal during start-up (parsing, loading, compiling) exits 130."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except _Interrupted as exc:
            click.echo(f"\nstreamer: {exc}: stopped before processing began", err=True)
            raise SystemExit(EXIT_INTERRUPTED) from None


@click.group(cls=_Main, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="streamer")
def main() -> None:
    """Real-time video processing: decode, image kernels, ONNX detection, annotated output."""
    # Before any slow import or set-up: Ctrl-C or SIGTERM at any moment exits 130.
    _signals.install()


@main.command()
@click.argument("sources", nargs=-1)
@click.option("--config", "config_file", type=click.Path(path_type=Path), help="YAML file with the same settings, and named cameras (options given here override it).")
@click.option("--model", type=click.Path(path_type=Path), help="ONNX detector file, or a bundled model: yolox-nano (default), nanodet-g (see streamer models).")
@click.option("--conf", type=click.FloatRange(0, 1), help="Minimum detection score [0.35].")
@click.option("--iou", type=click.FloatRange(0, 1), help="IoU threshold of class-aware NMS [0.45].")
@click.option("--classes", help="Keep only these classes, comma-separated names or ids (e.g. person,car).")
@click.option("--detect-every", type=click.IntRange(min=1), help="Run the detector on every N-th frame [1].")
@click.option("--detect-min-motion", type=click.FloatRange(0, 1), help="Skip the detector while less than this fraction of the frame moves (needs a motion kernel step).")
@click.option("--no-detect", "no_detect", is_flag=True, default=None, help="Only run the kernels, no detector.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda", "tensorrt"]), help="Where the detector runs [auto].")
@click.option("--precision", type=click.Choice(["auto", "fp32", "int8"]), help="int8: a bundled model's INT8 variant (nanodet-g); auto: the faster here (measured once, cached), fp32 on a GPU [auto].")
@click.option("--detect-size", type=click.IntRange(32, 4096), help="Detector input size, a multiple of 32, e.g. 320: faster, small objects lost [the model's, 416].")
@click.option("--threads", type=click.IntRange(1, 64), help="ONNX Runtime threads per detector [cores / workers].")
@click.option("--detect-workers", type=click.IntRange(1, 16), help="Detectors on successive frames in parallel [2 on a multi-core CPU, 1 on a GPU].")
@click.option("--detect-every-max", type=click.IntRange(1, 1000), help="Largest detection interval a live camera falls back to when the shared detector cannot keep up [8].")
@click.option("--detect-batch", type=click.IntRange(1, 64), help="Most frames per inference in the detector the sources share [1 on a CPU, 8 on a GPU].")
@click.option("--track/--no-track", default=None, help="Give each object an id across frames [on when the config has zones or lines].")
@click.option("--track-lost", help="How long a lost track is kept to be found again, e.g. 2s [2s].")
@click.option("--events/--no-events", default=None, help="Write STEM.events.jsonl (appear, disappear, enter, exit, cross, loiter, source) with a snapshot and a clip per event [off; the config's events: block].")
@click.option("--snapshots/--no-snapshots", default=None, help="A JPEG of the frame and a crop of the object per event, in STEM.events/ (turns --events on) [on with events].")
@click.option("--clips/--no-clips", default=None, help="An MP4 per event, from 5 s before to 5 s after the object left, in STEM.events/ (turns --events on) [on with events].")
@click.option("--kernels", help='Image steps, e.g. "denoise=gaussian:ksize=5,white_balance=grayworld,gamma=0.8,edges=sobel".')
@click.option("--out", type=click.Path(path_type=Path), help="Annotated video [beside a file: STEM.annotated.mp4].")
@click.option("--out-dir", type=click.Path(path_type=Path), help="Folder for the outputs of live or several sources [current folder].")
@click.option("--jsonl", type=click.Path(path_type=Path), help="Detections file [STEM.detections.jsonl].")
@click.option("--no-video", is_flag=True, default=None, help="Write only the JSONL.")
@click.option("--hud/--no-hud", default=None, help="Frame index, fps and latency in the corner [on].")
@click.option("--crf", type=click.IntRange(0, 51), help="x264 quality, lower is better [23].")
@click.option("--preset", help="x264 preset [superfast]; veryfast makes ~45% smaller files for ~35% more encoder CPU.")
@click.option("--max-frames", type=click.IntRange(min=1), help="Stop after N frames.")
@click.option("--duration", type=click.FloatRange(min=0, min_open=True), help="Stop after this many seconds: of a file's own timeline, or of wall-clock time for a live source (whatever its state).")
@click.option("--realtime", is_flag=True, default=None, help="Play a file at its own pace, as if it were a live camera.")
@click.option("--max-latency", help="Live latency budget, e.g. 150ms: older frames are dropped (and counted).")
@click.option("--transport", type=click.Choice(["tcp", "udp"]), help="RTSP transport [tcp].")
@click.option("--open-timeout", type=click.FloatRange(min=0, min_open=True), help="Seconds a connection attempt may take [10].")
@click.option("--stall-timeout", type=click.FloatRange(min=0, min_open=True), help="Seconds without a frame before reconnecting [5].")
@click.option("--retries", type=click.IntRange(min=0), help="Failed connection attempts in a row before giving up [for ever].")
@click.option("--video-size", help="Webcam picture size, e.g. 1280x720 (V4L2).")
@click.option("--fps", type=click.FloatRange(min=0, min_open=True), help="Webcam frame rate (V4L2).")
@click.option("--pixel-format", help="Webcam pixel format, e.g. mjpeg or yuyv422 (V4L2).")
@click.option("--input-format", help="Force an FFmpeg demuxer, e.g. mpjpeg for MJPEG over HTTP.")
@click.option("--progress/--no-progress", default=None, help="Progress bar [on].")
@click.option("--quiet", "-q", is_flag=True, default=None, help="Print only errors.")
@click.option("--serve", metavar="[HOST:]PORT", help="Serve a dashboard, live views, /metrics and /api/status on [HOST:]PORT (host 127.0.0.1 unless given; 0.0.0.0 for every interface).")
@click.option("--token", envvar="STREAMER_TOKEN", help="Require this token on every --serve route but /healthz (Bearer, basic-auth password or ?token=) [$STREAMER_TOKEN].")
@click.option("--max-viewers", type=click.IntRange(1, 1000), help="Live viewers allowed per camera; more get a 503 [20].")
@click.option("--show", is_flag=True, default=None, help="Show each camera in a local window (q or Esc stops).")
@click.option("--engine", type=click.Choice(["local", "ray"]), help='Where cameras run: this process, or one Ray actor each (pip install "streamer[ray]") [local].')
@click.option("--address", "ray_address", help="Ray cluster for --engine ray: auto, HOST:PORT or ray://HOST:10001 [RAY_ADDRESS, else a cluster started for the run].")
@click.option("--ray-cpus", type=click.FloatRange(min=0, min_open=True), help="CPUs each camera's Ray actor reserves [1].")
@click.option("--ray-detectors", type=click.Choice(["auto", "node", "camera"]), help="Where Ray cameras' detectors run: one actor per node batching its cameras (node), in each camera's actor (camera), or node where the node has a GPU (auto) [auto].")
@click.option("--fleet-stats", type=click.Path(path_type=Path), help="Write every camera's stats records (every stats_interval, 10 s, and a last one) into this one JSONL, from this process (also with --engine ray).")
@click.option("--webhook", multiple=True, metavar="URL", help="POST each event record as JSON to URL (repeatable; adds to the config's notify: list).")
@click.option("--mqtt", multiple=True, metavar="URL", help="Publish each event record to the MQTT broker at URL, e.g. mqtt://user:pass@host:1883, on streamer/CAMERA/EVENT (repeatable).")
@click.option("--blur-faces", is_flag=True, default=None, help="Blur every face (CenterFace) before any output is written or shown.")
@click.option("--blur-method", type=click.Choice(["blur", "pixelate"]), help="How faces are hidden (turns --blur-faces on) [blur].")
@click.option("--publish", multiple=True, metavar="URL", help="Push the annotated stream to URL: rtsp:// (RECORD over TCP), rtmp:// (FLV), udp:// (MPEG-TS), srt:// (repeatable).")
@click.option("--hls", type=click.Path(path_type=Path), help="Write a live HLS playlist (index.m3u8) and segments into this folder.")
@click.option("--bitrate", help="Bitrate of the live encoder of --publish/--hls, e.g. 2M or 800k [2M].")
@click.option("--gop", type=click.FloatRange(min=0, min_open=True, max=60), help="Seconds between key frames of the live encoder; viewers join at one [1].")
@_guard
def run(sources: tuple[str, ...], config_file: Path | None, no_detect: bool | None, **options: Any) -> None:
    """Process SOURCES (files, rtsp:// or http(s):// URLs, /dev/videoN): kernels, detector,
    annotated H.264 video and per-frame JSONL. Several sources run at once, each with its
    own outputs."""
    cameras = _cameras(sources, config_file, no_detect, options)
    if cameras[0].engine == "ray":
        from streamer.engines.ray import require_ray

        require_ray()  # said before anything is compiled or started
    quiet = all(c.quiet for c in cameras)
    _refuse_early(cameras)
    logging.basicConfig(level=logging.ERROR if quiet else logging.INFO, format="%(message)s")
    from streamer.server import attach

    served = attach.start(cameras)  # before anything slow: a busy port or no display fails now
    notified = figures = None
    try:
        from streamer.fleet_stats import FleetStats

        figures = FleetStats.start(cameras)  # --fleet-stats: a user's file is refused now
        _warm_kernels(cameras, quiet)
        multi = _multi_runner(cameras, quiet, served)
        notified = _notifications(cameras, multi)
        bars = _progress_bars(multi, shown=not quiet and all(c.progress for c in cameras))
        results = _run_with_bars(multi, bars, served, figures)
    finally:
        if notified is not None:
            notified.close()  # what is queued goes out, for at most 5 s
        if figures is not None:
            figures.close()
        if served is not None:
            served.close()
    _report(results, quiet)


def _refuse_early(cameras: list[Any]) -> None:
    """What can be refused before the kernels, the detector and ONNX Runtime load (0.5-1 s a
    user waited for a one-line error): a single source that is a path (missing, a directory,
    empty, ...; several sources are opened as before, each failing alone), and outputs that
    would replace a user's file or an input (the fleet checks again, cheaply; Ray stages its
    outputs and its fleet checks them)."""
    from urllib.parse import urlsplit

    from streamer.outputs.paths import check_outputs, plan_outputs
    from streamer.sources.errors import check_path
    from streamer.sources.urls import STDIN, is_live

    source = cameras[0].source if len(cameras) == 1 else None
    if source and source != STDIN and not is_live(source) and not urlsplit(source).scheme:
        check_path(Path(source))
    if cameras[0].engine != "ray":
        check_outputs([plan_outputs(c) for c in cameras if c.source is not None])


def _notifications(cameras: list[Any], multi: Any) -> Any:
    """The cameras' notifiers (``notify:``, ``--webhook``, ``--mqtt``) on their buses; None if none
    (or with Ray, where each camera's actor sends its own, see :mod:`streamer.engines.ray`)."""
    from streamer.notify import Notifications

    if any(not hasattr(r, "bus") for r in multi.runners):
        if any(c.notify for c in cameras):
            log.info("notify: sent by each camera's Ray actor, from its node")
        return None
    notified = Notifications.start(cameras)
    if notified is not None:
        notified.bind(multi.runners)
    return notified


def _cameras(sources: tuple[str, ...], config_file: Path | None, no_detect: bool | None,
             options: dict[str, Any]) -> list[Any]:
    """The settings of each camera to run: command-line options over the config file's."""
    from streamer.config import load_config, settings_from

    # Event flags change the config's events: block instead of replacing it.
    event_flags = {k: options.pop(k, None) for k in ("events", "snapshots", "clips")}
    # --webhook/--mqtt add to the config's notify: list, --blur-* change its privacy: block.
    extra = {k: options.pop(k, None) for k in ("webhook", "mqtt", "blur_faces", "blur_method")}
    publish = options.pop("publish", ())
    overrides = {k: v for k, v in options.items() if v is not None}
    if publish:
        overrides["publish"] = list(publish)
    if no_detect:
        overrides["detect"] = False
    if len(sources) == 1:
        overrides["source"] = sources[0]
    settings = load_config(config_file, overrides) if config_file else settings_from(overrides)
    if sources.count("-") > 1:
        raise click.UsageError("standard input (-) can be read by one source only")
    if len(sources) > 1:
        if settings.out is not None or settings.jsonl is not None:
            raise click.UsageError("--out and --jsonl name one file: with several sources use --out-dir")
        if settings.publish or settings.hls is not None:
            raise click.UsageError("--publish and --hls name one target: with several sources give each camera "
                                   "its own in --config (outputs:)")
        if settings.cameras:
            raise click.UsageError("give sources either on the command line or as cameras in --config, not both")
        cameras = [settings.model_copy(update={"source": src, "name": None}) for src in sources]
    elif settings.cameras and len(sources) == 0:
        cameras = settings.per_camera()
    else:
        cameras = [settings]
    if any(c.source is None for c in cameras):
        raise click.UsageError("missing SOURCE (give it as an argument or as 'source' in --config)")
    if any(v is not None for v in event_flags.values()):
        from streamer.events.config import with_flags

        on, snapshots, clips = event_flags["events"], event_flags["snapshots"], event_flags["clips"]
        cameras = [c.model_copy(update={"events": with_flags(c.events, on=on, snapshots=snapshots, clips=clips)})
                   for c in cameras]
    if any(extra.values()):
        from streamer.notify.config import with_cli
        from streamer.privacy.config import with_flags as privacy_flags

        cameras = [c.model_copy(update={
            "notify": with_cli(c.notify, extra["webhook"], extra["mqtt"]),
            "privacy": privacy_flags(c.privacy, faces=extra["blur_faces"], method=extra["blur_method"])})
            for c in cameras]
    _unique_names(cameras)
    return cameras


def _warm_kernels(cameras: list[Any], quiet: bool) -> None:
    """Compile the kernels every camera needs, under a spinner if that takes a while.

    Done here, apart from opening sources (a FIFO may wait for its writer), so the spinner
    says only what it shows.
    """
    from streamer.kernel_chain import KernelChain

    families = sorted({f for c in cameras
                       for f in KernelChain(c.kernels).families_with(detects=bool(c.detect or c.privacy))})
    if not families:
        return  # no detector, no kernels: Numba is not loaded (~0.5 s of CPU)
    from numba.core import event as numba_event

    from streamer import kernels

    compiling = threading.Event()

    class _Compiling(numba_event.Listener):
        # Numba announces a real compile ("numba:compile"), never a load from its disk cache,
        # which can also pass 1.5 s on a busy machine: the spinner said "compiling" then.
        def on_start(self, event: Any) -> None:
            compiling.set()

        def on_end(self, event: Any) -> None:
            pass

    with numba_event.install_listener("numba:compile", _Compiling()), \
            _status("compiling image kernels (first run only)", enabled=not quiet, when=compiling) as status:
        compile_s = kernels.warmup(families)
        status["done"] = f"image kernels ready in {compile_s:.1f} s (compiled once, cached for later runs)"


def _multi_runner(cameras: list[Any], quiet: bool, served: Any = None) -> Any:
    """The cameras' runners, described on stderr; from now on a signal stops them."""
    if cameras[0].engine == "ray":
        return _ray_fleet(cameras, quiet, served)
    from streamer.fleet import Fleet

    multi = Fleet(cameras, extra_outputs=served.outputs_for if served is not None else None)
    if served is not None:
        served.bind(multi)
    if not quiet:
        for r in multi.runners:
            click.echo(r.describe(), err=True)
        for line in multi.describe():
            click.echo(line, err=True)
    _signals.on_first, _signals.on_second = multi.stop, multi.abort
    return multi


def _ray_fleet(cameras: list[Any], quiet: bool, served: Any) -> Any:
    """``--engine ray``: one Ray actor per camera (:mod:`streamer.engines.ray`), read as runners
    (:mod:`streamer.engines.ray_figures`) by the progress display, ``--serve`` and ``--fleet-stats``."""
    from streamer.engines.ray import RayFleet
    from streamer.engines.ray_figures import RayFigures

    fleet = RayFigures(RayFleet(cameras))
    if served is not None:
        served.bind(fleet)
    if not quiet:
        for r in fleet.runners:
            click.echo(r.describe(), err=True)
    _signals.on_first, _signals.on_second = fleet.stop, fleet.abort
    return fleet


def _progress_bars(multi: Any, *, shown: bool) -> dict[str, Any]:
    """One progress bar per runner, by name (none when not ``shown``)."""
    if not shown:
        return {}
    from tqdm import tqdm

    return {r.name: tqdm(total=r.expected_frames, unit="frame", dynamic_ncols=True, file=sys.stderr,
                         smoothing=0.1, position=i, desc=r.name if len(multi.runners) > 1 else None)
            for i, r in enumerate(multi.runners)}


def _run_with_bars(multi: Any, bars: dict[str, Any], served: Any = None, figures: Any = None) -> list[Any]:
    """Run every camera to its end, updating ``bars`` (and ``--serve``'s status, ``--fleet-stats``);
    the runners' results."""
    def on_tick(runner: Any, stats: Any) -> None:
        if served is not None:
            served.on_tick(runner, stats)
        if figures is not None:
            figures.on_tick(runner, stats)
        bar = bars.get(runner.name)
        if bar is None:
            return
        bar.update(stats.frames_out - bar.n)
        if runner.live or runner.settings.realtime:
            bar.set_postfix_str(_live_postfix(runner.live_figures(stats)), refresh=False)

    try:
        # Log lines (reconnects, warnings) are written above the bars, not into them.
        with _logs_above(bars):
            results = multi.run(on_tick)
        if served is not None:
            served.finish(multi)
        if figures is not None:
            figures.finish(multi)
        return results
    finally:
        for bar in bars.values():
            bar.close()
        _signals.done = True


def _report(results: list[Any], quiet: bool) -> None:
    """Print each run's summary and errors; exit 130 after a signal, 1 after a failure.

    A single source's error is raised (``_guard`` prints it); with several, each failed
    camera's error is printed on its own line, credentials masked.
    """
    from streamer.sources.urls import mask_credentials

    failed = [r for r in results if r.error is not None]
    if not quiet:
        for r in results:
            if r.summary is not None:
                click.echo((f"[{r.name}] " if len(results) > 1 else "") + r.summary.format(), err=True)
    if len(results) == 1 and failed:
        raise failed[0].error  # type: ignore[misc]
    for r in failed:
        click.echo(f"streamer: error: {mask_credentials(str(r.error))}", err=True)
    if _signals.received:
        sys.exit(EXIT_INTERRUPTED)
    if failed:
        sys.exit(EXIT_ERROR)


def _live_postfix(f: dict[str, Any]) -> str:
    """The progress bar's live figures; a figure not known yet is shown as "-"."""
    def ms(v: float | None) -> str:
        return "-" if v is None else f"{v:.0f}"

    every = f", detect every {f['detect_interval']}" if f.get("detect_interval", 1) > 1 else ""
    return (f"{f['state'] or 'file'}, in {f['fps_in']:.1f} fps, dropped {f['dropped']}, "
            f"age p50 {ms(f['age_ms_p50'])} p95 {ms(f['age_ms_p95'])} ms{every}")


@contextlib.contextmanager
def _logs_above(bars: dict[str, Any]) -> Iterator[None]:
    if not bars:
        yield
        return
    from tqdm.contrib.logging import logging_redirect_tqdm

    with logging_redirect_tqdm():
        yield


def _unique_names(cameras: list[Any]) -> None:
    """Give cameras without a name one derived from the source, unique in this run."""
    from streamer.sources.urls import output_stem

    seen: set[str] = set()
    for i, cam in enumerate(cameras):
        base = cam.name or output_stem(cam.source)
        name, n = base, 2
        while name in seen:
            name, n = f"{base}-{n}", n + 1
        seen.add(name)
        if cam.name != name and (len(cameras) > 1 or cam.name is not None):
            cameras[i] = cam.model_copy(update={"name": name})


@main.command()
@click.argument("source")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@_guard
def info(source: str, as_json: bool) -> None:
    """Print what SOURCE (a file, stream URL or webcam) holds: container, streams, codecs, size, fps, duration, frames."""
    from streamer.sources import probe

    described = probe(source)
    click.echo(json.dumps(described.to_dict(), indent=2) if as_json else described.format())


@main.command()
@click.argument("files", nargs=-1, type=click.Path(path_type=Path))
@click.option("--bench", is_flag=True, help="Also time each bundled model here (ONNX Runtime on the CPU, 1 thread and default threads).")
@click.option("--runs", type=click.IntRange(1, 10000), default=20, show_default=True, help="Timed inferences per measurement with --bench.")
@_guard
def models(files: tuple[Path, ...], bench: bool, runs: int) -> None:
    """List the bundled models, or describe the ONNX FILES (or bundled names) given (inputs, outputs, layout, labels)."""
    from streamer.detection import describe_model, resolve_model
    from streamer.detection.inspect import format_bundled

    if not files:
        click.echo(format_bundled(bench_runs=runs if bench else None))
        return
    if bench:
        raise click.UsageError("--bench times the bundled models; give no FILES with it")
    for i, f in enumerate(files):
        if i:
            click.echo("")
        click.echo(describe_model(resolve_model(f)).format())


@main.command()
@click.argument("source")
@click.option("--at", "at", default="0", show_default=True, help="Time of the frame: seconds into a file (e.g. 12.5 or 12s), or of waiting on a live source.")
@click.option("--out", type=click.Path(path_type=Path), help="Picture to write, .png or .jpg [STEM.snapshot.png beside a file, numbered, never overwritten].")
@click.option("--grid", type=click.IntRange(min=4), default=50, show_default=True, help="Pixels between grid lines (every fifth is labelled).")
@click.option("--no-grid", is_flag=True, help="The plain frame (with --config's shapes, if any).")
@click.option("--config", "config_file", type=click.Path(path_type=Path), help="Also draw the zones, lines and masks of this config's camera (SOURCE may name the camera).")
@_guard
def snapshot(source: str, at: str, out: Path | None, grid: int, no_grid: bool, config_file: Path | None) -> None:
    """Write one frame of SOURCE with a pixel grid, to read zone and line coordinates off."""
    from streamer.config import load_config, parse_seconds
    from streamer.snapshot import (
        draw_grid,
        draw_shapes,
        grab,
        snapshot_path,
        write_snapshot,
    )
    from streamer.sources.urls import is_live

    try:
        seconds = parse_seconds(at)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--at") from None
    camera = None
    if config_file is not None:
        cameras = load_config(config_file).per_camera()
        by_name = {c.name: c for c in cameras}
        camera = by_name.get(source) or next((c for c in cameras if c.source == source), None)
        if camera is None and len(cameras) == 1 and (is_live(source) or Path(source).exists()):
            camera = cameras[0].model_copy(update={"source": source})  # its shapes on another view
        if camera is None:
            raise click.UsageError(f"{config_file}: no camera named {source!r} or reading it "
                                   f"(cameras: {', '.join(str(n) for n in by_name)})")
        source = camera.source or source
    path = snapshot_path(source, out)
    frame = grab(source, at=seconds)
    image = frame.image.copy()
    if not no_grid:
        draw_grid(image, step=grid)
    if camera is not None:
        draw_shapes(image, camera.zones, camera.lines, camera.masks)
    write_snapshot(image, path)
    when = f" at {frame.time:.2f} s" if frame.time is not None else ""
    click.echo(f"{path}: {frame.width}x{frame.height} frame{when}" + ("" if no_grid else f", grid every {grid} px"))


def entry() -> None:
    """The ``streamer`` command: :func:`main`, ended without Python's finalisation when a source
    is still stuck in FFmpeg.

    A live source blocked in a connect (a camera that accepts TCP and never answers) is left
    behind when the run stops (``streamer.pipeline.DETACH_GRACE``); FFmpeg keeps its thread
    until its own timeout, calling PyAV's interrupt callback, which takes the GIL, every
    ~100 ms. If that lands while the interpreter finalises, the thread is torn down inside C
    code: ``test_ctrl_c_while_blocked_connecting`` saw the process die by SIGSEGV (-11) instead
    of exiting 130, once in a full suite run. The outputs are closed by then, so the process
    flushes what it printed and ends at once with the status it had.
    """
    try:
        main()
    except SystemExit as exc:
        pipeline = sys.modules.get("streamer.pipeline")  # not imported: no source ran
        if pipeline is None or not pipeline.stuck_sources():
            raise
        code = exc.code
        if code is not None and not isinstance(code, int):
            print(code, file=sys.stderr)
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code if isinstance(code, int) else (0 if code is None else EXIT_ERROR))


if __name__ == "__main__":
    entry()
