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

from streamer.analytics import (
    LineConfig,
    LineCounter,
    Mask,
    MaskConfig,
    PolygonZone,
    ZoneConfig,
)
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


# -- zones -------------------------------------------------------------------------------------


def play(shape: PolygonZone | LineCounter, frames: list[Detections], t0: float = 0.0, dt: float = 0.25) -> list:
    events = []
    for i, d in enumerate(frames):
        events += shape.update(d, t0 + i * dt)
    return events


def test_zone_entry_and_exit_come_exactly_min_seconds_after_with_the_dwell() -> None:
    """An anchor on the zone's left edge is inside, one on its right edge outside (the
    kernel's half-open rule); entry and exit are decided exactly ``min_seconds`` after the
    first frame on the other side; the exit's dwell runs from the first frame seen inside
    to the last.

    Kills: ``PolygonZone._step`` (``<`` -> ``<=``, pending), ``_enter``/``_exit`` field and
    counter mutants, ``dwell``."""
    zone = PolygonZone("porch", SQUARE, min_seconds=0.5)
    inside, outside = at((4, 100, 200, 2)), at((4, 300, 200, 2))
    assert play(zone, [inside, inside]) == [] and zone.dwell(4) is None
    events = play(zone, [inside], t0=0.5)
    assert events == [AnalyticsEvent("enter", 0.5, "porch", 4, 2, "car")]
    assert zone.dwell(4) == 0.5 and zone.occupancy == {2: 1} and zone.entries == {2: 1}
    assert play(zone, [outside, outside], t0=0.75) == [] and zone.dwell(4) == 0.5
    events = play(zone, [outside], t0=1.25)
    assert events == [AnalyticsEvent("exit", 1.25, "porch", 4, 2, "car", dwell=0.5)]
    assert zone.dwell(4) is None and list(zone.occupancy) == [] and zone.exits == {2: 1}


def test_a_step_back_across_the_border_restarts_the_debounce() -> None:
    """Out for one frame, back in, out again: the exit counts from the second time out.

    Kills: ``_step``'s pending pop for tracks back on their side."""
    zone = PolygonZone("porch", SQUARE, min_seconds=0.5)
    inside, outside = at((1, 200, 200)), at((1, 500, 200))
    frames = [inside] * 3 + [outside, inside, outside, outside, outside]
    events = play(zone, frames)
    assert [(e.kind, e.time) for e in events] == [("enter", 0.5), ("exit", 1.75)]
    assert events[1].dwell == 1.0                 # seen inside 0.0-1.0 s


def test_exit_is_counted_under_the_last_class_and_occupancy_under_the_entry_class() -> None:
    """Kills: ``_exit``'s entry-class bookkeeping (``_occupancy`` decrement, ``del`` at 0) and
    class mutants."""
    zone = PolygonZone("lot", SQUARE, min_seconds=0.0)
    play(zone, [at((1, 200, 200, 0), (2, 150, 150, 0)), at((1, 200, 200, 2), (2, 150, 150, 0))])
    assert zone.occupancy == {0: 2} and zone.entries == {0: 2}
    events = play(zone, [at((1, 500, 500, 2), (2, 150, 150, 0))], t0=0.5)
    assert [(e.kind, e.class_id, e.label) for e in events] == [("exit", 2, "car")]
    assert dict(zone.occupancy) == {0: 1} and zone.exits == {2: 1}
    play(zone, [at((2, 500, 500, 0))], t0=0.75)
    assert dict(zone.occupancy) == {} and zone.exits == {0: 1, 2: 1}


def test_loiter_comes_exactly_loiter_seconds_after_the_stay_began_with_the_last_class() -> None:
    """Kills: ``_loiter`` (``<=`` due, stale stays, dwell, class), ``_enter``'s heap push and
    ``loiter_seconds`` None mutants."""
    zone = PolygonZone("bench", SQUARE, min_seconds=0.25, loiter_seconds=0.75)
    events = play(zone, [at((3, 200, 200, 0))] * 3 + [at((3, 200, 200, 1))] * 3)
    assert events == [AnalyticsEvent("enter", 0.25, "bench", 3, 0, "person"),
                      AnalyticsEvent("loiter", 0.75, "bench", 3, 1, "bicycle", dwell=0.75)]
    # A stay that ends before its loiter is due leaves nothing behind for the next stay.
    zone = PolygonZone("bench", SQUARE, min_seconds=0.0, loiter_seconds=0.75)
    events = play(zone, [at((3, 200, 200))] * 2 + [at((3, 500, 500))] + [at((3, 200, 200))] * 4)
    assert [(e.kind, e.time) for e in events] == [("enter", 0.0), ("exit", 0.5), ("enter", 0.75),
                                                  ("loiter", 1.5)]
    plain = PolygonZone("bench", SQUARE, min_seconds=0.0)
    assert [e.kind for e in play(plain, [at((3, 200, 200))] * 40)] == ["enter"]


