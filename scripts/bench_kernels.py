#!/usr/bin/env python
"""Benchmark: every ``streamer.kernels`` kernel against its OpenCV equivalent, same run.

On a real 720p frame (the first of ``imageio_cockatoo_yuv420.mp4``) and a 1080p frame
(the same frame enlarged with ``cv2.resize``: no 1080p clip ships in ``shared/media``),
with 1 and 2 threads (``numba.set_num_threads`` and ``cv2.setNumThreads`` alike).  Each
timing is the median of ``--repeats`` runs, ours and OpenCV's interleaved so that load
from other processes hits both alike.  ``ratio`` is ours / OpenCV's time (below 1: we
are faster).  Where OpenCV has no such kernel, the equivalent is built from OpenCV and
NumPy calls and says so.

Also: the fused denoise -> colour -> edges chain against the same chain in OpenCV
calls, the first-call compile time with an empty Numba cache (a subprocess with a
temporary ``NUMBA_CACHE_DIR``) and the start-up time with a warm cache (a fresh
subprocess that imports the package and runs ``warmup()`` for every family, or for the
families a pipeline warms; median of 5).

Usage::

    python scripts/bench_kernels.py [--repeats 7] [--json] [--skip-compile]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numba
import numpy as np

from streamer import kernels as K

REPO = Path(__file__).resolve().parents[1]
CLIP = REPO.parent / "shared" / "media" / "imageio_cockatoo_yuv420.mp4"


def first_frame(path: Path) -> np.ndarray:
    import av

    with av.open(str(path)) as container:
        return next(container.decode(video=0)).to_ndarray(format="bgr24")


def timed(fns: dict[str, Callable[[], Any]], repeats: int) -> dict[str, float]:
    """Median milliseconds of each callable, run interleaved ``repeats`` times."""
    for fn in fns.values():
        fn()  # compile / warm caches
    runs: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            runs[name].append((time.perf_counter() - start) * 1e3)
    return {k: statistics.median(v) for k, v in runs.items()}


def cv2_edges(gray: np.ndarray, scharr: bool = False) -> np.ndarray:
    op = (lambda g, dx, dy: cv2.Scharr(g, cv2.CV_16S, dx, dy)) if scharr else (
        lambda g, dx, dy: cv2.Sobel(g, cv2.CV_16S, dx, dy))
    return cv2.add(cv2.convertScaleAbs(op(gray, 1, 0)), cv2.convertScaleAbs(op(gray, 0, 1)))


class Cv2Temporal:
    """The temporal denoiser's algorithm from OpenCV + NumPy calls (OpenCV has none)."""

    def __init__(self, strength: float = 4.0, history: float = 10.0) -> None:
        self.state: np.ndarray | None = None
        self.low, self.k0 = strength, 2.0 / (history + 1.0)

    def apply(self, image: np.ndarray) -> np.ndarray:
        frame = image.astype(np.float32)
        if self.state is None:
            self.state = frame
            return image.copy()
        diff = cv2.subtract(image.astype(np.int16), np.rint(self.state).astype(np.int16))
        smoothed = np.abs(cv2.GaussianBlur(diff.astype(np.float32), (3, 3), 0)).max(axis=2)
        ramp = np.clip((smoothed - self.low) / self.low, 0.0, 1.0)
        k = (self.k0 + (1 - self.k0) * ramp)[..., None]
        self.state = cv2.add(self.state, cv2.multiply(cv2.subtract(frame, self.state), np.repeat(k, 3, axis=2)))
        return np.rint(self.state).astype(np.uint8)


class Cv2Motion:
    """The motion detector from OpenCV calls (background model, clean-up, boxes)."""

    def __init__(self) -> None:
        self.background: np.ndarray | None = None
        self.kernel = np.ones((3, 3), np.uint8)

    def update(self, image: np.ndarray) -> Any:
        gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        if self.background is None:
            self.background = gray.astype(np.float32)
            return None
        diff = cv2.absdiff(gray.astype(np.float32), self.background)
        _, raw = cv2.threshold(diff, 25, 255, cv2.THRESH_BINARY)
        cv2.accumulateWeighted(gray, self.background, 0.05)
        mask = cv2.morphologyEx(raw.astype(np.uint8), cv2.MORPH_OPEN, self.kernel)
        mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, self.kernel)
        return cv2.connectedComponentsWithStats(mask, connectivity=8)


