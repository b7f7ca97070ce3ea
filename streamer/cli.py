"""``streamer``: a thin command line over :mod:`streamer`'s Python API."""

from __future__ import annotations

import json
import logging
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

import click

from streamer.errors import PipelineError, StreamerError

log = logging.getLogger("streamer")

EXIT_ERROR = 1
EXIT_INTERRUPTED = 130


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


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="streamer")
def main() -> None:
    """Real-time video processing: decode, image kernels, ONNX detection, annotated output."""


@main.command()
@click.argument("source", required=False)
@click.option("--config", "config_file", type=click.Path(path_type=Path), help="YAML file with the same settings (options given here override it).")
@click.option("--model", type=click.Path(path_type=Path), help="ONNX detector (default: the bundled NanoDet-g).")
@click.option("--conf", type=click.FloatRange(0, 1), help="Minimum detection score [0.35].")
@click.option("--iou", type=click.FloatRange(0, 1), help="IoU threshold of class-aware NMS [0.45].")
@click.option("--classes", help="Keep only these classes, comma-separated names or ids (e.g. person,car).")
@click.option("--detect-every", type=click.IntRange(min=1), help="Run the detector on every N-th frame [1].")
@click.option("--no-detect", "no_detect", is_flag=True, default=None, help="Only run the kernels, no detector.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda", "tensorrt"]), help="Where the detector runs [auto].")
@click.option("--threads", type=click.IntRange(1, 64), help="ONNX Runtime threads per detector [cores / workers].")
@click.option("--detect-workers", type=click.IntRange(1, 16), help="Detectors on successive frames in parallel [2 on a multi-core CPU, 1 on a GPU].")
@click.option("--kernels", help='Image steps, e.g. "denoise=gaussian:ksize=5,white_balance=grayworld,gamma=0.8,edges=sobel".')
@click.option("--out", type=click.Path(path_type=Path), help="Annotated video [SOURCE stem + .annotated.mp4].")
@click.option("--jsonl", type=click.Path(path_type=Path), help="Detections file [SOURCE stem + .detections.jsonl].")
@click.option("--no-video", is_flag=True, default=None, help="Write only the JSONL.")
@click.option("--hud/--no-hud", default=None, help="Frame index, fps and latency in the corner [on].")
@click.option("--crf", type=click.IntRange(0, 51), help="x264 quality, lower is better [23].")
@click.option("--preset", help="x264 preset [superfast]; veryfast makes ~45% smaller files for ~35% more encoder CPU.")
@click.option("--max-frames", type=click.IntRange(min=1), help="Stop after N frames.")
@click.option("--duration", type=click.FloatRange(min=0, min_open=True), help="Stop after this many seconds of video.")
@click.option("--progress/--no-progress", default=None, help="Progress bar [on].")
@click.option("--quiet", "-q", is_flag=True, default=None, help="Print only errors.")
@_guard
def run(source: str | None, config_file: Path | None, no_detect: bool | None, **options: Any) -> None:
    """Process SOURCE: kernels, detector, annotated H.264 video and per-frame JSONL."""
    from streamer.config import load_config, settings_from
    from streamer.runner import Runner

    overrides = {k: v for k, v in options.items() if v is not None}
    if no_detect:
        overrides["detect"] = False
    if source is not None:
        overrides["source"] = source
    settings = load_config(config_file, overrides) if config_file else settings_from(overrides)
    if settings.source is None:
        raise click.UsageError("missing SOURCE (give it as an argument or as 'source' in --config)")
    logging.basicConfig(level=logging.WARNING if settings.quiet else logging.INFO, format="%(message)s")

    runner = Runner(settings)
    if not settings.quiet:
        click.echo(f"{settings.source}: {runner.info.video.width}x{runner.info.video.height}; {runner.describe()}", err=True)  # type: ignore[union-attr]
    interrupted: list[int] = []

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        interrupted.append(signum)
        if len(interrupted) == 1:
            click.echo(f"\nstreamer: {signal.Signals(signum).name}: finishing the frames in flight (again to stop at once)", err=True)
            runner.stop()
        else:
            runner.abort()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    bar = None
    if settings.progress and not settings.quiet:
        from tqdm import tqdm

        bar = tqdm(total=runner.expected_frames, unit="frame", dynamic_ncols=True, file=sys.stderr, smoothing=0.1)

    def on_tick(stats: Any) -> None:
        if bar is not None:
            bar.update(stats.frames_out - bar.n)

    try:
        summary = runner.run(on_tick)
    finally:
        if bar is not None:
            bar.close()
        for s, h in previous.items():
            signal.signal(s, h)
    if not settings.quiet:
        click.echo(summary.format(), err=True)
    if interrupted:
        sys.exit(EXIT_INTERRUPTED)


@main.command()
@click.argument("source")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@_guard
def info(source: str, as_json: bool) -> None:
    """Print what SOURCE holds: container, streams, codecs, size, fps, duration, frames."""
    from streamer.sources import probe

    described = probe(source)
    click.echo(json.dumps(described.to_dict(), indent=2) if as_json else described.format())


@main.command()
@click.argument("files", nargs=-1, type=click.Path(path_type=Path))
@_guard
def models(files: tuple[Path, ...]) -> None:
    """List the bundled models, or describe the ONNX FILES given (inputs, outputs, layout, labels)."""
    from streamer.detection import bundled_models, describe_model

    if not files:
        for path, card in bundled_models():
            click.echo(f"{card.name}  {card.family}  {card.input.width}x{card.input.height}  "
                       f"{len(card.labels)} classes  {card.licence}  {path}")
        return
    for i, f in enumerate(files):
        if i:
            click.echo("")
        click.echo(describe_model(f).format())


if __name__ == "__main__":
    main()