def test_an_unseen_track_exits_when_forgotten_with_its_last_class() -> None:
    """Kills: ``PolygonZone._forget`` mutants (exit time, class, pending)."""
    zone = PolygonZone("porch", SQUARE, min_seconds=0.0, forget_seconds=1.0)
    play(zone, [at((1, 200, 200, 2), (2, 150, 150))] * 2)        # 0.0, 0.25
    events = play(zone, [at((2, 150, 150))] * 8, t0=0.5)           # 0.5 .. 2.25
    assert [(e.kind, e.track_id, e.class_id, e.dwell) for e in events] == [("exit", 1, 2, 0.25)]
    assert events[0].time == 1.5                                    # first sweep past 1.25
    assert zone.occupancy == {0: 1} and zone.tracked == 1


def test_untracked_frames_give_that_frames_occupancy_until_tracks_come() -> None:
    """Kills: ``PolygonZone.update``'s untracked path (class filter, anchor, reset to empty)
    and ``untracked``."""
    zone = PolygonZone("porch", SQUARE, classes={2}, anchor="top_left")
    # top-left anchors: (190, 160) in, (90, 160) out; class 0 not counted
    zone.update(at((0, 200, 200, 2), (0, 100, 200, 2), (0, 200, 200, 0), tracked=False), 0.0)
    assert dict(zone.occupancy) == {2: 1} and zone.untracked is True
    zone.update(Detections.empty(LABELS), 0.25)
    assert dict(zone.occupancy) == {} and zone.untracked is True
    zone.update(at((5, 200, 200, 2)), 0.5)
    assert zone.untracked is False and dict(zone.occupancy) == {}   # not yet min_seconds in
    zone.update(at((5, 200, 200, 2)), 1.0)
    assert dict(zone.occupancy) == {2: 1} and zone.untracked is False


def test_zone_settings_checks_and_config() -> None:
    """Kills: ``PolygonZone.__init__`` check/message/default mutants and ``from_config``'s
    pass-through."""
    with pytest.raises(ValueError, match=r"^min_seconds must be >= 0, got -0.25$"):
        PolygonZone("z", SQUARE, min_seconds=-0.25)
    with pytest.raises(ValueError, match=r"^loiter_seconds must be > 0, got 0$"):
        PolygonZone("z", SQUARE, loiter_seconds=0)
    zone = PolygonZone("z", SQUARE.astype(np.int32), min_seconds=0)
    assert zone.polygon.dtype == np.float64 and zone.polygon.flags.c_contiguous
    assert (zone.min_seconds, zone.loiter_seconds, zone.anchor, zone.forget_seconds) == (0.0, None, "bottom_center", 5.0)
    assert PolygonZone("z", SQUARE).min_seconds == 0.5
    config = ZoneConfig(name="yard", polygon=[[0, 0], [0.5, 0], [0.5, 0.5]], units="fraction", classes=["car"],
                        min_seconds=1.5, loiter_seconds=30, anchor="center")
    zone = PolygonZone.from_config(config, (400, 200), labels=LABELS, forget_seconds=7.0)
    assert zone.name == "yard" and zone.polygon.tolist() == [[0, 0], [200, 0], [200, 100]]
    assert (zone.min_seconds, zone.loiter_seconds, zone.anchor, zone.forget_seconds) == (1.5, 30, "center", 7.0)
    assert zone.classes.tolist() == [2]


# -- lines -------------------------------------------------------------------------------------


def gate(**kw: object) -> LineCounter:
    """y = 200 from x = 0 to 400, margin 8: below (larger y) is ``in``."""
    return LineCounter("gate", (0, 200), (400, 200), **{"margin": 8.0, **kw})