def cases(image: np.ndarray, moved: np.ndarray) -> list[tuple[str, Callable[[], Any], Callable[[], Any], str]]:
    """(name, ours, OpenCV's, note) per kernel on ``image``."""
    h, w = image.shape[:2]
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    out = np.empty_like(image)
    out_gray = np.empty_like(gray)
    yuv = cv2.cvtColor(image, cv2.COLOR_BGR2YUV)
    i420 = cv2.cvtColor(image, cv2.COLOR_BGR2YUV_I420)
    stack = np.empty(h * w, np.int32)
    mask = np.where(cv2.absdiff(gray, cv2.cvtColor(moved, cv2.COLOR_BGR2GRAY)) > 25, 255, 0).astype(np.uint8)
    ones3 = np.ones((3, 3), np.uint8)
    lut = K.color_lut(K.balance_gains(image), gamma=0.8)
    lut_cv = np.ascontiguousarray(lut.T).reshape(256, 1, 3)
    model = np.empty((1, 3, 416, 416), np.float32)
    clahe_cv = cv2.createCLAHE(2.0, (8, 8))
    clahe = K.Clahe(2.0, 8)
    temporal, temporal_cv = K.TemporalDenoiser(4.0), Cv2Temporal(4.0)
    motion, motion_cv = K.MotionDetector(), Cv2Motion()
    frames = (image, moved)
    tick = [0, 0]

    def next_frame(slot: int) -> np.ndarray:
        tick[slot] += 1
        return frames[tick[slot] % 2]

    def cv2_grayworld_gamma() -> np.ndarray:
        means = np.asarray(cv2.mean(image)[:3])
        gains = means.mean() / means
        table = np.clip(np.arange(256.0)[:, None] * gains, 0, 255)
        table = np.floor(255.0 * (table / 255.0) ** (1 / 0.8) + 0.5).astype(np.uint8)
        return cv2.LUT(image, table.reshape(256, 1, 3))

    def cv2_whitepatch() -> np.ndarray:
        levels = []
        for c in range(3):
            hist = cv2.calcHist([image], [c], None, [256], [0, 256]).ravel()
            levels.append(max(int(np.searchsorted(np.cumsum(hist), 0.99 * h * w)), 1))
        table = np.clip(np.floor(np.arange(256.0)[:, None] * (255.0 / np.array(levels)) + 0.5), 0, 255)
        return cv2.LUT(image, table.astype(np.uint8).reshape(256, 1, 3))

    def cv2_saturation() -> np.ndarray:
        g = cv2.cvtColor(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
        return cv2.addWeighted(image, 1.3, g, -0.3, 0)

    def cv2_clahe_bgr() -> np.ndarray:
        planes = cv2.cvtColor(image, cv2.COLOR_BGR2YUV)
        planes[..., 0] = clahe_cv.apply(np.ascontiguousarray(planes[..., 0]))
        return cv2.cvtColor(planes, cv2.COLOR_YUV2BGR)

    def cv2_overlay() -> np.ndarray:
        edges = cv2_edges(gray)
        blended = cv2.addWeighted(image, 0.4, np.full_like(image, (0, 255, 0)), 0.6, 0)
        result = image.copy()
        cv2.copyTo(blended, (edges >= 64).astype(np.uint8), result)
        return result

    def cv2_preprocess() -> np.ndarray:
        resized = cv2.resize(image, (416, 234))
        padded = cv2.copyMakeBorder(resized, 91, 91, 0, 0, cv2.BORDER_CONSTANT, value=(114, 114, 114))
        rgb = cv2.cvtColor(padded, cv2.COLOR_BGR2RGB)
        return (rgb.astype(np.float32) / 255.0).transpose(2, 0, 1)[None].copy()

    edges = K.sobel_edges(image)
    small = (w // 3, h // 3)
    odd = (int(w / 3.1), int(h / 3.1))
    return [
        ("gaussian_blur 5x5", lambda: K.gaussian_blur(image, ksize=5, out=out),
         lambda: cv2.GaussianBlur(image, (5, 5), 0), ""),
        ("median_blur 3x3", lambda: K.median_blur(image, out=out), lambda: cv2.medianBlur(image, 3), ""),
        ("bilateral d=5", lambda: K.bilateral_filter(image, d=5, sigma_color=30, sigma_space=5, out=out),
         lambda: cv2.bilateralFilter(image, 5, 30, 5), ""),
        ("temporal denoise", lambda: temporal.apply(next_frame(0), out=out),
         lambda: temporal_cv.apply(next_frame(1)), "OpenCV has none: same algorithm in cv2+NumPy calls"),
        ("gray-world + gamma", lambda: K.color_adjust(image, gamma=0.8, out=out), cv2_grayworld_gamma,
         "cv2.mean + cv2.LUT"),
        ("white-patch", lambda: K.color_adjust(image, white_balance="whitepatch", out=out), cv2_whitepatch,
         "cv2.calcHist x3 + cv2.LUT"),
        ("saturation 1.3", lambda: K.color_adjust(image, white_balance=False, saturation=1.3, out=out),
         cv2_saturation, "cvtColor x2 + addWeighted"),
        ("clahe (gray)", lambda: clahe.apply(gray, out=out_gray), lambda: clahe_cv.apply(gray), ""),
        ("clahe (BGR luma)", lambda: clahe.apply(image, out=out), cv2_clahe_bgr, "via YUV in OpenCV"),
        ("bgr_to_gray", lambda: K.bgr_to_gray(image, out=out_gray),
         lambda: cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), ""),
        ("bgr_to_yuv", lambda: K.bgr_to_yuv(image, out=out), lambda: cv2.cvtColor(image, cv2.COLOR_BGR2YUV), ""),
        ("yuv_to_bgr", lambda: K.yuv_to_bgr(yuv, out=out), lambda: cv2.cvtColor(yuv, cv2.COLOR_YUV2BGR), ""),
        ("bgr_to_i420", lambda: K.bgr_to_i420(image), lambda: cv2.cvtColor(image, cv2.COLOR_BGR2YUV_I420), ""),
        ("i420_to_bgr", lambda: K.i420_to_bgr(i420, out=out),
         lambda: cv2.cvtColor(i420, cv2.COLOR_YUV2BGR_I420), ""),
        ("sobel_edges (BGR)", lambda: K.sobel_edges(image, out=out_gray),
         lambda: cv2_edges(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)), "cvtColor + Sobel x2 + convertScaleAbs x2 + add"),
        ("scharr_edges (BGR)", lambda: K.scharr_edges(image, out=out_gray),
         lambda: cv2_edges(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), True), "as Sobel, with Scharr"),
        ("canny (gray)", lambda: K.canny_edges(gray, out=out_gray, stack=stack),
         lambda: cv2.Canny(gray, 50, 150), ""),
        ("canny (BGR)", lambda: K.canny_edges(image, out=out_gray, stack=stack),
         lambda: cv2.Canny(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), 50, 150), "cvtColor + Canny"),
        ("edge_overlay", lambda: K.edge_overlay(image, edges, out=out), cv2_overlay,
         "OpenCV side includes its Sobel map"),
        ("morphology open", lambda: K.morphology(mask, op="open", out=out_gray),
         lambda: cv2.morphologyEx(mask, cv2.MORPH_OPEN, ones3), ""),
        ("connected_boxes", lambda: K.connected_boxes(mask),
         lambda: cv2.connectedComponentsWithStats(mask, connectivity=8), ""),
        ("motion detector", lambda: motion.update(next_frame(0), keep_mask=False),
         lambda: motion_cv.update(next_frame(1)), "OpenCV has none: same steps in cv2 calls"),
        ("resize bilinear 1/3", lambda: K.resize(image, small), lambda: cv2.resize(image, small), ""),
        ("resize area 1/3", lambda: K.resize(image, small, method="area"),
         lambda: cv2.resize(image, small, interpolation=cv2.INTER_AREA), ""),
        ("resize area 1/3.1", lambda: K.resize(image, odd, method="area"),
         lambda: cv2.resize(image, odd, interpolation=cv2.INTER_AREA), ""),
        ("preprocess 416 letterbox", lambda: K.preprocess(image, model, resize="letterbox", swap_rb=True,
                                                          std=(255.0,) * 3),
         cv2_preprocess, "resize + pad + cvtColor + scale + transpose"),
        ("FUSED blur3->grayworld->gamma->sobel",
         lambda: K.fused_filter(image, blur=3, lut=K.color_lut(K.balance_gains(image), gamma=0.8), out=out,
                                edges="sobel", edges_out=out_gray),
         lambda: cv2_chain(image, lut_cv), "GaussianBlur + mean + LUT + cvtColor + Sobel chain"),
    ]


