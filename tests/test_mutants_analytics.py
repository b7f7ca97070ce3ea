"""Issue 11, third round: what the tracker, the zones, the lines and the masks promise users,
at the exact edges that mutation testing found untested (each test names the mutants it kills;
``mutmut show NAME`` for the change).

All input is synthetic and deterministic: Detections built by hand, frame by frame, with
times that are exact in binary (0.25 s steps) so that boundaries (``>=`` against ``>``) are
reached exactly. The Kalman filter is checked against a slow dense 8x8 filter written from
the textbook equations.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from streamer.analytics import LineConfig, LineCounter, Mask, MaskConfig, PolygonZone, ZoneConfig
from streamer.analytics.events import AnalyticsEvent
from streamer.analytics.masks import MotionMasks
from streamer.detection import Detections
from streamer.tracking import ByteTracker, kalman

LABELS = ("person", "bicycle", "car")
SQUARE = np.array([[100, 100], [300, 100], [300, 300], [100, 300]], np.float64)


# -- helpers -----------------------------------------------------------------------------------


def boxes(rows: list[list[float]], scores: list[float] | None = None, classes: list[int] | None = None,
          labels: tuple[str, ...] | None = None) -> Detections:
    """Untracked detections from box rows (score 0.875, class 0 by default)."""
    n = len(rows)
    return Detections(
        xyxy=np.array(rows, np.float32).reshape(n, 4),
        confidence=np.array(scores if scores is not None else [0.875] * n, np.float32),
        class_id=np.array(classes if classes is not None else [0] * n, np.int32),
        labels=labels,
    )


def at(*rows: tuple, tracked: bool = True) -> Detections:
    """Rows ``(track id, anchor x, anchor y[, class id])``: 20 x 40 boxes whose bottom centre
    is the anchor (class 0 by default), with LABELS."""
    n = len(rows)
    return Detections(
        xyxy=np.array([[x - 10, y - 40, x + 10, y] for _, x, y, *_ in rows], np.float32).reshape(n, 4),
        confidence=np.full(n, 0.875, np.float32),
        class_id=np.array([r[3] if len(r) > 3 else 0 for r in rows], np.int32),
        tracker_id=np.array([r[0] for r in rows], np.int64) if tracked else None,
        labels=LABELS,
    )


# -- Kalman filter against a slow dense reference ------------------------------------------------


class SlowKalman:
    """One track's constant-velocity filter with full 8x8 matrices, from the textbook:
    x = (cx, cy, w, h, velocities); noise in proportion to the box size (ByteTrack's 1/20
    and 1/160); sizes never under 1 pixel; ``hold`` zeroes the size velocity first."""

    def __init__(self, z: np.ndarray) -> None:
        z = np.array(z, np.float64)
        z[2:] = np.maximum(z[2:], 1.0)
        self.x = np.concatenate([z, np.zeros(4)])
        s = np.concatenate([z[2:], z[2:]])
        self.P = np.diag(np.concatenate([(s / 10) ** 2, (s / 16) ** 2]))

    def size4(self) -> np.ndarray:
        return np.array([self.x[2], self.x[3], self.x[2], self.x[3]])

    def predict(self, dt: float, hold: bool = False) -> None:
        if hold:
            self.x[6:8] = 0.0
        s = self.size4()
        F = np.eye(8)
        F[:4, 4:] = dt * np.eye(4)
        Q = dt * np.diag(np.concatenate([(s / 20) ** 2, (s / 160) ** 2]))
        self.x = F @ self.x
        self.P = F @ self.P @ F.T + Q
        self.x[2:4] = np.maximum(self.x[2:4], 1.0)

    def update(self, z: np.ndarray) -> None:
        H = np.hstack([np.eye(4), np.zeros((4, 4))])
        R = np.diag((self.size4() / 20) ** 2)
        S = H @ self.P @ H.T + R
        K = self.P @ H.T @ np.linalg.inv(S)
        self.x = self.x + K @ (np.asarray(z, np.float64) - H @ self.x)
        self.P = (np.eye(8) - K @ H) @ self.P
        self.x[2:4] = np.maximum(self.x[2:4], 1.0)

    def xyxy(self) -> np.ndarray:
        cx, cy, w, h = self.x[:4]
        return np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])


def assert_same_state(f_row: np.ndarray, ref: SlowKalman) -> None:
    np.testing.assert_allclose(f_row[:8], ref.x, rtol=1e-9, atol=1e-9)
    blocks = np.array([[ref.P[c, c], ref.P[c, c + 4], ref.P[c + 4, c + 4]] for c in range(4)]).T
    np.testing.assert_allclose(f_row[8:20].reshape(3, 4), blocks, rtol=1e-9, atol=1e-12)


def test_kalman_equals_the_slow_filter_with_tiny_boxes_held_sizes_and_odd_steps() -> None:
    """Boxes under a pixel (clipped to 1 at the start, after predict and after update), lost
    tracks' sizes held, steps 0, 0.5, 1 and 3 frames, an update of a few rows only.

    Kills: kalman ``xyxy_to_cxcywh``, ``initiate``, ``_scale2``, ``predict`` and ``update``
    constant/operator mutants (centre 0.5, noise factors, min size, hold_size test).
    """
    rng = np.random.default_rng(11)
    xyxy = np.array([[10, 20, 10.25, 20.5], [100, 50, 160, 170], [30, 30, 33, 31], [5, 5, 45, 85]])
    z = kalman.xyxy_to_cxcywh(xyxy)
    np.testing.assert_array_equal(z, [[10.125, 20.25, 0.25, 0.5], [130, 110, 60, 120], [31.5, 30.5, 3, 1],
                                      [25, 45, 40, 80]])
    f = kalman.initiate(z)
    refs = [SlowKalman(row) for row in z]
    assert f.shape == (4, kalman.WIDTH) and f[0, 2:4].tolist() == [1.0, 1.0]
    for r, ref in enumerate(refs):
        assert_same_state(f[r], ref)
    velocity = np.array([[1.5, -2, -0.75, -0.5], [4, 1, 2, -1], [-1, 0.5, -1, -0.25], [0, 3, 1.5, 2]])
    for step in range(24):
        dt = [1.0, 0.5, 3.0, 0.0][step % 4]
        hold = np.array([step % 3 == 0, False, step % 2 == 1, step > 12])
        kalman.predict(f, dt, hold)
        for ref, h in zip(refs, hold):
            ref.predict(dt, h)
        rows = np.flatnonzero(rng.random(4) < 0.6)
        meas = z[rows] + (step + 1) * velocity[rows] + rng.normal(0, 0.5, (len(rows), 4))
        meas[:, 2:] = np.maximum(meas[:, 2:], 0.1)
        kalman.update(f, rows, meas)
        for r, m in zip(rows, meas):
            refs[r].update(m)
        for r, ref in enumerate(refs):
            assert_same_state(f[r], ref)
            np.testing.assert_allclose(kalman.to_xyxy(f[r:r + 1])[0], ref.xyxy(), rtol=1e-6, atol=1e-4)
    assert kalman.to_xyxy(f).dtype == np.float32


# -- ByteTracker: settings ---------------------------------------------------------------------


def test_tracker_defaults_are_bytetracks() -> None:
    """Kills: ``ByteTracker.__init__`` default mutants (0.5, 0.8, 30, 2, 0.1, +0.1, True, True)
    and the attribute assignments."""
    t = ByteTracker()
    assert (t.track_thresh, t.match_thresh, t.lost_frames, t.lost_seconds, t.min_hits, t.low_thresh) == (
        0.5, 0.8, 30.0, None, 2, 0.1)
    assert t.new_track_thresh == pytest.approx(0.6) and t.class_aware is True and t.fuse_score is True
    assert type(t.lost_frames) is float and type(t.track_thresh) is float
    t = ByteTracker(track_thresh=0.25, match_thresh=0.5, lost_frames=3, lost_seconds=2, min_hits=3,
                    low_thresh=0.125, new_track_thresh=0.75, class_aware=False, fuse_score=False)
    assert (t.track_thresh, t.match_thresh, t.lost_frames, t.lost_seconds, t.min_hits, t.low_thresh,
            t.new_track_thresh, t.class_aware, t.fuse_score) == (0.25, 0.5, 3.0, 2.0, 3, 0.125, 0.75, False, False)
    assert type(t.lost_seconds) is float
    assert len(t) == 0 and t.capacity == 0 and t.track_ids().tolist() == []


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"track_thresh": 1.5}, "track_thresh must be in [0, 1], got 1.5"),
    ({"track_thresh": -0.25, "low_thresh": 0.0}, "track_thresh must be in [0, 1], got -0.25"),
    ({"low_thresh": -0.5}, "low_thresh must be in [0, 1], got -0.5"),
    ({"new_track_thresh": 1.25}, "new_track_thresh must be in [0, 1], got 1.25"),
    ({"match_thresh": 1.0625}, "match_thresh must be in [0, 1], got 1.0625"),
    ({"track_thresh": 0.25, "low_thresh": 0.5}, "low_thresh (0.5) must not exceed track_thresh (0.25)"),
    ({"lost_frames": -1}, "lost_frames must be >= 0, got -1"),
    ({"lost_frames": float("nan")}, "lost_frames must be >= 0, got nan"),
    ({"lost_seconds": -0.5}, "lost_seconds must be >= 0 or None, got -0.5"),
    ({"min_hits": 0}, "min_hits must be an int >= 1, got 0"),
    ({"min_hits": True}, "min_hits must be an int >= 1, got True"),
    ({"min_hits": 2.0}, "min_hits must be an int >= 1, got 2.0"),
])
def test_tracker_settings_errors_name_the_setting(kwargs: dict, message: str) -> None:
    """Kills: ``ByteTracker.__init__`` check and message mutants."""
    with pytest.raises(ValueError) as caught:
        ByteTracker(**kwargs)
    assert str(caught.value) == message


def test_tracker_settings_at_their_limits_are_accepted() -> None:
    """0 and 1 for thresholds, low == track, lost_frames 0, lost_seconds 0, min_hits 1.

    Kills: ``__init__`` ``<=`` -> ``<`` and ``>`` -> ``>=`` mutants of the range checks."""
    ByteTracker(track_thresh=1.0, low_thresh=1.0, new_track_thresh=1.0, match_thresh=1.0)
    ByteTracker(track_thresh=0.0, low_thresh=0.0, new_track_thresh=0.0, match_thresh=0.0)
    ByteTracker(track_thresh=0.5, low_thresh=0.5, lost_frames=0, lost_seconds=0.0, min_hits=1)


# -- ByteTracker: ids, thresholds and gates at their exact edges ---------------------------------

TALL = [0, 0, 40, 80]


def test_a_weak_detection_overlapping_by_exactly_half_is_not_matched() -> None:
    """The second stage's gate is IoU > 0.5: a low-score box covering exactly half of a still
    track's box (IoU 0.5 in float32) is not the track; one row more is.

    Kills: ``_assign`` ``<`` -> ``<=`` (pairs at the limit kept) and ``np.minimum`` mutants."""
    for rows, expected in (([0, 0, 40, 40], -1), ([0, 0, 40, 41], 1)):
        tracker = ByteTracker(min_hits=1)
        assert tracker.update(boxes([TALL])).tracker_id.tolist() == [1]
        assert tracker.update(boxes([rows], [0.25])).tracker_id.tolist() == [expected]


def test_score_fusion_only_right_after_a_detection_frame() -> None:
    """First-stage cost 1 - IoU x score: a same-place box scoring 0.5 costs exactly 0.5, at a
    match_thresh of 0.5 not a match; after a frame without the detector (gap 2 > 1.5) the
    IoU alone counts (cost 0) and it is; without fuse_score it always is.

    Kills: ``_associate`` fused/gap/``_last_detect`` mutants, ``_assign`` limit mutants."""
    tracker = ByteTracker(min_hits=1, match_thresh=0.5)
    assert tracker.update(boxes([TALL])).tracker_id.tolist() == [1]
    assert tracker.update(boxes([TALL], [0.5])).tracker_id.tolist() == [-1]   # fused: at the limit
    tracker.predict()
    assert tracker.update(boxes([TALL], [0.5])).tracker_id.tolist() == [1]    # gap 2: IoU only
    assert tracker.update(boxes([TALL], [0.5])).tracker_id.tolist() == [-1]   # right after: fused
    plain = ByteTracker(min_hits=1, match_thresh=0.5, fuse_score=False)
    plain.update(boxes([TALL]))
    assert plain.update(boxes([TALL], [0.5])).tracker_id.tolist() == [1]


def test_scores_equal_to_each_threshold_count_as_reaching_it() -> None:
    """A score equal to ``track_thresh`` is confident, one equal to ``new_track_thresh``
    starts a track, one equal to ``low_thresh`` still extends one; a hair under does not.

    Kills: ``_associate`` ``>=`` -> ``>`` on high, low and new-track tests."""
    t = ByteTracker(track_thresh=0.5, new_track_thresh=0.5, low_thresh=0.25, min_hits=1)
    assert t.update(boxes([TALL], [0.5])).tracker_id.tolist() == [1]
    t = ByteTracker(track_thresh=0.5, new_track_thresh=0.75, low_thresh=0.25, min_hits=1)
    assert t.update(boxes([TALL, [200, 0, 240, 80]], [0.75, 0.74])).tracker_id.tolist() == [1, -1]
    assert t.update(boxes([TALL], [0.25])).tracker_id.tolist() == [1]
    assert t.update(boxes([TALL], [0.24])).tracker_id.tolist() == [-1]
    assert len(t) == 1 and t.track_ids().tolist() == [1]


def test_min_hits_counts_detections_in_a_row_and_ids_go_in_row_order() -> None:
    """With min_hits 3 ids come on the third detection, numbered in the order of the tracks;
    a tentative track that misses a frame is dropped at once.

    Kills: ``_associate`` hits/promote mutants, ``_spawn`` ``min_hits <= 1`` mutants."""
    t = ByteTracker(min_hits=3)
    far = [300, 0, 340, 80]
    assert t.update(boxes([TALL, far])).tracker_id.tolist() == [-1, -1]
    assert t.update(boxes([far, TALL])).tracker_id.tolist() == [-1, -1]
    assert len(t) == 2 and t.track_ids().tolist() == []
    assert t.update(boxes([far, TALL])).tracker_id.tolist() == [2, 1]
    assert sorted(t.track_ids().tolist()) == [1, 2]
    t.update(boxes([[600, 0, 640, 80]]))          # a tentative third; 1 and 2 missed: lost
    assert len(t) == 3
    t.update(boxes([]))                            # the tentative one misses a frame: gone
    assert len(t) == 2 and sorted(t.track_ids().tolist()) == [1, 2]
    assert t.update(boxes([[600, 0, 640, 80]] * 1)).tracker_id.tolist() == [-1]
    t.reset()
    assert len(t) == 0 and t.capacity == 0
    for _ in range(3):
        out = t.update(boxes([TALL]))
    assert out.tracker_id.tolist() == [3]          # ids keep counting after reset()


def test_lost_tracks_live_exactly_lost_frames_and_only_followed_ones_are_predicted() -> None:
    """A track unseen for ``lost_frames`` frames is still found; one frame more and it is gone.
    While lost it is not in predict()'s boxes; frames with time but no lost_seconds count
    frames. Kills: ``_expire`` and ``predict`` state mutants."""
    t = ByteTracker(min_hits=1, lost_frames=3)
    t.update(boxes([TALL]), time=0.0)
    assert t.predict(time=0.25).tracker_id.tolist() == [1]     # followed: predicted
    t.update(boxes([]), time=0.5)                               # lost now
    assert t.predict(time=0.75).tracker_id.tolist() == []       # lost: not drawn
    assert len(t) == 1 and t.track_ids().tolist() == [1]         # 3 frames unseen: kept
    t.predict(time=1.0)
    assert len(t) == 0                                           # 4: gone
    t = ByteTracker(min_hits=1, lost_frames=3)
    t.update(boxes([TALL]))
    for _ in range(3):
        t.update(boxes([]))
    assert t.update(boxes([TALL])).tracker_id.tolist() == [1]


def test_lost_seconds_falls_back_to_frames_for_tracks_seen_without_a_time() -> None:
    """Kills: ``_expire`` NaN fallback and ``lost_seconds`` comparison mutants."""
    t = ByteTracker(min_hits=1, lost_frames=2, lost_seconds=100.0)
    t.update(boxes([TALL]))                   # seen on a frame without a time
    t.update(boxes([]), time=0.0)
    t.predict(time=0.25)
    assert len(t) == 1                        # 2 frames
    t.predict(time=0.5)
    assert len(t) == 0                        # 3 frames > lost_frames, though only 0.5 s
    t = ByteTracker(min_hits=1, lost_frames=1000, lost_seconds=0.5)
    t.update(boxes([TALL]), time=10.0)
    t.update(boxes([]), time=10.25)
    t.predict(time=10.5)
    assert len(t) == 1                        # unseen exactly 0.5 s: kept
    t.predict(time=10.75)
    assert len(t) == 0


def test_tracked_boxes_and_predictions_equal_the_slow_filter_with_frame_times() -> None:
    """A box moving at constant speed, frames every 0.25 s with two dropped frames (a step of
    2) and one repeated time (a step of 0): the tracker's predicted boxes are the slow
    filter's, stepped by time / typical interval.

    Kills: ``_advance`` (delta, median, dt 0) and ``predict``/``_associate`` Kalman wiring
    mutants."""
    t = ByteTracker(min_hits=1)
    times = [0.0, 0.25, 0.5, 1.0, 1.25, 1.5, 1.5, 1.75, 2.25, 2.5]
    ref = None
    last = None
    for k, time in enumerate(times):
        x = 10 + 4 * time / 0.25
        box = np.array([x, 20, x + 40, 100])
        if k % 3 == 2:      # the detector skipped this frame
            out = t.predict(time=time)
            ref.predict(0.0 if time == last else (time - last) / 0.25)
            assert out.predicted.tolist() == [True] and out.tracker_id.tolist() == [1]
            np.testing.assert_allclose(out.xyxy[0], ref.xyxy(), atol=1e-3)
            assert out.confidence.dtype == np.float32 and out.confidence.tolist() == [0.875]
        else:
            out = t.update(boxes([box.tolist()]), time=time)
            z = kalman.xyxy_to_cxcywh(box[None])[0]
            if ref is None:
                ref = SlowKalman(z)
            else:
                ref.predict(0.0 if time == last else (time - last) / 0.25)
                ref.update(z)
            assert out.tracker_id.tolist() == [1] and out.predicted.tolist() == [False]
        last = time
    ahead = t.predict(time=3.0)                 # two intervals later
    ref.predict(2.0)
    np.testing.assert_allclose(ahead.xyxy[0], ref.xyxy(), atol=1e-3)


def test_class_blind_tracks_take_the_class_of_their_latest_detection() -> None:
    """Kills: ``_associate`` ``if not self.class_aware`` class copy mutants and ``predict``'s
    class column."""
    t = ByteTracker(min_hits=1, class_aware=False)
    t.update(boxes([TALL], classes=[0], labels=LABELS))
    t.update(boxes([TALL], classes=[2], labels=LABELS))
    guess = t.predict()
    assert guess.class_id.tolist() == [2] and guess.class_id.dtype == np.int32 and guess.labels == LABELS
    t = ByteTracker(min_hits=1)
    t.update(boxes([TALL], classes=[0]))
    assert t.update(boxes([TALL], classes=[2])).tracker_id.tolist() == [2]   # another object
    assert t.predict().class_id.tolist() == [2]


def test_empty_results_carry_the_labels_and_are_reused() -> None:
    """Kills: ``_nothing`` cache and labels mutants, ``update``'s labels keeping."""
    t = ByteTracker()
    first = t.update(boxes([], labels=LABELS))
    assert len(first) == 0 and first.labels == LABELS and first.tracker_id.dtype == np.int64
    assert first.predicted.dtype == bool and first.xyxy.shape == (0, 4)
    assert t.update(boxes([], labels=LABELS)) is first
    assert t.predict() is first                          # the last labels seen
    other = t.update(boxes([], labels=("cat",)))
    assert other is not first and other.labels == ("cat",)
    assert t.predict().labels == ("cat",)