def test_anchor_exactly_at_the_margin_is_in_the_band_and_the_segments_ends_are_on_it() -> None:
    """Kills: ``LineCounter.update`` event fields and side bookkeeping on exact boundaries."""
    line = gate()
    events = play(line, [at((1, 50, y)) for y in (150, 192, 208, 209)])
    assert events == [AnalyticsEvent("cross", 0.75, "gate", 1, 0, "person", direction="in")]
    # At x = 400 exactly the anchor projects on the segment's end: a crossing.
    events = play(line, [at((2, 400, y, 2)) for y in (250, 150)], t0=1.0)
    assert events == [AnalyticsEvent("cross", 1.25, "gate", 2, 2, "car", direction="out")]
    assert line.counts == {"out": {2: 1}, "in": {0: 1}} and (line.total("in"), line.total("out")) == (1, 1)
    # Half a pixel further it is beyond the end: never a side, never a crossing.
    assert play(line, [at((3, 400.5, y)) for y in (150, 250, 150)], t0=2.0) == []


def test_rows_in_the_band_or_beyond_the_ends_do_not_stop_the_others() -> None:
    """A frame whose first rows are in the band (with a confirmed side) or beyond an end
    still counts the crossing of a later row; a track that went beyond the end starts
    afresh. Kills: ``LineCounter.update`` ``continue`` -> ``break`` and ``side.pop`` mutants."""
    line = gate()
    play(line, [at((1, 50, 150), (2, 420, 150), (3, 150, 150))])
    events = line.update(at((1, 50, 200), (2, 420, 250), (3, 150, 250)), 0.25)
    assert [(e.track_id, e.direction) for e in events] == [(3, "in")]
    events = line.update(at((1, 50, 250), (2, 380, 250), (3, 150, 150)), 0.5)
    assert [(e.track_id, e.direction) for e in events] == [(1, "in"), (3, "out")]
    assert line.update(at((2, 380, 150)), 0.75) == [(AnalyticsEvent("cross", 0.75, "gate", 2, 0, "person",
                                                                     direction="out"))]


def test_a_forgotten_track_takes_its_next_side_without_a_count() -> None:
    """Kills: ``LineCounter._forget`` and ``_clear_tracks`` mutants."""
    line = gate(forget_seconds=1.0)
    play(line, [at((1, 50, 150), (2, 300, 150))])
    play(line, [at((2, 300, 150))] * 8, t0=0.25)               # track 1 unseen 2 s
    assert line.tracked == 1
    assert line.update(at((1, 50, 250)), 2.5) == []
    line.update(at((1, 50, 150)), 2.75)
    assert line.update(at((1, 50, 250)), 1.0) == []             # time went back: afresh
    assert line.total("in") == 0 and line.total("out") == 1


def test_line_settings_checks_defaults_and_config() -> None:
    """Kills: ``LineCounter.__init__`` (default margin 10, names, floats, the message) and
    ``from_config`` pass-through; labels absent give no label."""
    with pytest.raises(ValueError, match=r"^left and right must differ, both are 'in'$"):
        LineCounter("l", (0, 0), (10, 0), left="in", right="in")
    line = LineCounter("l", (0, 200), (400, 200))
    assert (line.margin, line.start, line.end, line.directions) == (10.0, (0.0, 200.0), (400.0, 200.0),
                                                                   {-1: "out", 1: "in"})
    assert type(line.start[0]) is float and type(line.margin) is float and line.forget_seconds == 5.0
    plain = Detections(xyxy=np.array([[40, 140, 60, 180]], np.float32), confidence=np.ones(1, np.float32),
                       class_id=np.zeros(1, np.int32), tracker_id=np.ones(1, np.int64))
    assert line.update(plain, 0.0) == []
    moved = Detections(plain.xyxy + np.float32([0, 30, 0, 30]), plain.confidence, plain.class_id, plain.tracker_id)
    assert line.update(moved, 0.25) == []                      # 210: within 10 of the line
    far = Detections(plain.xyxy + np.float32([0, 30.5, 0, 30.5]), plain.confidence, plain.class_id,
                     plain.tracker_id)
    assert line.update(far, 0.5) == [AnalyticsEvent("cross", 0.5, "l", 1, 0, None, direction="in")]
    config = LineConfig(name="door", start=[0, 0.5], end=[1, 0.5], units="fraction", margin=0.125,
                        left="leaving", right="arriving", classes=["car"], anchor="center")
    line = LineCounter.from_config(config, (400, 200), labels=LABELS, forget_seconds=3.0)
    assert (line.name, line.start, line.end, line.margin) == ("door", (0.0, 100.0), (400.0, 100.0), 25.0)
    assert line.directions == {-1: "leaving", 1: "arriving"} and line.counts == {"leaving": {}, "arriving": {}}
    assert (line.anchor, line.forget_seconds, line.classes.tolist()) == ("center", 3.0, [2])