def cv2_chain(image: np.ndarray, lut_cv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The fused chain's steps in OpenCV calls (the LUT's gains measured by cv2.mean)."""
    blurred = cv2.GaussianBlur(image, (3, 3), 0)
    cv2.mean(image)
    coloured = cv2.LUT(blurred, lut_cv)
    return coloured, cv2_edges(cv2.cvtColor(coloured, cv2.COLOR_BGR2GRAY))


def subprocess_seconds(code: str, env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=REPO)
    return time.perf_counter() - start


def startup(skip_compile: bool) -> dict[str, float]:
    """Cold compile and warm start-up, each in a fresh interpreter."""
    code = "import streamer.kernels as K; K.warmup()"
    env = dict(os.environ)
    result: dict[str, float] = {}
    if not skip_compile:
        with tempfile.TemporaryDirectory() as cache:
            result["compile_empty_cache_s"] = subprocess_seconds(code, {**env, "NUMBA_CACHE_DIR": cache})
    subprocess_seconds(code, env)  # make sure the normal cache is filled
    result["startup_warm_cache_s"] = statistics.median(subprocess_seconds(code, env) for _ in range(5))
    # What the pipeline warms: "preprocess" plus the families of the stream's chain.
    for label, families in (("preprocess", ["preprocess"]),
                            ("preprocess_fused_edges", ["preprocess", "fused", "edges"])):
        one = f"import streamer.kernels as K; K.warmup({families!r})"
        result[f"startup_warm_cache_{label}_s"] = statistics.median(
            subprocess_seconds(one, env) for _ in range(5))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of a table")
    parser.add_argument("--skip-compile", action="store_true", help="skip the empty-cache compile timing (~1 min)")
    parser.add_argument("--clip", type=Path, default=CLIP)
    args = parser.parse_args()

    base = first_frame(args.clip)
    sizes = {"720p": base, "1080p": cv2.resize(base, (1920, 1080), interpolation=cv2.INTER_LINEAR)}
    K.warmup()
    rows = []
    for size, image in sizes.items():
        moved = np.ascontiguousarray(np.roll(image, 24, axis=1))
        for threads in (1, 2):
            numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
            cv2.setNumThreads(threads)
            for name, ours, theirs, note in cases(image, moved):
                t = timed({"ours": ours, "opencv": theirs}, args.repeats)
                rows.append({"kernel": name, "size": size, "threads": threads, "ours_ms": round(t["ours"], 3),
                             "opencv_ms": round(t["opencv"], 3), "ratio": round(t["ours"] / t["opencv"], 2),
                             "note": note})
                if not args.json:
                    print(f"{name:38s} {size:6s} {threads}t  ours {t['ours']:8.3f} ms  opencv "
                          f"{t['opencv']:8.3f} ms  ratio {t['ours'] / t['opencv']:5.2f}  {note}", flush=True)
    times = startup(args.skip_compile)
    report = {"machine": f"{os.cpu_count()} CPUs, numba {numba.__version__}, opencv {cv2.__version__}",
              "frame": f"{args.clip.name} frame 0; 1080p = cv2.resize of it", "rows": rows, **times}
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for key, value in times.items():
            print(f"{key}: {value:.2f} s")


if __name__ == "__main__":
    main()
