#!/usr/bin/env python3
"""INT8 and a smaller detection size against FP32: speed and boxes kept, in one run.

    python scripts/bench_int8.py [--runs 40] [--threads 1 2] [--extra NAME=FILE ...]

For each variant (bundled model, precision, detection size) the product's own
:class:`~streamer.detection.Detector` is built on the CPU; per inference
(``session.run`` only, the same prepared real frame for all) it reports the median wall
time and the median CPU time of the process (all ONNX Runtime threads), runs interleaved
across the variants so that other load on the machine hits them alike; then *frames per
CPU-second* (1000 / CPU ms) and its ratio to the model's FP32 at its own size, the figure
``scripts/quantize_int8.py`` requires to be >= 1.3x.  The accuracy columns compare each
variant's detections with the model's FP32 at 416 on the evaluation frames of
``quantize_int8.py`` (:mod:`streamer.detection.agreement`: reference boxes >= 0.5 matched
at IoU 0.7 by a box >= 0.35, new boxes >= 0.5).  ``--extra yolox-int8=/tmp/q/x.onnx``
adds a model file (e.g. a candidate the quantizer refused; a card beside it is needed).

Ratios are what to read: the absolute milliseconds move with the machine's other load.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import modelprep as mp
from quantize_int8 import frame_sets

#: (label, model, precision, detect size, reference label for the speed ratio)
VARIANTS = [
    ("yolox-nano fp32", "yolox-nano", "fp32", None, None),
    ("yolox-nano fp32 @320", "yolox-nano", "fp32", 320, "yolox-nano fp32"),
    ("nanodet-g fp32", "nanodet-g", "fp32", None, None),
    ("nanodet-g int8", "nanodet-g", "int8", None, "nanodet-g fp32"),
    ("nanodet-g int8 @320", "nanodet-g", "int8", 320, "nanodet-g fp32"),
]
#: The reference variant of each family.
FP32_OF = {"yolox": "yolox-nano fp32", "nanodet": "nanodet-g fp32"}


@dataclass
class Row:
    """One variant at one thread count."""

    label: str
    detector: Any
    reference: str | None
    family_ref: str
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Parse the command line."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=40, help="timed inferences per variant and thread count")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--extra", action="append", default=[], metavar="LABEL=FILE",
                    help="another model file (with its card), compared with the bundled FP32 model of its family")
    ap.add_argument("--accuracy-frames", type=int, default=60, help="evaluation frames for the accuracy columns")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print a Markdown table."""
    args = parse_args(list(sys.argv[1:] if argv is None else argv))
    import onnxruntime as ort

    from streamer.detection import Detector
    from streamer.detection.agreement import Agreement

    shared = mp.REPO_ROOT.parent / "shared" / "media"
    _, evaluate, described = frame_sets(shared if shared.is_dir() else None)
    frames = evaluate[:: max(1, len(evaluate) // args.accuracy_frames)]
    variants = list(VARIANTS)
    for item in args.extra:
        label, _, file = item.partition("=")
        variants.append((label, file, "auto", None, FP32_OF[Detector(file, device="cpu").card.family]))

    # Accuracy: each variant against its model's FP32 at 416 (one thread, not timed).
    refs: dict[str, list[Any]] = {}
    accuracy: dict[str, str] = {}
    for label, model, precision, size, _ in variants:
        detector = Detector(model, device="cpu", threads=1, precision=precision, detect_size=size)
        found = [detector.detect(f) for f in frames]
        family = detector.card.family
        if label in FP32_OF.values():
            refs[family] = found
            accuracy[label] = "reference"
        else:
            a = Agreement().extend(zip(refs[family], found))
            accuracy[label] = f"{a.matched_share:.1%} kept, {a.new_share:.1%} new ({a.reference} boxes)"

    print(f"ONNX Runtime {ort.__version__}, CPU; accuracy on {len(frames)} frames of: {'; '.join(described)}")
    print()
    print("| variant | input | threads | wall ms | CPU ms | frames per CPU-s | vs FP32 | FP32 boxes >= 0.5 kept, new |")
    print("|---|---|---|---|---|---|---|---|")
    image = frames[len(frames) // 2]
    for threads in args.threads:
        rows = []
        for label, model, precision, size, reference in variants:
            detector = Detector(model, device="cpu", threads=threads, precision=precision, detect_size=size)
            detector.prepare(image)
            for _ in range(3):
                detector.infer()
            rows.append(Row(label, detector, reference, detector.card.family))
        for _ in range(args.runs):
            for row in rows:
                wall, cpu = time.perf_counter(), time.process_time()
                row.detector.infer()
                row.cpu.append(time.process_time() - cpu)
                row.wall.append(time.perf_counter() - wall)
        cpu_ms = {row.label: 1000 * statistics.median(row.cpu) for row in rows}
        for row in rows:
            width, height = row.detector.input_size
            ratio = cpu_ms[row.reference] / cpu_ms[row.label] if row.reference else 1.0
            print(f"| {row.label} | {width}x{height} | {threads} | {1000 * statistics.median(row.wall):.2f} | "
                  f"{cpu_ms[row.label]:.2f} | {1000 / cpu_ms[row.label]:.1f} | {ratio:.2f}x | {accuracy[row.label]} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