# -- masks -------------------------------------------------------------------------------------


def test_mask_drops_by_its_anchor_and_passes_the_rest_through_untouched() -> None:
    """Kills: ``Mask.__init__`` (anchor check and message, settings), ``apply`` (anchor,
    identity when nothing is inside or nothing comes, a single detection) and
    ``from_config``."""
    with pytest.raises(ValueError, match=r"^unknown anchor 'feet' \(one of bottom_center, center, "):
        Mask(SQUARE, anchor="feet")
    d = at((1, 200, 200), (2, 200, 330), (3, 50, 50))   # boxes' tops: 160, 290, 10
    assert Mask(SQUARE).apply(d).tracker_id.tolist() == [2, 3]
    assert Mask(SQUARE, anchor="top_center").apply(d).tracker_id.tolist() == [3]
    outside = at((3, 50, 50))
    assert Mask(SQUARE).apply(outside) is outside
    assert len(Mask(SQUARE).apply(at((1, 200, 200)))) == 0      # a lone detection inside too
    empty = Detections.empty(LABELS)
    assert Mask(SQUARE).apply(empty) is empty
    mask = Mask(SQUARE.tolist(), anchor="center", detections=False, motion=False, name="tree")
    assert (mask.anchor, mask.detections, mask.motion, mask.name) == ("center", False, False, "tree")
    assert mask.polygon.dtype == np.float64 and mask.apply(d) is d
    assert (Mask(SQUARE).anchor, Mask(SQUARE).detections, Mask(SQUARE).motion, Mask(SQUARE).name) == (
        "bottom_center", True, True, None)
    config = MaskConfig(name="road", polygon=[[0, 0], [0.5, 0], [0.5, 1], [0, 1]], units="fraction",
                        anchor="center", detections=False, motion=False)
    mask = Mask.from_config(config, (400, 200))
    assert mask.polygon.tolist() == [[0, 0], [200, 0], [200, 200], [0, 200]]
    assert (mask.anchor, mask.detections, mask.motion, mask.name) == ("center", False, False, "road")


def test_mask_clears_motion_inside_only_when_it_applies_to_motion() -> None:
    """Kills: ``Mask.raster`` (cache per shape) and ``clear_motion`` mutants."""
    mask = Mask(np.array([[2, 2], [6, 2], [6, 6], [2, 6]], np.float64))
    motion = np.full((8, 10), 255, np.uint8)
    assert mask.clear_motion(motion) is motion
    expected = np.full((8, 10), 255, np.uint8)
    expected[2:7, 2:7] = 0
    np.testing.assert_array_equal(motion, expected)
    raster = mask.raster((8, 10))
    assert np.count_nonzero(raster) == 25
    assert raster.dtype == bool and raster.shape == (8, 10) and mask.raster((8, 10)) is raster
    assert mask.raster((4, 5)).shape == (4, 5) and mask.raster((4, 5))[3, 3]
    still = np.full((8, 10), 255, np.uint8)
    Mask(mask.polygon, motion=False).clear_motion(still)
    assert still.min() == 255


