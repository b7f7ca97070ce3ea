"""ByteTrack: stable ids for detections across frames, all tracks held as arrays.

ByteTrack (Zhang et al., ECCV 2022) associates detections with Kalman-predicted tracks
by IoU in two stages: confident detections first, then the low-scoring ones (often the
same objects, partly hidden) with the tracks still left, instead of throwing them away.
Tracks that find no detection are kept as *lost* for a while and can be found again.

Where this differs from the paper's code: every track takes part in both stages (the
paper's code keeps tentative tracks for a third stage with the confident detections
left over, and lost tracks out of the second), and score fusion is skipped after frames
without detections (``_FUSE_MAX_GAP``).  Measured on detector-like input made from
TUD-Campus / TUD-Stadtmitte (``tests/mot.py``, seeds 0-9, mean MOTA, IDF1, id switches
in all):

=====================  ======================  ======================
                       every frame             detector every 3rd
=====================  ======================  ======================
paper's structure      0.72, 0.78, 37 / 0.76,  0.57, 0.67, 30 / 0.68,
                       0.85, 12                0.75, 33
this one               0.75, 0.81, 23 / 0.77,  0.62, 0.71, 35 / 0.72,
                       0.85, 13                0.79, 25
=====================  ======================  ======================

Here the tracks live in two arrays (floats: Kalman state, score, last-seen clocks;
integers: id, class, hits, state) rather than one Python object per track, so a frame
costs a fixed number of NumPy calls whatever the number of objects; see
``scripts/bench_tracking.py`` for the measured cost and accuracy.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from streamer import kernels  # lazy: Numba loads with the first kernel a tracker runs
from streamer.detection import Detections
from streamer.tracking import kalman

# Track states (column _STATE).
TENTATIVE, TRACKED, LOST = 0, 1, 2

# Float columns after the Kalman filter's.
_SCORE = kalman.WIDTH
_SEEN_FRAME = kalman.WIDTH + 1
_SEEN_TIME = kalman.WIDTH + 2
_FLOATS = kalman.WIDTH + 3
# Integer columns.
_ID, _CLASS, _HITS, _STATE = 0, 1, 2, 3
_INTS = 4

# ByteTrack's second-stage gate, as a cost 1 - IoU: a low-score detection must overlap
# a track left unmatched by IoU > 0.5.
_LOW_MATCH_COST = 0.5
# Score fusion (first-stage cost 1 - IoU x score) only right after a frame with
# detections: after a longer prediction the IoU of true pairs drops and the product falls
# under the gate (TUD-Campus, detector on every 3rd frame, paper's structure: MOTA 0.57
# with fusion, 0.59 without); on every frame fusion wins (IDF1 0.81 against 0.79 here,
# 0.85 against 0.82 on TUD-Stadtmitte, with 13 id switches instead of 31).
_FUSE_MAX_GAP = 1.5


def warmup() -> None:
    """Import SciPy's assignment solver and load (or compile) the IoU kernel now.

    ``import scipy.optimize`` takes ~1 s on a busy 2-core machine and the kernel's
    first call loads Numba's cache (or compiles it, ~2 s, once per machine), so a
    pipeline stage should call this in ``start()`` rather than pay it on the first frame
    with objects.  ``import streamer.tracking`` itself stays cheap (~10 ms).
    """
    from scipy.optimize import linear_sum_assignment

    box = np.array([[0, 0, 1, 1]], np.float32)
    linear_sum_assignment(1.0 - kernels.box_iou(box, box))


def _assign(cost: np.ndarray, limit: float) -> tuple[np.ndarray, np.ndarray]:
    """Minimum-cost matching in which no pair may cost ``limit`` or more.

    Costs are clipped at ``limit`` before solving and pairs at the limit dropped after:
    for a rectangular problem that has the same optimum as lapjv's ``cost_limit`` (a
    row or column left unmatched costs ``limit / 2``), i.e. what ByteTrack solves.
    SciPy's ``linear_sum_assignment`` rather than ``lap.lapjv``: on tracking-like cost
    matrices it measured 0.6 / 1.0 / 8.7 / 138 us for 1 / 10 / 50 / 200 objects
    against lap's 9.6 / 11 / 33 / 390 us (lap's ``extend_cost`` wrapper dominates), and
    SciPy is the better-kept package.

    Parameters
    ----------
    cost : numpy.ndarray, shape (R, C)
        Cost of each (row, column) pair.
    limit : float
        Pairs costing this or more are never matched.

    Returns
    -------
    rows, cols : numpy.ndarray, shape (K,), intp
        Matched pairs, ``rows`` ascending.
    """
    if cost.size == 0:
        empty = np.empty(0, np.intp)
        return empty, empty
    from scipy.optimize import linear_sum_assignment  # ~1 s to import: see warmup()

    rows, cols = linear_sum_assignment(np.minimum(cost, limit))
    keep = cost[rows, cols] < limit
    return rows[keep], cols[keep]


class ByteTracker:
    """Multi-object tracker that fills in :attr:`Detections.tracker_id`.

    Call :meth:`update` once per frame, in order: with the frame's detections, or with
    ``detected=False`` on frames where the detector did not run (``--detect-every``,
    the motion gate), where the tracks' predicted boxes are returned instead.

    Parameters
    ----------
    track_thresh : float
        Detections scoring at least this take part in the first association stage and
        may start tracks; those between ``low_thresh`` and this only extend tracks
        that are still unmatched (ByteTrack's second stage).
    match_thresh : float
        Largest first-stage cost ``1 - IoU x score`` of a match (ByteTrack's meaning:
        0.8 accepts a confident detection overlapping a predicted box by IoU 0.2).
    lost_frames : float
        Frames a confirmed track is kept without a detection before it is removed
        (frames without a detector run count too: it is time that passes).
    lost_seconds : float, optional
        When set and frames carry times, a track unseen for longer than this is removed
        instead (for live sources whose frame rate varies or drops frames).
    min_hits : int
        Detections in a row a new track needs before it gets an id (1: at once).
    low_thresh : float
        Detections scoring less are ignored.
    new_track_thresh : float, optional
        Least score of a detection that starts a track; default ``track_thresh + 0.1``
        (ByteTrack's).
    class_aware : bool
        Only match detections of the track's class: a person's id never passes to a
        car that overlaps it.
    fuse_score : bool
        Weigh IoU by the detection's score in the first and third stages (ByteTrack's
        setting for MOT17).

    Raises
    ------
    ValueError
        If a threshold is outside its range.

    Notes
    -----
    Memory is bounded: a track that is not confirmed is dropped at the first
    detection frame without a match, and a confirmed one ``lost_frames`` (or
    ``lost_seconds``) after it was last seen, so the arrays hold at most the objects
    seen in that window.  Ids are int64, start at 1 and are never reused.

    Examples
    --------
    >>> import numpy as np
    >>> from streamer.detection import Detections
    >>> from streamer.tracking import ByteTracker
    >>> def person_at(x):
    ...     return Detections(xyxy=np.array([[x, 10, x + 40, 90]], np.float32),
    ...                       confidence=np.array([0.9], np.float32), class_id=np.array([0], np.int32))
    >>> tracker = ByteTracker(lost_seconds=2.0)
    >>> [tracker.update(person_at(10 + 4 * k), time=k / 25).tracker_id.tolist() for k in range(3)]
    [[-1], [1], [1]]
    >>> between = tracker.update(person_at(0), detected=False, time=3 / 25)  # no detector here
    >>> between.tracker_id.tolist(), between.predicted.tolist(), bool(between.xyxy[0, 0] > 18)
    ([1], [True], True)
    """

    def __init__(
        self,
        *,
        track_thresh: float = 0.5,
        match_thresh: float = 0.8,
        lost_frames: float = 30,
        lost_seconds: float | None = None,
        min_hits: int = 2,
        low_thresh: float = 0.1,
        new_track_thresh: float | None = None,
        class_aware: bool = True,
        fuse_score: bool = True,
    ) -> None:
        new_track_thresh = track_thresh + 0.1 if new_track_thresh is None else new_track_thresh
        for name, value in (("track_thresh", track_thresh), ("low_thresh", low_thresh),
                            ("new_track_thresh", new_track_thresh), ("match_thresh", match_thresh)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value!r}")
        if low_thresh > track_thresh:
            raise ValueError(f"low_thresh ({low_thresh}) must not exceed track_thresh ({track_thresh})")
        if not lost_frames >= 0:
            raise ValueError(f"lost_frames must be >= 0, got {lost_frames!r}")
        if lost_seconds is not None and not lost_seconds >= 0:
            raise ValueError(f"lost_seconds must be >= 0 or None, got {lost_seconds!r}")
        if isinstance(min_hits, bool) or not isinstance(min_hits, int) or min_hits < 1:
            raise ValueError(f"min_hits must be an int >= 1, got {min_hits!r}")
        self.track_thresh = float(track_thresh)
        self.match_thresh = float(match_thresh)
        self.lost_frames = float(lost_frames)
        self.lost_seconds = None if lost_seconds is None else float(lost_seconds)
        self.min_hits = min_hits
        self.low_thresh = float(low_thresh)
        self.new_track_thresh = float(new_track_thresh)
        self.class_aware = class_aware
        self.fuse_score = fuse_score
        self.reset()

    def reset(self) -> None:
        """Forget every track (a new video or a scene cut); ids keep counting up."""
        self._f = np.empty((0, _FLOATS))
        self._i = np.empty((0, _INTS), np.int64)
        self._frame = 0.0
        self._last_detect = 0.0
        self._time: float | None = None
        self._intervals: deque[float] = deque(maxlen=15)
        self._labels: tuple[str, ...] | None = None
        self._empty: Detections | None = None
        if not hasattr(self, "_next_id"):
            self._next_id = 1

    def __len__(self) -> int:
        """Tracks held: tentative, tracked and lost."""
        return int(self._i.shape[0])

    def track_ids(self) -> np.ndarray:
        """Ids of the confirmed tracks held (followed or lost): (K,) int64, a copy.

        An id missing here that was given out before is gone for good (removed after
        ``lost_frames``/``lost_seconds``, or by :meth:`reset`).
        """
        return self._i[self._i[:, _STATE] != TENTATIVE, _ID]

    @property
    def capacity(self) -> int:
        """Rows allocated in the track arrays (equal to ``len(self)``: they are compacted
        every frame)."""
        return int(self._f.shape[0])

    def update(self, detections: Detections, *, detected: bool = True,
               time: float | None = None, still: bool = False) -> Detections:
        """Advance one frame and associate its detections with the tracks.

        Parameters
        ----------
        detections : Detections
            This frame's detections (N rows). Ignored when ``detected`` is False (the
            pipeline lends the last result to frames between detections).
        detected : bool, keyword-only
            False on a frame where the detector did not run: same as :meth:`predict`.
        time : float, optional, keyword-only
            The frame's time in seconds. Steps between frames are then measured in
            typical frame intervals (the median of the last 15), so a dropped frame
            moves the tracks twice as far; ``lost_seconds`` applies.
        still : bool, keyword-only
            With ``detected`` False: see :meth:`predict`.

        Returns
        -------
        Detections
            With ``detected``: the same N rows in the same order, with ``tracker_id``
            (the track's id; -1 for a detection in no confirmed track: a new object
            before ``min_hits``, a low score that matched nothing) and ``predicted``
            all False.  Otherwise: :meth:`predict`'s result.
        """
        if not detected:
            return self.predict(time=time, still=still)
        if detections.labels is not None:
            self._labels = detections.labels
        dt = self._advance(time)
        n = len(detections)
        if n == 0 and not len(self):
            return self._nothing(detections.labels)
        ids = np.full(n, -1, np.int64)
        self._associate(detections, ids, dt, time)
        return Detections(
            xyxy=detections.xyxy, confidence=detections.confidence, class_id=detections.class_id,
            tracker_id=ids, labels=detections.labels, predicted=np.zeros(n, bool),
        )

    def predict(self, *, time: float | None = None, still: bool = False) -> Detections:
        """Advance one frame without detections and return where the tracks are.

        Parameters
        ----------
        time : float, optional, keyword-only
            The frame's time in seconds (see :meth:`update`).
        still : bool, keyword-only
            The picture is known not to move (the motion gate skipped the detector):
            time passes for the lost tracks, but no box moves.  Without it a velocity
            left over from the last detections would carry the boxes away over a long
            still stretch.

        Returns
        -------
        Detections
            One row per confirmed track that was matched at the last detection:
            ``xyxy`` the Kalman prediction, ``confidence`` and ``class_id`` from its
            last detection, ``tracker_id``, ``predicted`` all True.
        """
        dt = self._advance(time)
        if len(self):
            if not still:
                kalman.predict(self._f, dt, self._i[:, _STATE] == LOST)
            self._expire(time)
        rows = np.flatnonzero(self._i[:, _STATE] == TRACKED)
        if len(rows) == 0:
            return self._nothing(self._labels)
        return Detections(
            xyxy=kalman.to_xyxy(self._f[rows]),
            confidence=self._f[rows, _SCORE].astype(np.float32),
            class_id=self._i[rows, _CLASS].astype(np.int32),
            tracker_id=self._i[rows, _ID].copy(),
            labels=self._labels,
            predicted=np.ones(len(rows), bool),
        )

    def _nothing(self, labels: tuple[str, ...] | None) -> Detections:
        """An empty result (one kept per labels: a quiet camera's frames cost ~1 us, not
        the ~40 us of building and checking a new Detections)."""
        if self._empty is None or self._empty.labels is not labels:
            self._empty = Detections(
                xyxy=np.empty((0, 4), np.float32), confidence=np.empty(0, np.float32),
                class_id=np.empty(0, np.int32), tracker_id=np.empty(0, np.int64), labels=labels,
                predicted=np.empty(0, bool),
            )
        return self._empty

    def _advance(self, time: float | None) -> float:
        """Move the frame clock; return the step in frames."""
        dt = 1.0
        if time is not None:
            if self._time is not None:
                delta = time - self._time
                if delta > 0:
                    self._intervals.append(delta)
                    typical = sorted(self._intervals)[len(self._intervals) // 2]
                    dt = delta / typical
                else:
                    dt = 0.0
            self._time = time
        self._frame += dt
        return dt

    def _expire(self, time: float | None) -> None:
        """Remove lost tracks past the limit."""
        lost = self._i[:, _STATE] == LOST
        if not lost.any():
            return
        if self.lost_seconds is not None and time is not None:
            unseen = time - self._f[:, _SEEN_TIME]
            # Tracks last seen on a frame without a time fall back to frames.
            expired = np.where(np.isnan(unseen), self._frame - self._f[:, _SEEN_FRAME] > self.lost_frames,
                               unseen > self.lost_seconds)
        else:
            expired = self._frame - self._f[:, _SEEN_FRAME] > self.lost_frames
        drop = lost & expired
        if drop.any():
            self._keep(~drop)

    def _keep(self, mask: np.ndarray) -> None:
        self._f = self._f[mask]
        self._i = self._i[mask]

    def _associate(self, dets: Detections, ids: np.ndarray, dt: float, time: float | None) -> None:
        f, i = self._f, self._i
        state = i[:, _STATE]
        kalman.predict(f, dt, state == LOST)
        conf = dets.confidence
        high = conf >= self.track_thresh
        low = ~high & (conf >= self.low_thresh)
        iou = kernels.box_iou(kalman.to_xyxy(f), dets.xyxy)
        if self.class_aware:
            iou[i[:, _CLASS][:, None] != dets.class_id[None, :]] = 0.0
        gap = self._frame - self._last_detect
        self._last_detect = self._frame
        fused = iou * conf[None, :] if self.fuse_score and gap <= _FUSE_MAX_GAP else iou

        free_track = np.ones(len(f), bool)
        free_det = np.ones(len(dets), bool)
        matched_rows: list[np.ndarray] = []
        matched_cols: list[np.ndarray] = []

        def stage(rows_mask: np.ndarray, cols_mask: np.ndarray, sim: np.ndarray, limit: float) -> None:
            rows, cols = np.flatnonzero(rows_mask), np.flatnonzero(cols_mask)
            if len(rows) == 0 or len(cols) == 0:
                return
            r, c = _assign(1.0 - sim[rows][:, cols], limit)
            rows, cols = rows[r], cols[c]
            free_track[rows] = False
            free_det[cols] = False
            matched_rows.append(rows)
            matched_cols.append(cols)

        # 1: confident detections with every track (tentative, tracked and lost).
        stage(free_track, high, fused, self.match_thresh)
        # 2: low-score detections with the tracks left, by IoU alone.
        stage(free_track, low, iou, _LOW_MATCH_COST)

        if matched_rows:
            rows = np.concatenate(matched_rows)
            cols = np.concatenate(matched_cols)
            kalman.update(f, rows, kalman.xyxy_to_cxcywh(dets.xyxy[cols]))
            f[rows, _SCORE] = conf[cols]
            f[rows, _SEEN_FRAME] = self._frame
            f[rows, _SEEN_TIME] = math.nan if time is None else time
            if not self.class_aware:
                i[rows, _CLASS] = dets.class_id[cols]
            i[rows, _HITS] += 1
            promote = rows[(state[rows] == TENTATIVE) & (i[rows, _HITS] >= self.min_hits)]
            i[promote, _ID] = np.arange(self._next_id, self._next_id + len(promote))
            self._next_id += len(promote)
            state[rows[state[rows] != TENTATIVE]] = TRACKED
            state[promote] = TRACKED
            tracked = state[rows] == TRACKED
            ids[cols[tracked]] = i[rows[tracked], _ID]

        # Followed tracks without a match become lost; tentative ones are dropped.
        state[free_track & (state == TRACKED)] = LOST
        drop = free_track & (state == TENTATIVE)
        if drop.any():
            self._keep(~drop)
        self._expire(time)

        new = np.flatnonzero(free_det & high & (conf >= self.new_track_thresh))
        if len(new):
            self._spawn(dets, new, ids, time)

    def _spawn(self, dets: Detections, cols: np.ndarray, ids: np.ndarray, time: float | None) -> None:
        """Start tracks at detections ``cols``."""
        k = len(cols)
        f = np.empty((k, _FLOATS))
        f[:, :kalman.WIDTH] = kalman.initiate(kalman.xyxy_to_cxcywh(dets.xyxy[cols]))
        f[:, _SCORE] = dets.confidence[cols]
        f[:, _SEEN_FRAME] = self._frame
        f[:, _SEEN_TIME] = math.nan if time is None else time
        i = np.zeros((k, _INTS), np.int64)
        i[:, _CLASS] = dets.class_id[cols]
        i[:, _HITS] = 1
        i[:, _ID] = -1
        i[:, _STATE] = TENTATIVE
        if self.min_hits <= 1:
            i[:, _ID] = np.arange(self._next_id, self._next_id + k)
            i[:, _STATE] = TRACKED
            self._next_id += k
            ids[cols] = i[:, _ID]
        self._f = np.concatenate([self._f, f])
        self._i = np.concatenate([self._i, i])
