"""The tracker (streamer.tracking): its IoU kernel and Kalman filter against slow references,
id behaviour on synthetic scenes, bounded memory, accuracy on real MOT ground truth against
an established implementation, and ids on real footage with the bundled detector."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

import mot
from streamer.detection import Detections
from streamer.kernels import box_iou
from streamer.tracking import ByteTracker, kalman

PERSON, CAR = 0, 2


def dets(boxes: list[list[float]], scores: list[float] | None = None,
         classes: list[int] | None = None) -> Detections:
    """Detections from plain lists (score 0.9 and class person by default)."""
    n = len(boxes)
    return Detections(
        xyxy=np.array(boxes, np.float32).reshape(n, 4),
        confidence=np.array(scores if scores is not None else [0.9] * n, np.float32),
        class_id=np.array(classes if classes is not None else [PERSON] * n, np.int32),
    )


def box_at(x: float, y: float, w: float = 40, h: float = 80) -> list[float]:
    return [x, y, x + w, y + h]


# -- box_iou kernel --------------------------------------------------------------------------------


def iou_reference(a: list[float], b: list[float]) -> float:
    """IoU of two boxes from the definition, in Python floats."""
    def area(r: list[float]) -> float:
        return max(r[2] - r[0], 0.0) * max(r[3] - r[1], 0.0)
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    inter = iw * ih if iw > 0 and ih > 0 else 0.0
    union = area(a) + area(b) - inter
    return inter / union if union > 0 else 0.0


def test_box_iou_matches_the_definition() -> None:
    rng = np.random.default_rng(1)
    xy = rng.uniform(0, 100, (40, 2))
    a = np.concatenate([xy, xy + rng.uniform(-5, 40, (40, 2))], axis=1).astype(np.float32)  # some inverted
    b = np.concatenate([a[:25] + rng.normal(0, 4, (25, 4)).astype(np.float32),
                        np.array([[0, 0, 0, 0], [10, 10, 10, 30], [0, 0, 1000, 1000]], np.float32)])
    b = b.astype(np.float32)
    expected = np.array([[iou_reference(p.tolist(), q.tolist()) for q in b] for p in a])
    got = box_iou(a, b)
    assert got.dtype == np.float32 and got.shape == (40, 28)
    np.testing.assert_allclose(got, expected, atol=1e-6)
    assert box_iou(a[:3], a[:3])[np.diag_indices(3)].tolist() == [
        1.0 if iou_reference(r.tolist(), r.tolist()) else 0.0 for r in a[:3]]
    # touching boxes do not overlap; an empty side gives an empty matrix
    assert box_iou(np.array([[0, 0, 1, 1]], np.float32), np.array([[1, 0, 2, 1]], np.float32))[0, 0] == 0
    assert box_iou(a, np.empty((0, 4), np.float32)).shape == (40, 0)
    out = np.empty((40, 28), np.float32)
    assert box_iou(a, b, out=out) is out
    assert box_iou(a[:, :][::2], b).shape == (20, 28)  # not C-contiguous: copied


def test_box_iou_rejects_bad_input() -> None:
    good = np.zeros((2, 4), np.float32)
    with pytest.raises(TypeError, match=r"a must be float32 with shape \(N, 4\), got float64"):
        box_iou(good.astype(np.float64), good)
    with pytest.raises(ValueError, match=r"b must be float32 with shape \(N, 4\), got float32 \(2, 5\)"):
        box_iou(good, np.zeros((2, 5), np.float32))
    with pytest.raises(ValueError, match="out must be float32 with shape"):
        box_iou(good, good, out=np.empty((3, 2), np.float32))


# -- Kalman filter ---------------------------------------------------------------------------------


class DenseKalman:
    """ByteTrack's filter written out with full 8x8 matrices (cx, cy, w, h, velocities), one
    track: the obviously-correct reference for the block-diagonal batched filter."""

    def __init__(self, z: np.ndarray) -> None:
        self.x = np.concatenate([z, np.zeros(4)])
        s = np.array([z[2], z[3], z[2], z[3]])
        self.P = np.diag(np.concatenate([(2 / 20 * s) ** 2, (10 / 160 * s) ** 2]))

    def predict(self, dt: float) -> None:
        F = np.eye(8)
        F[:4, 4:] = dt * np.eye(4)
        s = np.array([self.x[2], self.x[3], self.x[2], self.x[3]])
        Q = dt * np.diag(np.concatenate([(s / 20) ** 2, (s / 160) ** 2]))
        self.x = F @ self.x
        self.P = F @ self.P @ F.T + Q

    def update(self, z: np.ndarray) -> None:
        H = np.hstack([np.eye(4), np.zeros((4, 4))])
        s = np.array([self.x[2], self.x[3], self.x[2], self.x[3]])
        R = np.diag((s / 20) ** 2)
        S = H @ self.P @ H.T + R
        K = self.P @ H.T @ np.linalg.inv(S)
        self.x = self.x + K @ (z - H @ self.x)
        self.P = (np.eye(8) - K @ H) @ self.P


def test_batched_kalman_equals_the_dense_filter() -> None:
    rng = np.random.default_rng(7)
    starts = np.column_stack([rng.uniform(50, 500, (5, 2)), rng.uniform(20, 90, (5, 2))])
    velocity = np.column_stack([rng.normal(0, 4, (5, 2)), rng.normal(0, 0.3, (5, 2))])
    f = kalman.initiate(starts)
    dense = [DenseKalman(z) for z in starts]
    for step in range(40):
        dt = [1.0, 1.0, 2.0, 0.5][step % 4]
        kalman.predict(f, dt, np.zeros(5, bool))
        for d in dense:
            d.predict(dt)
        rows = np.flatnonzero(rng.random(5) < 0.7)  # some tracks see no detection
        truth = starts[rows] + (step + 1) * velocity[rows]
        z = truth + rng.normal(0, 3, (len(rows), 4))
        kalman.update(f, rows, z)
        for r, zr in zip(rows, z):
            dense[r].update(zr)
        for r, d in enumerate(dense):
            np.testing.assert_allclose(f[r, :8], d.x, rtol=1e-9, atol=1e-9)
            blocks = np.array([[d.P[c, c], d.P[c, c + 4], d.P[c + 4, c + 4]] for c in range(4)]).T
            np.testing.assert_allclose(f[r, 8:20].reshape(3, 4), blocks, rtol=1e-9, atol=1e-9)
            assert np.allclose(d.P[:4, :4], np.diag(np.diag(d.P[:4, :4])))  # the blocks are all there is


def test_kalman_learns_a_constant_velocity() -> None:
    z = np.array([[100.0, 200.0, 40.0, 80.0]])
    f = kalman.initiate(z)
    for k in range(1, 30):
        kalman.predict(f, 1.0, np.zeros(1, bool))
        kalman.update(f, np.array([0]), z + [[3.0 * k, -1.0 * k, 0, 0]])
    np.testing.assert_allclose(f[0, 4:8], [3.0, -1.0, 0, 0], atol=0.05)


# -- Detections.predicted --------------------------------------------------------------------------


def test_predicted_column_follows_rows() -> None:
    tracker = ByteTracker(min_hits=1)
    found = tracker.update(dets([box_at(0, 0), box_at(100, 0)]))
    guessed = tracker.predict()
    both = Detections.merge([found, guessed])
    assert both.predicted.tolist() == [False, False, True, True]
    assert both[[3, 0]].predicted.tolist() == [True, False]
    assert both[both.predicted].tracker_id.tolist() == [1, 2]
    assert found != Detections(found.xyxy, found.confidence, found.class_id, found.tracker_id)  # column differs
    with pytest.raises(ValueError, match="some parts have predicted and others do not"):
        Detections.merge([found, dets([box_at(5, 5)])[:0], Detections(
            found.xyxy, found.confidence, found.class_id, found.tracker_id)])
    with pytest.raises(TypeError, match=r"Detections.predicted must be a bool array of shape \(N,\)"):
        Detections(found.xyxy, found.confidence, found.class_id, predicted=np.zeros(2, np.int64))
    with pytest.raises(ValueError, match="columns differ in length"):
        Detections(found.xyxy, found.confidence, found.class_id, predicted=np.zeros(3, bool))
    assert "predicted" not in dets([box_at(0, 0)]).to_records(labels=["person"])[0]


def test_warmup_loads_the_solver() -> None:
    import sys

    from streamer.tracking import warmup

    warmup()
    assert "scipy.optimize" in sys.modules


# -- ids on synthetic scenes -----------------------------------------------------------------------


def test_ids_appear_after_min_hits_in_input_order() -> None:
    tracker = ByteTracker(min_hits=2)
    first = tracker.update(dets([box_at(0, 0), box_at(200, 0), box_at(400, 0)], [0.9, 0.3, 0.8]))
    assert first.tracker_id.tolist() == [-1, -1, -1]  # tentative
    assert first.predicted.tolist() == [False] * 3
    assert first == Detections(first.xyxy, first.confidence, first.class_id, first.tracker_id,
                               predicted=first.predicted)  # the input's rows, untouched
    # the low-score box started no track; the others get ids on their second detection
    second = tracker.update(dets([box_at(402, 1), box_at(202, 0), box_at(2, 0)], [0.8, 0.3, 0.9]))
    assert second.tracker_id.tolist() == [2, -1, 1]
    assert ByteTracker(min_hits=1).update(dets([box_at(0, 0)])).tracker_id.tolist() == [1]


def test_crossing_objects_keep_their_ids() -> None:
    tracker = ByteTracker()
    ids_a, ids_b = set(), set()
    for k in range(60):
        a = box_at(10 + 8 * k, 100)           # walks right
        b = box_at(490 - 8 * k, 130)          # walks left, overlapping a around k = 30
        order = [0, 1] if k % 2 else [1, 0]   # a detector's order means nothing
        boxes = [[a, b][j] for j in order]
        out = tracker.update(dets(boxes))
        got = dict(zip(order, out.tracker_id.tolist()))
        if k >= 1:
            ids_a.add(got[0])
            ids_b.add(got[1])
    assert len(ids_a) == 1 and len(ids_b) == 1 and ids_a != ids_b and -1 not in ids_a | ids_b


def test_a_box_missing_for_a_few_frames_keeps_its_id() -> None:
    tracker = ByteTracker(lost_frames=30)
    ids = []
    for k in range(40):
        seen = not 15 <= k < 25  # ten frames without a detection
        out = tracker.update(dets([box_at(10 + 5 * k, 50)] if seen else []))
        ids += out.tracker_id.tolist()
    assert set(ids[1:]) == {1}


def test_low_score_detections_extend_a_track_but_start_none() -> None:
    tracker = ByteTracker(track_thresh=0.5, low_thresh=0.1)
    for k in range(5):
        tracker.update(dets([box_at(10 + 3 * k, 50)], [0.9]))
    out = tracker.update(dets([box_at(25, 50), box_at(300, 300)], [0.2, 0.2]))  # partly hidden
    assert out.tracker_id.tolist() == [1, -1]
    assert tracker.update(dets([box_at(300, 300)], [0.05])).tracker_id.tolist() == [-1]
    assert len(tracker) == 1


def test_lost_tracks_are_removed_after_lost_frames() -> None:
    tracker = ByteTracker(lost_frames=10)
    for k in range(5):
        tracker.update(dets([box_at(100, 100)]))
    for k in range(10):
        tracker.update(dets([]))
    assert len(tracker) == 1  # lost, still kept
    assert tracker.update(dets([box_at(100, 100)])).tracker_id.tolist() == [1]  # found again
    for k in range(11):
        tracker.update(dets([]))
    assert len(tracker) == 0 and tracker.capacity == 0
    tracker.update(dets([box_at(100, 100)]))
    assert tracker.update(dets([box_at(100, 100)])).tracker_id.tolist() == [2]  # a new id


def test_lost_seconds_counts_time_not_frames() -> None:
    tracker = ByteTracker(lost_frames=1000, lost_seconds=1.0)
    t = 0.0
    for k in range(5):
        tracker.update(dets([box_at(100, 100)]), time=t)
        t += 0.1
    tracker.update(dets([]), time=t)
    tracker.predict(time=t + 0.9)     # a stalled camera: 0.9 s without a frame
    assert len(tracker) == 1
    tracker.update(dets([]), time=t + 1.05)
    assert len(tracker) == 0          # 1.05 s since it was last seen, 7 frames


def test_a_dropped_frame_is_a_longer_step() -> None:
    straight = ByteTracker()
    dropped = ByteTracker()
    for k in range(10):
        straight.update(dets([box_at(10 + 6 * k, 50)]), time=k / 25)
        dropped.update(dets([box_at(10 + 6 * k, 50)]), time=k / 25)
    ahead = straight.predict(time=10 / 25)
    straight_two = straight.predict(time=11 / 25)
    skipped = dropped.predict(time=11 / 25)    # frame 10 never arrived
    assert ahead.xyxy[0, 0] == pytest.approx(70, abs=1.5)
    np.testing.assert_allclose(skipped.xyxy, straight_two.xyxy, atol=0.5)


def test_predicted_boxes_between_detections_follow_the_motion() -> None:
    tracker = ByteTracker()
    for k in range(0, 30):
        x = 10 + 4 * k
        out = (tracker.update(dets([box_at(x, 50), box_at(300, 200, 60, 60)], classes=[PERSON, CAR]))
               if k % 3 == 0 else tracker.predict())
        if k >= 9:
            assert out.tracker_id.tolist() == [1, 2]
            assert out.predicted.tolist() == [k % 3 != 0] * 2
            assert out.class_id.tolist() == [PERSON, CAR]
            assert out.xyxy[0, 0] == pytest.approx(x, abs=1.0)
            assert out.xyxy[1].tolist() == pytest.approx([300, 200, 360, 260], abs=0.5)
    records = out.to_records(labels=["person", "bicycle", "car"])
    assert [r["predicted"] for r in records] == [True, True] and records[0]["track_id"] == 1
    # update(detected=False) is predict(): the stale detections passed along are ignored
    again = tracker.update(dets([box_at(0, 0)]), detected=False)
    assert again.tracker_id.tolist() == [1, 2] and again.predicted.all()


def test_still_frames_hold_the_boxes() -> None:
    # the motion gate skips the detector while nothing moves: boxes stay, tracks live on
    tracker = ByteTracker(lost_frames=5)
    for k in range(6):
        tracker.update(dets([box_at(10 + 3 * k, 50)]))
    moving = tracker.predict().xyxy[0, 0]
    for _ in range(500):
        held = tracker.update(dets([]), detected=False, still=True)
    assert held.tracker_id.tolist() == [1] and held.xyxy[0, 0] == moving
    assert tracker.update(dets([box_at(held.xyxy[0, 0], 50)])).tracker_id.tolist() == [1]


def test_ids_never_pass_between_classes() -> None:
    # A person walks behind a car that pulls in right where the person's track predicts the
    # person (frames 18-25), then comes out on the other side.
    def run(class_aware: bool) -> list[list[tuple[int, int]]]:
        tracker = ByteTracker(class_aware=class_aware, min_hits=1)
        frames = []
        for k in range(34):
            person = box_at(100 + 10 * k, 100, 60, 120)
            car = [270, 95, 350, 225]
            boxes, classes = [person], [PERSON]
            if k >= 18:
                boxes, classes = ([car], [CAR]) if k < 26 else ([person, car], [PERSON, CAR])
            out = tracker.update(dets(boxes, classes=classes))
            frames.append(list(zip(out.class_id.tolist(), out.tracker_id.tolist())))
        return frames

    for frame in run(class_aware=True):
        assert all(tid == (1 if cls == PERSON else 2) for cls, tid in frame), frame
    # without classes the car takes the person's id: the test can tell
    assert any((CAR, 1) in frame for frame in run(class_aware=False))


@pytest.mark.timeout(60)
def test_memory_stays_flat_with_objects_coming_and_going() -> None:
    """100,000 frames in waves (every 1000 frames: up to 12 objects walk in at random and
    leave after 5-50 frames, some flicker, some boxes are false positives seen once; then a
    quiet stretch, so that the test takes ~2 s).  The track arrays never hold more than the
    objects of the last ``lost_frames`` frames, and are empty once all are gone."""
    rng = np.random.default_rng(3)
    lost_frames = 20
    tracker = ByteTracker(lost_frames=lost_frames)
    objects: dict[int, tuple[np.ndarray, np.ndarray, int]] = {}
    next_obj = 0
    most = 0
    frames = 100_000
    empty = dets([])
    k = 0
    while k < frames:
        if k % 1000 == 0:
            for _ in range(rng.integers(1, 12)):
                objects[next_obj] = (rng.uniform(0, 1500, 2), rng.normal(0, 3, 2), k + int(rng.integers(5, 50)))
                next_obj += 1
        objects = {o: v for o, v in objects.items() if v[2] > k}
        if not objects and k % 1000 >= 50 + lost_frames + 1:
            tracker.update(empty)  # nothing in view, nothing tracked: the cheap path
            assert len(tracker) == 0
            k += 1
            continue
        boxes = [box_at(*(p + v * (k % 1000))) for p, v, _ in objects.values() if rng.random() > 0.15]
        if objects and rng.random() < 0.3:
            boxes.append(box_at(*rng.uniform(0, 1500, 2)))  # a false positive
        tracker.update(dets(boxes, list(rng.uniform(0.3, 1.0, len(boxes)))))
        most = max(most, len(tracker))
        assert tracker.capacity == len(tracker) <= 13 * (lost_frames + 2)
        k += 1
    assert 0 < most <= 60
    assert tracker._next_id > 500  # many objects came and went


# -- accuracy on real ground truth -----------------------------------------------------------------

needs_motmetrics = pytest.mark.skipif(importlib.util.find_spec("motmetrics") is None,
                                      reason="motmetrics not installed (test extra)")

SEEDS = range(4)


@pytest.fixture(scope="module")
def campus() -> tuple[mot.GroundTruth, list[list[Detections]]]:
    gt = mot.load_ground_truth("TUD-Campus")
    return gt, [mot.detector_like(gt, seed=s) for s in SEEDS]


@pytest.fixture(scope="module")
def ours_on_campus(campus) -> dict[str, float]:  # type: ignore[no-untyped-def]
    return mean_scores(*campus, mot.run_ours)


def mean_scores(gt: mot.GroundTruth, inputs: list[list[Detections]], run, **kw) -> dict[str, float]:  # type: ignore[no-untyped-def]
    results = [mot.evaluate(gt, run(d, **kw)) for d in inputs]
    return {"mota": float(np.mean([r["mota"] for r in results])),
            "idf1": float(np.mean([r["idf1"] for r in results])),
            "switches": sum(r["switches"] for r in results)}


@needs_motmetrics
def test_accuracy_on_tud_campus(campus, ours_on_campus) -> None:  # type: ignore[no-untyped-def]
    """Measured with seeds 0-3: MOTA 0.74, IDF1 0.82 (12 id switches in all) with the
    detector on every frame; MOTA 0.62, IDF1 0.68 on every 3rd frame, the tracker
    predicting between.  The floors leave 0.04-0.06."""
    gt, inputs = campus
    every = ours_on_campus
    assert every["mota"] > 0.70 and every["idf1"] > 0.76, every
    third = mean_scores(gt, inputs, mot.run_ours, detect_every=3)
    assert third["mota"] > 0.56 and third["idf1"] > 0.62, third


@needs_motmetrics
@pytest.mark.skipif(not mot.established_available(), reason="the trackers package is not installed")
def test_at_least_as_good_as_the_established_bytetrack(campus, ours_on_campus) -> None:  # type: ignore[no-untyped-def]
    """Roboflow's trackers 2.6 with the same thresholds, on the same input (seeds 0-3:
    IDF1 0.78 and 16 id switches against our 0.82 and 12)."""
    gt, inputs = campus
    ours = ours_on_campus
    theirs = mean_scores(gt, inputs, mot.run_established, **mot.established_settings())
    assert ours["idf1"] >= theirs["idf1"], (ours, theirs)
    assert ours["switches"] <= theirs["switches"], (ours, theirs)


# -- real footage ----------------------------------------------------------------------------------


@pytest.mark.timeout(120)
def test_ids_persist_on_real_footage(bikes_clip) -> None:  # type: ignore[no-untyped-def]
    """The bundled detector on frames 100-159 of bikes.mp4, where a cyclist rides towards
    the camera (frames ~104-136, then a cut): the rider keeps one id on every frame, and the
    bicycle under them another."""
    from media import decode_frames
    from streamer.detection import Detector

    # conf 0.1: the tracker's second stage uses the low scores a detector would drop
    detector = Detector(None, device="cpu", conf=0.1, threads=1)
    person, bicycle = detector.labels.index("person"), detector.labels.index("bicycle")
    tracker = ByteTracker(lost_seconds=1.0)
    riders, bikes = [], []
    for k, image in enumerate(decode_frames(bikes_clip, 60, start=100)):
        out = tracker.update(detector.detect(image), time=k / 25)
        people = out[(out.class_id == person) & (out.tracker_id > 0)]
        cycles = out[(out.class_id == bicycle) & (out.tracker_id > 0)]
        if len(people) and len(cycles):
            overlap = box_iou(people.xyxy, cycles.xyxy)
            p, c = np.unravel_index(overlap.argmax(), overlap.shape)
            if overlap[p, c] > 0.2:  # a person on a bicycle
                riders.append(int(people.tracker_id[p]))
                bikes.append(int(cycles.tracker_id[c]))
    assert len(riders) >= 20, riders
    assert len(set(riders)) == 1 and len(set(bikes)) == 1, (riders, bikes)