def test_motion_masks_scale_each_axis_and_keep_overlaps_filled() -> None:
    """Two overlapping polygons (one call each: no even-odd hole), a picture scaled by 1/2
    across and 1/4 down, one mask that ignores motion.

    Kills: ``MotionMasks.__init__``/``__bool__``/``__call__`` mutants (filter, key, scale per
    axis, cache)."""
    left = MaskConfig(polygon=[[0, 0], [200, 0], [200, 200], [0, 200]])
    middle = MaskConfig(polygon=[[100, 0], [300, 0], [300, 400], [100, 400]])
    ignored = MaskConfig(polygon=[[300, 0], [400, 0], [400, 400], [300, 400]], motion=False)
    masks = MotionMasks([left, middle, ignored])
    assert bool(masks) and masks.configs == [left, middle]
    raster = masks((400, 400), (100, 200))
    assert raster.dtype == bool and raster.shape == (100, 200)
    assert raster[25, :149].all() and not raster[25, 152:].any()
    assert raster[75, 51:149].all() and not raster[75, :49].any()  # the left one: top half only
    assert masks((400, 400), (100, 200)) is raster
    other = masks((400, 400), (400, 400))
    assert other.shape == (400, 400) and other[200, 298] and not other[200, 302]
    nothing = MotionMasks([ignored])
    assert not nothing and nothing((400, 400), (100, 200)) is None
    assert not MotionMasks([])


# -- event records -----------------------------------------------------------------------------


def test_event_records_name_the_zone_or_line_and_round_times() -> None:
    """Kills: ``AnalyticsEvent.to_record`` key, rounding and optional-field mutants."""
    cross = AnalyticsEvent("cross", 1.23456789, "gate", 7, 2, "car", direction="in")
    assert cross.to_record() == {"event": "cross", "time": 1.234568, "line": "gate", "track_id": 7,
                                 "class_id": 2, "label": "car", "direction": "in"}
    stay = AnalyticsEvent("exit", 2.0, "porch", 3, 0, None, dwell=0.0)
    assert stay.to_record() == {"event": "exit", "time": 2.0, "zone": "porch", "track_id": 3, "class_id": 0,
                                "label": None, "dwell": 0.0}
    loiter = AnalyticsEvent("loiter", 5.0, "porch", 3, 0, "person", dwell=12.34567)
    assert loiter.to_record()["dwell"] == 12.346 and "direction" not in loiter.to_record()
    enter = AnalyticsEvent("enter", 0.5, "porch", 3, 0)
    assert enter.to_record() == {"event": "enter", "time": 0.5, "zone": "porch", "track_id": 3, "class_id": 0,
                                 "label": None}
    json.dumps([cross.to_record(), stay.to_record()])


# -- ByteTracker: time steps, held sizes, labels (second pass over the survivors) ----------------


def test_step_is_the_time_over_the_median_of_the_last_15_intervals() -> None:
    """Eight intervals of 0.5 s, then 0.25 s ones: while 0.5 s is the median of the last 15
    (upper middle of an even count), a 0.25 s frame is half a step; from the 8th 0.25 s
    interval on, the last 15 are seven 0.5 and eight 0.25 and it is a whole step. Many frames
    at the same time are steps of 0 (no division by a zero interval).

    Kills: ``reset``'s ``deque(maxlen=15)`` mutants, ``_advance`` median index and
    ``delta > 0`` mutants."""
    t = ByteTracker(min_hits=1)
    times = [0.5 * k for k in range(9)] + [4.0 + 0.25 * k for k in range(1, 9)]
    steps = [1.0] * 8 + [0.5] * 7 + [1.0]          # worked out above, by hand
    ref = None
    for k, time in enumerate(times):
        x = 10 + 2 * k + 0.5 * k * k                 # speeding up, so every step size shows
        box = np.array([x, 20, x + 40 + k, 100 + 2 * k])
        out = t.update(boxes([box.tolist()]), time=time)
        assert out.tracker_id.tolist() == [1]
        z = kalman.xyxy_to_cxcywh(box[None])[0]
        if ref is None:
            ref = SlowKalman(z)
        else:
            ref.predict(steps[k - 1])
            ref.update(z)
    for _ in range(9):                              # the same time again: no step (nor 0 / 0
        same = t.predict(time=times[-1])            # once zeros would be the median)
    np.testing.assert_allclose(same.xyxy[0], ref.xyxy(), atol=1e-3)
    ahead = t.predict(time=times[-1] + 0.25)
    ref.predict(1.0)
    np.testing.assert_allclose(ahead.xyxy[0], ref.xyxy(), atol=1e-3)


