"""Tracking accuracy on real MOT ground truth, shared by tests/test_tracking.py and
scripts/bench_tracking.py.

motmetrics ships the ground truth of two MOTChallenge sequences (TUD-Campus: 71 frames,
8 people; TUD-Stadtmitte: 179 frames, 10 people; 640x480, 25 fps). From it we make what a
detector would give (:func:`detector_like`: jittered boxes, missed boxes in bursts,
false positives, noisy scores, all from a seed), run a tracker over it and score the
result with motmetrics (:func:`evaluate`: MOTA, IDF1, id switches).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from streamer.detection import Detections

SEQUENCES = ("TUD-Campus", "TUD-Stadtmitte")
FPS = 25.0
WIDTH, HEIGHT = 640, 480


@dataclass(frozen=True)
class GroundTruth:
    """One sequence: per frame (0-based, every frame present) the ids and boxes."""

    name: str
    ids: list[np.ndarray]
    """Per frame, shape (K,), int64."""
    boxes: list[np.ndarray]
    """Per frame, shape (K, 4), float32, x1, y1, x2, y2."""


def load_ground_truth(name: str) -> GroundTruth:
    """Read ``motmetrics/data/<name>/gt.txt`` (MOT format: frame, id, x, y, w, h, ...)."""
    spec = importlib.util.find_spec("motmetrics")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("motmetrics is not installed (pip install motmetrics)")
    path = Path(spec.submodule_search_locations[0]) / "data" / name / "gt.txt"
    rows = np.loadtxt(path, delimiter=",", ndmin=2)
    frames = rows[:, 0].astype(int) - 1
    ids, boxes = [], []
    for k in range(frames.max() + 1):
        r = rows[frames == k]
        ids.append(r[:, 1].astype(np.int64))
        boxes.append(np.concatenate([r[:, 2:4], r[:, 2:4] + r[:, 4:6]], axis=1).astype(np.float32))
    return GroundTruth(name, ids, boxes)


def detector_like(gt: GroundTruth, *, seed: int, miss: float = 0.2, burst: float = 3.0,
                  jitter: float = 0.05, false_positives: float = 0.5) -> list[Detections]:
    """Per frame, what a person detector might find, derived from the ground truth.

    Parameters
    ----------
    gt : GroundTruth
        The sequence.
    seed : int
        Everything random comes from ``numpy.random.default_rng(seed)``.
    miss : float
        Fraction of boxes missed, in bursts: each object alternates between seen and
        missed runs, the missed ones ``burst`` frames long on average (occlusion).
    burst : float
        Mean length in frames of a run of misses.
    jitter : float
        Standard deviation of the centre (and relative size) noise, as a fraction of
        the box's width and height.
    false_positives : float
        Mean false boxes per frame (Poisson), person-shaped, scored 0.1-0.65.

    Returns
    -------
    list of Detections
        One per frame, class 0 ("person"), scores ~ N(0.7, 0.2) clipped to
        [0.02, 0.99] (about one in six below 0.5: ByteTrack's second stage matters).
    """
    rng = np.random.default_rng(seed)
    to_seen = 1.0 / burst
    to_missed = miss * to_seen / (1.0 - miss)  # stationary miss rate = miss
    missed: dict[int, bool] = {}
    out = []
    for ids, boxes in zip(gt.ids, gt.boxes):
        keep = np.empty(len(ids), bool)
        for j, obj in enumerate(ids.tolist()):
            was = missed.get(obj, rng.random() < miss)
            now = (rng.random() >= to_seen) if was else (rng.random() < to_missed)
            missed[obj] = now
            keep[j] = not now
        b = boxes[keep].astype(np.float64)
        wh = b[:, 2:] - b[:, :2]
        centre = b[:, :2] + wh / 2 + rng.normal(0, jitter, wh.shape) * wh
        wh = wh * np.exp(rng.normal(0, jitter, wh.shape))
        b = np.concatenate([centre - wh / 2, centre + wh / 2], axis=1)
        score = np.clip(rng.normal(0.7, 0.2, len(b)), 0.02, 0.99)
        n_fp = rng.poisson(false_positives)
        fw = rng.uniform(30, 110, n_fp)
        fh = fw * rng.uniform(1.8, 3.0, n_fp)
        fx = rng.uniform(0, WIDTH - fw)
        fy = rng.uniform(0, HEIGHT - fh)
        fp = np.stack([fx, fy, fx + fw, fy + fh], axis=1)
        b = np.concatenate([b, fp])
        score = np.concatenate([score, rng.uniform(0.1, 0.65, n_fp)])
        order = rng.permutation(len(b))  # a detector's order says nothing about identity
        out.append(Detections(
            xyxy=b[order].astype(np.float32), confidence=score[order].astype(np.float32),
            class_id=np.zeros(len(b), np.int32), labels=("person",),
        ))
    return out


Tracked = tuple[np.ndarray, np.ndarray]
"""A tracker's output on one frame: ids (K,) and boxes (K, 4) xyxy."""


def run_ours(dets: Sequence[Detections], *, detect_every: int = 1, **settings: object) -> list[Tracked]:
    """Track with :class:`streamer.tracking.ByteTracker`, the detector running on every
    ``detect_every``-th frame and the tracker predicting the frames between; frame times
    are given (25 fps)."""
    from streamer.tracking import ByteTracker

    tracker = ByteTracker(**settings)  # type: ignore[arg-type]
    out = []
    for k, d in enumerate(dets):
        r = tracker.update(d, detected=k % detect_every == 0, time=k / FPS)
        ok = r.tracker_id > 0
        out.append((r.tracker_id[ok], r.xyxy[ok]))
    return out


def established_available() -> bool:
    """Whether Roboflow's ``trackers`` package (the reference ByteTrack) is installed."""
    return importlib.util.find_spec("trackers") is not None


def run_established(dets: Sequence[Detections], *, detect_every: int = 1, **settings: object) -> list[Tracked]:
    """Track with ``trackers.ByteTrackTracker`` (Roboflow's, the successor of supervision's).

    It cannot predict boxes without detections, so with ``detect_every`` > 1 it sees
    every ``detect_every``-th frame (told the lower frame rate) and its last output is
    held on the frames between, which is what the pipeline does without a tracker.
    """
    import supervision as sv
    from trackers import ByteTrackTracker

    tracker = ByteTrackTracker(frame_rate=FPS / detect_every, **settings)  # type: ignore[arg-type]
    out: list[Tracked] = []
    last: Tracked = (np.empty(0, np.int64), np.empty((0, 4), np.float32))
    for k, d in enumerate(dets):
        if k % detect_every == 0:
            r = tracker.update(sv.Detections(xyxy=d.xyxy.astype(np.float64), confidence=d.confidence,
                                              class_id=d.class_id))
            ok = r.tracker_id >= 0
            last = (np.asarray(r.tracker_id[ok], np.int64), r.xyxy[ok].astype(np.float32))
        out.append(last)
    return out


def established_settings(**ours: float) -> dict[str, float]:
    """``trackers.ByteTrackTracker`` arguments equivalent to ours (thresholds, lost time).

    Its first-stage gate is a plain IoU (``minimum_iou_threshold``), ours
    ``1 - match_thresh`` on IoU x score; its activation threshold is our
    ``new_track_thresh``.
    """
    track = ours.get("track_thresh", 0.5)
    return {
        "high_conf_det_threshold": track,
        "track_activation_threshold": ours.get("new_track_thresh", track + 0.1),
        "minimum_consecutive_frames": int(ours.get("min_hits", 2)),
        "lost_track_buffer": int(ours.get("lost_frames", 30)),
    }


def evaluate(gt: GroundTruth, tracked: Sequence[Tracked]) -> dict[str, float]:
    """Score tracker output against the ground truth with motmetrics (IoU >= 0.5 to match).

    Returns
    -------
    dict
        ``mota``, ``idf1``, ``switches`` (identity switches), ``fp``, ``misses``,
        ``precision``, ``recall``.
    """
    import motmetrics as mm

    acc = mm.MOTAccumulator(auto_id=True)
    for gt_ids, gt_boxes, (ids, boxes) in zip(gt.ids, gt.boxes, tracked):
        dist = _iou_distance(gt_boxes, boxes)
        acc.update(gt_ids.tolist(), np.asarray(ids).tolist(), dist)
    names = ["mota", "idf1", "num_switches", "num_false_positives", "num_misses", "precision", "recall"]
    summary = mm.metrics.create().compute(acc, metrics=names, name="x")
    row = summary.loc["x"]
    return {
        "mota": float(row["mota"]), "idf1": float(row["idf1"]), "switches": int(row["num_switches"]),
        "fp": int(row["num_false_positives"]), "misses": int(row["num_misses"]),
        "precision": float(row["precision"]), "recall": float(row["recall"]),
    }


def _iou_distance(gt_boxes: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """``motmetrics.distances.iou_matrix(..., max_iou=0.5)``: 1 - IoU, NaN (no match) where
    that is above 0.5.  Its own function calls ``np.asfarray``, gone in NumPy 2, and
    motmetrics 1.4.0 (2022) is still the newest release, so the same formula is here."""
    a = gt_boxes.astype(np.float64).reshape(-1, 1, 4)
    b = np.asarray(boxes, np.float64).reshape(1, -1, 4)
    wh = np.clip(np.minimum(a[..., 2:], b[..., 2:]) - np.maximum(a[..., :2], b[..., :2]), 0, None)
    inter = wh[..., 0] * wh[..., 1]
    area = lambda x: (x[..., 2] - x[..., 0]) * (x[..., 3] - x[..., 1])  # noqa: E731
    dist = 1.0 - inter / (area(a) + area(b) - inter)
    dist[dist > 0.5] = np.nan
    return dist


def score(name: str, run: Callable[..., list[Tracked]], *, seeds: Sequence[int], detect_every: int = 1,
          **settings: object) -> dict[str, float]:
    """Mean of :func:`evaluate` over detector-like inputs from ``seeds`` (switches summed)."""
    gt = load_ground_truth(name)
    results = [evaluate(gt, run(detector_like(gt, seed=s), detect_every=detect_every, **settings))
               for s in seeds]
    mean = {k: float(np.mean([r[k] for r in results])) for k in results[0]}
    mean["switches"] = int(sum(r["switches"] for r in results))
    return mean