def test_lost_tracks_hold_their_size_and_followed_ones_keep_growing() -> None:
    """A growing box: predicted between detections it keeps growing; missed for two frames
    (lost from the first miss on), its size is held from the frame after the miss until it
    is found again, as the slow filter with ``hold`` says.

    Kills: ``predict``'s and ``_associate``'s ``state == LOST`` hold masks and kalman
    ``predict``'s size-velocity reset."""
    t = ByteTracker(min_hits=1, lost_frames=10)
    plan = "DDDDPDDDMMMDDP"     # D detected, P detector skipped, M detected nothing
    ref = None
    lost = False
    for k, kind in enumerate(plan):
        x, grow = 10 + 3 * k, 4 * k
        box = np.array([x, 20, x + 40 + grow, 100 + 2 * grow], np.float64)
        if ref is not None:
            ref.predict(1.0, hold=lost)
        if kind == "D":
            out = t.update(boxes([box.tolist()]))
            z = kalman.xyxy_to_cxcywh(box[None])[0]
            if ref is None:
                ref = SlowKalman(z)
            else:
                ref.update(z)
            lost = False
            assert out.tracker_id.tolist() == [1]
        elif kind == "M":
            t.update(boxes([]))
            lost = True
        else:
            out = t.predict()
            assert out.tracker_id.tolist() == [1]
            np.testing.assert_allclose(out.xyxy[0], ref.xyxy(), atol=1e-3)


def test_frames_without_the_detector_keep_their_time_and_results_keep_labels() -> None:
    """Kills: ``update(detected=False)`` dropping the time, ``reset``'s labels default,
    ``update``'s labels on its result, ``_associate``'s ``gap <= 1.5`` (a step of exactly 1.5
    frames still fuses scores), ``_spawn``'s score."""
    t = ByteTracker(min_hits=1, lost_frames=1000, lost_seconds=0.5)
    assert t.predict().labels is None
    out = t.update(boxes([TALL], labels=LABELS), time=0.0)
    assert out.labels == LABELS and out.tracker_id.tolist() == [1]
    t.update(boxes([], labels=LABELS), time=0.25)
    t.update(boxes([]), detected=False, time=0.5)
    assert len(t) == 1
    t.update(boxes([]), detected=False, time=0.75)
    assert len(t) == 0                              # 0.75 s unseen, by the time passed on
    t = ByteTracker(min_hits=1)
    t.update(boxes([TALL], [0.75]))
    assert t.predict().confidence.tolist() == [0.75]               # a new track's score
    t = ByteTracker(min_hits=1, match_thresh=0.5)
    for time in (0.0, 0.25, 0.5):
        t.update(boxes([TALL]), time=time)
    # 0.375 s after the last: a step of 1.5 frames; fused, the 0.5 score is at the limit
    assert t.update(boxes([TALL], [0.5]), time=0.875).tracker_id.tolist() == [-1]


def test_polygons_given_as_integers_are_taken_as_float_pixels() -> None:
    """Kills: ``Mask.__init__`` and ``PolygonZone.__init__`` ``np.ascontiguousarray(polygon,
    np.float64)`` without the dtype (integer vertices would be refused by the kernel)."""
    ints = [[100, 100], [300, 100], [300, 300], [100, 300]]
    assert Mask(ints).apply(at((1, 200, 200), (2, 50, 50))).tracker_id.tolist() == [2]
    assert Mask(np.array(ints, np.int32)).polygon.dtype == np.float64
    zone = PolygonZone("z", ints, min_seconds=0)
    assert [e.kind for e in zone.update(at((1, 200, 200)), 0.0)] == ["enter"]


# -- zones and lines: second pass over the survivors -------------------------------------------


def test_config_errors_name_the_zone_or_line_and_defaults_forget_after_5_s() -> None:
    """Kills: ``from_config``'s ``where=`` and ``forget_seconds=5.0`` default mutants (zones
    and lines), ``LineCounter.__init__``'s margin check passed to the kernel."""
    from streamer.errors import ConfigError

    zone = ZoneConfig(name="yard", polygon=[[0, 0], [10, 0], [10, 10]], classes=["cat"])
    with pytest.raises(ConfigError, match=r"^zones\.yard\.classes: unknown class 'cat'"):
        PolygonZone.from_config(zone, (640, 480), labels=LABELS)
    line = LineConfig(name="door", start=[0, 5], end=[9, 5], classes=["bus"])
    with pytest.raises(ConfigError, match=r"^lines\.door\.classes: unknown class 'bus'"):
        LineCounter.from_config(line, (640, 480), labels=LABELS)
    plain_zone = ZoneConfig(name="yard", polygon=[[0, 0], [10, 0], [10, 10]])
    assert PolygonZone.from_config(plain_zone, (640, 480)).forget_seconds == 5.0
    assert LineCounter.from_config(LineConfig(name="door", start=[0, 5], end=[9, 5]), (640, 480)).forget_seconds == 5.0
    with pytest.raises(ValueError, match="margin"):
        LineCounter("l", (0, 0), (10, 0), margin=-1)


def test_a_fresh_zone_is_empty_and_tracked_and_untracked_frames_count_every_class() -> None:
    """Kills: ``PolygonZone.__init__``'s ``_frame_occupancy = None`` and the untracked path
    with no class filter (``np.ones(len, bool)``)."""
    zone = PolygonZone("porch", SQUARE)
    assert zone.untracked is False and dict(zone.occupancy) == {}
    zone.update(at((0, 200, 200, 2), (0, 150, 150, 0), (0, 50, 50, 1), tracked=False), 0.0)
    assert dict(zone.occupancy) == {0: 1, 2: 1} and zone.untracked is True


def test_a_track_not_yet_due_does_not_hold_up_the_next_ones() -> None:
    """Two tracks change sides on the same frame, the first one only just: the second one's
    entry still comes. Kills: ``_step``'s ``continue`` -> ``break``."""
    zone = PolygonZone("porch", SQUARE, min_seconds=0.5)
    play(zone, [at((1, 500, 500), (2, 200, 200))] * 2)                 # 2 inside since 0.0
    events = play(zone, [at((1, 200, 200), (2, 200, 200))] * 2, t0=0.5)
    assert [(e.kind, e.track_id, e.time) for e in events] == [("enter", 2, 0.5)]


def test_a_forgotten_track_that_comes_back_is_debounced_afresh() -> None:
    """Seen inside once, then unseen until forgotten: when it comes back inside, its entry
    waits ``min_seconds`` from its return. A line forgets a track that only ever stood in
    its band without an error. Kills: ``PolygonZone._forget``'s pending pop,
    ``LineCounter._forget``'s ``pop(track_id, None)`` and ``dwell``'s subtraction."""
    zone = PolygonZone("porch", SQUARE, min_seconds=0.5, forget_seconds=1.0)
    play(zone, [at((1, 500, 500), (2, 50, 50))] * 2 + [at((1, 200, 200), (2, 50, 50))])  # 1 pending at 0.5
    play(zone, [at((2, 50, 50))] * 10, t0=0.75)                          # 1 forgotten
    events = play(zone, [at((1, 200, 200), (2, 50, 50))] * 3, t0=3.25)
    assert [(e.kind, e.track_id, e.time) for e in events] == [("enter", 1, 3.75)]
    assert zone.dwell(1) == 0.5                                          # 3.25 to 3.75
    line = gate(forget_seconds=1.0)
    play(line, [at((1, 50, 200), (2, 300, 150))])
    assert play(line, [at((2, 300, 150))] * 10, t0=0.25) == [] and line.tracked == 1


def test_a_long_stay_still_loiters_after_many_short_stays_are_cleared_away() -> None:
    """One object stays 10 s while 4 others a frame come and go (their stale loiter entries
    pile up past the bound of 64 and are rebuilt away): its loiter comes on time, no other.
    Kills: ``_loiter``'s heap rebuild mutants (kept entries, heapify)."""
    zone = PolygonZone("bench", SQUARE, min_seconds=0.0, loiter_seconds=10.0)
    events = []
    for k in range(42):
        rows = [(1000, 200, 200)] + [(4 * k + j, 150 + 10 * j, 250) for j in range(4)]
        rows += [(4 * (k - 1) + j, 500, 500) for j in range(4) if k]
        events += zone.update(at(*rows), 0.25 * k)
        assert len(zone._loiter_due) <= 2 * 5 + 64 + 1
    loiters = [(e.track_id, e.time, e.dwell) for e in events if e.kind == "loiter"]
    assert loiters == [(1000, 10.0, 10.0)]
