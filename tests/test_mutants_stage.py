"""Tests that kill mutants of the output fan-out (``streamer/outputs/stage.py``) and of the
detect stage's shared-service path (``streamer/stages.py``) that mutmut found alive (issue 11,
third round; /work/notes/mut-stage.md lists each one and the verdict on the rest).

The stage is driven directly, as the pipeline's last stage drives it, with real frames
(bikes.mp4's first pictures), the real JSONL output and small outputs written here that
implement the :class:`~streamer.outputs.base.Output` protocol: one that records what it got
(and can be held at a gate, made slow, or made to fail), so what a user sees in the stats
record (``dropped_by_output``), the summary and the metrics (frames, dropped, state) is
checked figure by figure. The service path runs a real :class:`DetectorService` on a tiny
constant-output ONNX model (tests/test_bites.py's ``constant_detector``).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace

import av
import numpy as np
import pytest
from streamer.kernels import MotionResult
from test_bites import SIZE, constant_detector

from streamer.detection import Detector
from streamer.detection.pacing import (
    Demand,
    IntervalController,
    admission,
    allocate,
    ordinal,
    rate,
)
from streamer.detection.service import DetectorService
from streamer.errors import SinkError
from streamer.frames import Frame
from streamer.outputs import stage as stage_module
from streamer.outputs.jsonl import JsonlSink
from streamer.outputs.stage import OutputStage, OutputStats
from streamer.queues import Policy
from streamer.stages import SERVICE_STAGE_WORKERS, DetectStage

TB = Fraction(1, 25)


@pytest.fixture(scope="module")
def pictures(bikes_clip: Path) -> list[np.ndarray]:
    """bikes.mp4's first 8 pictures, BGR (272, 640, 3) uint8."""
    with av.open(str(bikes_clip)) as c:
        out = []
        for f in c.decode(video=0):
            out.append(f.to_ndarray(format="bgr24"))
            if len(out) == 8:
                return out
    raise AssertionError("bikes.mp4 has fewer than 8 frames")


def frames(pictures: list[np.ndarray], n: int, *, age: float = 0.0) -> list[Frame]:
    """``n`` real frames (the pictures over again), captured ``age`` seconds ago."""
    now = time.monotonic()
    return [Frame(i, i * 1000, TB, now - age, pictures[i % len(pictures)]) for i in range(n)]


class Probe:
    """An output that records what it got; it can wait at a gate before each frame, spend
    ``sleep`` seconds (idle) and ``spin`` seconds of CPU in each write, fail at its N-th frame
    or when closed, and take the frames the stage pushes out of its queue (``dropped``)."""

    def __init__(self, name: str, policy: Policy, *, gate: threading.Event | None = None, sleep: float = 0.0,
                 spin: float = 0.0, fail_at: int | None = None, fail_close: bool = False,
                 take_dropped: bool = False) -> None:
        self.name, self.policy = name, policy
        self.gate, self.sleep, self.spin = gate, sleep, spin
        self.fail_at, self.fail_close = fail_at, fail_close
        self.indices: list[int] = []
        self.threads: set[str] = set()
        self.entered = threading.Event()
        self.closed = 0
        self.dropped_frames: list[int] = []
        if take_dropped:
            self.dropped = lambda frame: self.dropped_frames.append(frame.index)

    def write(self, frame: Frame) -> None:
        self.threads.add(threading.current_thread().name)
        self.entered.set()
        if self.gate is not None:
            assert self.gate.wait(10)
        if self.fail_at is not None and len(self.indices) == self.fail_at:
            raise SinkError(f"{self.name}: broken\non purpose")
        if self.sleep:
            time.sleep(self.sleep)
        if self.spin:
            end = time.thread_time() + self.spin
            while time.thread_time() < end:
                pass
        self.indices.append(frame.index)

    def close(self) -> None:
        self.closed += 1
        if self.fail_close:
            raise SinkError(f"{self.name}: cannot close")


def wait_for(condition, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.005)


def held_pair(pictures: list[np.ndarray], block: str, n: int) -> tuple[threading.Event, Probe, Probe, OutputStage, list[Frame]]:
    """A default stage with a BLOCK output ``block`` and a LATEST "view", both held at one
    gate in their write of frame 0 (of ``n`` frames): (gate, block, view, stage, frames)."""
    gate = threading.Event()
    held = Probe(block, Policy.BLOCK, gate=gate)
    view = Probe("view", Policy.LATEST, gate=gate)
    stage = OutputStage([held, view])
    stage.start()
    batch = frames(pictures, n)
    stage.process(batch[0])
    assert held.entered.wait(5) and view.entered.wait(5)  # both hold frame 0 in their write
    return gate, held, view, stage, batch


# -- streamer/outputs/stage.py ---------------------------------------------------------------------

def test_output_stage_figures_threads_and_states(tmp_path: Path, pictures: list[np.ndarray]) -> None:
    """A file output (the real JSONL), a slow BLOCK output and a LATEST one held at a gate:
    every BLOCK frame written, the LATEST one's two-frame queue overflowing into counted drops
    (live in ``stats()`` and after ``finish``), per-output wall and CPU seconds summed over the
    writes, states running -> done, thread names per camera and output, the dropped frames
    handed to the output that takes them.

    Kills ``_Lane.__init__`` (LATEST queue size, stats name/policy, thread name and daemon),
    ``_Lane.run`` (wall/CPU sums, frames, ``state: done``, final dropped), ``OutputStage.__init__``
    (thread names, camera), ``process`` (the ``dropped`` hook, ``last_index``), ``stats``."""
    gate = threading.Event()
    jsonl = JsonlSink(tmp_path / "a.jsonl", ["thing"])
    slow = Probe("slow", Policy.BLOCK, sleep=0.02, spin=0.01)
    view = Probe("view", Policy.LATEST, gate=gate, take_dropped=True)
    stage = OutputStage([jsonl, slow, view], camera="door", queue_size=8)
    assert stage.outputs == [jsonl, slow, view]
    assert stage.output("view") is view and stage.output("nope") is None
    assert stage.last_index == -1
    assert stage.stats() == [OutputStats("jsonl", "block"), OutputStats("slow", "block"), OutputStats("view", "latest")]
    stage.start()
    batch = frames(pictures, 8)
    stage.process(batch[0])
    assert view.entered.wait(5)  # frame 0 is in view's write, held at the gate
    for f in batch[1:]:
        stage.process(f)
    assert stage.last_index == 7
    # view's queue holds 2 (LATEST_QUEUE_SIZE, not queue_size=8): 1..5 were pushed out.
    live = {s.name: s for s in stage.stats()}
    assert (live["view"].dropped, live["view"].state, live["view"].frames) == (5, "running", 0)
    assert view.dropped_frames == [1, 2, 3, 4, 5]
    gate.set()
    stage.finish()
    assert jsonl.path.read_text().count("\n") == 8
    assert [json.loads(line)["frame"] for line in jsonl.path.read_text().splitlines()] == list(range(8))
    assert slow.indices == list(range(8)) and view.indices == [0, 6, 7]
    assert slow.closed == view.closed == 1
    assert slow.threads == {"streamer-door-out-slow"} and view.threads == {"streamer-door-out-view"}
    assert all(not lane.thread.is_alive() and lane.thread.daemon for lane in stage._lanes)
    out = {s.name: s for s in stage.stats()}
    assert [(s.name, s.policy, s.frames, s.dropped, s.state, s.error) for s in stage.stats()] == [
        ("jsonl", "block", 8, 0, "done", None), ("slow", "block", 8, 0, "done", None),
        ("view", "latest", 3, 5, "done", None)]
    # The lanes' own records too (what finish leaves behind).
    assert [lane.stats.dropped for lane in stage._lanes] == [0, 0, 5]
    # 8 writes of 20 ms idle + 10 ms CPU: the sums, not the last write alone.
    assert 8 * 0.03 <= out["slow"].wall < 5.0
    assert 8 * 0.01 <= out["slow"].cpu < out["slow"].wall
    assert 10.0 <= out["slow"].cpu_ms_per_frame < 30.0
    assert out["view"].wall >= 0.0 and out["view"].cpu >= 0.0
    assert OutputStats("x", "block").cpu_ms_per_frame == 0.0


def test_default_camera_queue_size_and_age_window(pictures: list[np.ndarray]) -> None:
    """Defaults: threads ``streamer-streamer-out-<name>``, a BLOCK queue of 4 frames (the fifth
    waits), a LATEST queue of 2, ages of the last 600 frames of the first output.

    Kills ``OutputStage.__init__`` default mutants (camera, queue_size, age_window) and the
    LATEST lane's ``min(queue_size, LATEST_QUEUE_SIZE)``."""
    gate, held, view, stage, batch = held_pair(pictures, "held", 700)
    fed: list[int] = []

    def feed() -> None:
        for f in batch[1:8]:
            stage.process(f)
            fed.append(f.index)

    feeder = threading.Thread(target=feed, name="test-feed", daemon=True)
    feeder.start()
    # held has 1-4 queued: the fifth process call (frame 5) waits.
    wait_for(lambda: len(fed) == 4)
    time.sleep(0.1)
    assert len(fed) == 4 and len(stage._lanes[0].queue) == 4
    assert stage.stats()[1].dropped == 2  # view: 0 in write, 3 and 4 queued (1, 2 pushed out)
    gate.set()
    feeder.join(5)
    for f in batch[8:]:
        stage.process(f)
    stage.finish()
    assert held.threads == {"streamer-streamer-out-held"} and view.threads == {"streamer-streamer-out-view"}
    assert held.indices == list(range(700))
    ages = stage.ages_ms()
    assert len(ages) == 600  # the age window
    assert all(0.0 <= a < 10_000.0 for a in ages)


def test_ages_are_the_first_outputs_or_the_stages_without_outputs(pictures: list[np.ndarray]) -> None:
    """``ages_ms``: capture-to-written milliseconds of the first output's last ``age_window``
    frames; with no output at all, capture to this stage. Frames captured 1,000 s ago are
    1,000,000 ms old (not 1,000, not negative, not 0.1 % more).

    Kills ``_Lane.run``'s age append, ``OutputStage.process``'s no-output ages and
    ``ages_ms``."""
    def run_old_frames(stage: OutputStage, n: int, window: int) -> list[float]:
        stage.start()
        for f in frames(pictures, n, age=1000.0):
            stage.process(f)
        stage.finish()
        ages = stage.ages_ms()
        # 1,000 s old: milliseconds, to within the half second a loaded machine may add.
        assert len(ages) == window and all(1_000_000.0 <= a < 1_000_500.0 for a in ages), ages
        return ages

    stage = OutputStage([Probe("first", Policy.BLOCK), Probe("second", Policy.BLOCK, sleep=0.01)], age_window=3)
    ages = run_old_frames(stage, 5, 3)
    assert ages == list(stage._lanes[0].ages) and ages is not stage._lanes[0].ages
    assert len(stage._lanes[1].ages) == 3

    bare = OutputStage([], age_window=4)
    assert bare.ages_ms() == [] and bare.stats() == [] and bare.outputs == []
    run_old_frames(bare, 6, 4)
    assert bare.last_index == 5


def test_failed_outputs_latest_alone_with_an_event_block_raised(pictures: list[np.ndarray],
                                                                caplog: pytest.LogCaptureFixture) -> None:
    """A LATEST output failing at its 2nd frame ends alone (one log line, one ``output``
    event, ``state: failed`` with the one-line error); one failing to close is failed too;
    a BLOCK output's failure is raised by the next ``process`` and by ``finish``.

    A BLOCK output failing while ``process`` waits for room raises from that very call.

    Kills ``_failed``, ``_one_line``, ``_Lane.run``'s error paths, ``process``'s skips and
    ``process`` 15 (a BLOCK error woken in ``put`` passed over)."""
    events: list[dict] = []
    view = Probe("view", Policy.LATEST, fail_at=1)
    shut = Probe("shut", Policy.LATEST, fail_close=True)
    keep = Probe("keep", Policy.BLOCK)
    stage = OutputStage([keep, view, shut], camera="door", publish=events.append)
    stage.start()
    with caplog.at_level(logging.ERROR, logger="streamer"):
        for f in frames(pictures, 6):
            stage.process(f)
            time.sleep(0.01)
        stage.finish()
    assert keep.indices == list(range(6)) and view.indices == [0] and view.closed == 1
    assert events == [
        {"event": "output", "camera": "door", "output": "view", "state": "failed",
         "message": "view: broken on purpose"},
        {"event": "output", "camera": "door", "output": "shut", "state": "failed",
         "message": "shut: cannot close"}]
    assert [r.getMessage() for r in caplog.records] == [
        "output view failed: view: broken on purpose (the other outputs go on)",
        "output shut failed: shut: cannot close (the other outputs go on)"]
    assert [(s.name, s.state, s.error) for s in stage.stats()] == [
        ("keep", "done", None), ("view", "failed", "view: broken on purpose"), ("shut", "failed", "shut: cannot close")]

    # BLOCK: the error is the run's, raised as is.
    broken = Probe("archive", Policy.BLOCK, fail_at=2)
    stage = OutputStage([broken], publish=events.append)
    stage.start()
    batch = frames(pictures, 8)
    with pytest.raises(SinkError, match="^archive: broken\non purpose$"):
        for f in batch:
            stage.process(f)
            time.sleep(0.01)
    with pytest.raises(SinkError, match="^archive: broken\non purpose$"):
        stage.finish()
    assert len(events) == 2  # no event for a BLOCK output: the run's error says it
    assert stage.stats()[0].state == "failed" and stage.stats()[0].error == "archive: broken on purpose"

    # BLOCK, failing while ``process`` waits for room in its queue: that call raises it.
    gate = threading.Event()
    held = Probe("archive", Policy.BLOCK, gate=gate, fail_at=0)
    stage = OutputStage([held], queue_size=1)
    stage.start()
    batch = frames(pictures, 3)
    stage.process(batch[0])
    assert held.entered.wait(5)
    stage.process(batch[1])  # queued
    raised: list[BaseException] = []

    def third() -> None:
        try:
            stage.process(batch[2])  # waits: the queue is full
        except BaseException as exc:  # noqa: BLE001 - checked below
            raised.append(exc)

    waiter = threading.Thread(target=third, name="test-third", daemon=True)
    waiter.start()
    time.sleep(0.1)
    assert waiter.is_alive()
    gate.set()  # frame 0 fails: the waiting put is woken and raises the output's error
    waiter.join(5)
    assert [str(e) for e in raised] == ["archive: broken\non purpose"] and stage.last_index == 1
    with pytest.raises(SinkError):
        stage.finish()


def test_unstarted_stage_closes_its_outputs_and_names_must_be_unique(pictures: list[np.ndarray]) -> None:
    """``finish`` without ``start`` writes nothing and closes each output once, in the caller's
    thread; duplicate names are refused with the names; an exception without a message is
    named by its type.

    Kills ``finish``'s never-started branch, ``__init__``'s message and ``_one_line``'s
    fallback."""
    a, b = Probe("a", Policy.BLOCK), Probe("b", Policy.LATEST)
    # What publishes an output's products (the live encoder's publishers) follows it in the stats.
    b.sinks = [SimpleNamespace(stats=OutputStats("rtsp://host/x", "latest", frames=3, dropped=1))]  # type: ignore[attr-defined]
    stage = OutputStage([a, b])
    stage.finish()
    assert (a.closed, b.closed, a.indices, b.indices) == (1, 1, [], [])
    assert [(s.name, s.state, s.frames, s.dropped) for s in stage.stats()] == [
        ("a", "done", 0, 0), ("b", "done", 0, 0), ("rtsp://host/x", "running", 3, 1)]
    assert stage.stats()[2] is not b.sinks[0].stats  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match=r"^output names must be unique, got \['a', 'b', 'a'\]$"):
        OutputStage([a, b, Probe("a", Policy.LATEST)])
    assert stage_module._one_line(SinkError()) == "SinkError"
    assert stage_module._one_line(SinkError(" x\n  y ")) == "x y"


def test_abort_drops_latest_frames_and_files_keep_theirs(pictures: list[np.ndarray],
                                                         monkeypatch: pytest.MonkeyPatch,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    """``abort``: the LATEST output's queued frames go, the BLOCK output writes what it was
    handed; a LATEST output stuck past the close timeout is left behind with a warning.

    A BLOCK output slower than that timeout is waited for.

    Kills ``abort`` and ``finish``'s join/warning mutants (``finish`` 5: BLOCK joined with
    the timeout)."""
    gate, keep, view, stage, batch = held_pair(pictures, "keep", 3)
    stage.process(batch[1])
    stage.process(batch[2])
    stage.abort()
    gate.set()
    stage.finish()
    assert keep.indices == [0, 1, 2] and view.indices == [0]
    assert [s.state for s in stage.stats()] == ["done", "done"]

    stuck = threading.Event()
    slow = Probe("stuck", Policy.LATEST, gate=stuck)
    monkeypatch.setattr(stage_module, "LATEST_CLOSE_TIMEOUT", 0.2)
    stage = OutputStage([slow])
    stage.start()
    stage.process(frames(pictures, 1)[0])
    assert slow.entered.wait(5)
    with caplog.at_level(logging.WARNING, logger="streamer"):
        t0 = time.monotonic()
        stage.finish()
        assert time.monotonic() - t0 < 3.0
    assert [r.getMessage() for r in caplog.records] == ["output stuck did not close within 0 s; left behind"]
    stuck.set()
    stage._lanes[0].thread.join(5)
    assert slow.closed == 1
    # A BLOCK output (a file) is always waited for, however long it takes.
    caplog.clear()
    file = Probe("file", Policy.BLOCK, sleep=0.5)
    stage = OutputStage([file])
    stage.start()
    stage.process(frames(pictures, 1)[0])
    with caplog.at_level(logging.WARNING, logger="streamer"):
        stage.finish()
    assert file.indices == [0] and file.closed == 1 and not caplog.records


# -- streamer/stages.py: DetectStage on a shared DetectorService -------------------------------------

def test_detect_stage_on_a_service_client(tmp_path: Path) -> None:
    """A detect stage given a service client: ``SERVICE_STAGE_WORKERS`` waiting threads, no
    detector of its own to warm up, the client's interval (changed by the service) deciding
    the frames sent, still frames never sent, the figures the stats record shows; a first
    frame not detected has no boxes (None).

    Kills the ``DetectStage`` service-client mutants of ``__init__`` (workers; 25: no boxes
    yet as ``""``), ``interval``, ``start``, ``process`` and ``figures``."""
    model = constant_detector(tmp_path, [([8, 8, 24, 24], 0.9)])
    with DetectorService([Detector(model, device="cpu")]) as service:
        client = service.client("door", every=2)
        stage = DetectStage(client=client, min_motion=0.1)
        assert (stage.workers, stage.every, stage.interval) == (SERVICE_STAGE_WORKERS, 1, 2)
        assert DetectStage(client=service.client("yard"), workers=2).workers == 2
        stage.start()  # no detector in the pool: must not take one
        image = np.zeros((SIZE, SIZE, 3), np.uint8)
        still = {4: 0.05}
        seen = []
        now = time.monotonic()
        for i in range(7):
            if i == 5:
                client.interval = 3  # as the service's pacing does
                assert stage.interval == 3
            frame = Frame(i, i, TB, now + i / 25, image.copy())
            frame.motion = MotionResult(mask=None, boxes=np.empty((0, 4), np.int32), areas=np.empty(0, np.int64),
                                        score=still.get(i, 0.5), reset=False)
            stage.process(frame)
            stage.ordered(frame)
            seen.append(frame)
        stage.finish()
        # 0, 2 at interval 2; 4 is still; 6 at interval 3.
        assert [f.index for f in seen if f.detected] == [0, 2, 6]
        assert all(len(f.detections) == 1 for f in seen)
        assert seen[1].detections is seen[0].detections and seen[5].detections is seen[2].detections
        assert stage.skipped_still == 1 and stage.runs == 3 and dict(stage.per_class) == {0: 3}
        figures = stage.figures(1.0)
        assert set(figures) == {"detect_interval", "detected", "detect_fps", "detect_submitted",
                                "detect_skipped", "detect_wait_ms_p95"}
        assert (figures["detect_interval"], figures["detected"], figures["detect_submitted"],
                figures["detect_skipped"]) == (3, 3, 3, 4)
        assert figures["detect_fps"] == 1.5  # 3 in the last 2 s
        assert figures["detect_wait_ms_p95"] is not None and figures["detect_wait_ms_p95"] >= 0.0
        # A live camera whose first frames were dropped before this stage: frame 3 at interval
        # 2 is not detected and has no boxes yet (None: the outputs write an empty list).
        late = DetectStage(client=service.client("late", every=2))
        late.start()
        frame = Frame(3, 3, TB, time.monotonic(), image)
        late.process(frame)
        late.ordered(frame)
        assert not frame.detected and frame.detections is None
        late.finish()


def test_detect_stage_on_a_service_client_runs_kernels_on_one_numba_thread(tmp_path: Path) -> None:
    """A camera whose model runs in another process prepares its frames in the detect stage's
    threads (``streamer.engines.detector_link``), so those threads run Numba with one thread,
    as every stage's do. With a new thread's default (the core count) the preprocess took its
    prange driver, which the kernels' warm-up does not compile: on CI (cold Numba cache, busy
    machine) the first frame compiled it and the cameras fell 13 s behind."""
    import numba

    model = constant_detector(tmp_path, [([8, 8, 24, 24], 0.9)])
    with DetectorService([Detector(model, device="cpu")]) as service:
        stage = DetectStage(client=service.client("door"))
        threads = []

        def worker() -> None:
            numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)  # what a new thread starts with
            stage.start()
            threads.append(numba.get_num_threads())

        t = threading.Thread(target=worker, name="detect-0")
        t.start()
        t.join(30)
        stage.finish()
    assert threads == [1]


# -- streamer/detection/pacing.py --------------------------------------------------------------------

def test_ordinals_and_detection_rates() -> None:
    """``ordinal`` (shown in the admission warning) and ``rate`` (detections per second).

    Kills ``ordinal`` and ``rate`` mutants."""
    assert [ordinal(n) for n in (1, 2, 3, 4, 9, 10, 11, 12, 13, 14, 19, 20, 21, 22, 23, 24, 100, 101, 102, 103,
                                 110, 111, 112, 113, 120, 121)] == [
        "1st", "2nd", "3rd", "4th", "9th", "10th", "11th", "12th", "13th", "14th", "19th", "20th", "21st", "22nd",
        "23rd", "24th", "100th", "101st", "102nd", "103rd", "110th", "111th", "112th", "113th", "120th", "121st"]
    assert rate([Demand("a", 30.0), Demand("b", 10.0)], {"a": 3, "b": 2}) == 15.0
    assert rate([], {}) == 0.0


@pytest.mark.parametrize(("demands", "capacity", "share", "expected"), [
    # Room for every frame (exactly at the budget: fits).
    ([Demand("a", 15.0), Demand("b", 15.0)], 30.0, 1.0, {"a": 1, "b": 1}),
    ([Demand("a", 15.0, base=2), Demand("b", 15.0, base=3)], 12.5, 1.0, {"a": 2, "b": 3}),
    # Alike cameras get the same interval; twice the priority, about twice the detections.
    ([Demand("a", 15.0), Demand("b", 15.0), Demand("c", 15.0, priority=2.0)], 30.0, 1.0, {"a": 2, "b": 2, "c": 1}),
    # A slow camera leaves the rest to the others.
    ([Demand("a", 15.0), Demand("b", 15.0), Demand("slow", 2.0)], 20.0, 1.0, {"a": 2, "b": 2, "slow": 1}),
    # Twice the priority: the levels are per unit of priority (7.5 detections/s per unit is
    # every 2nd frame, 15/s: too many; 5/s per unit, every 3rd, fits 10).
    ([Demand("a", 30.0, priority=2.0)], 10.0, 1.0, {"a": 3}),
    # The share of the capacity: 30 frames/s at 0.5 of 30.
    ([Demand("a", 30.0)], 30.0, 0.5, {"a": 2}),
    ([Demand("a", 30.0)], 30.0, 0.49, {"a": 3}),
    # Exactly at a level: 30/3 = 10 fits 10 (no rounding up to 4).
    ([Demand("a", 30.0)], 10.0, 1.0, {"a": 3}),
    ([Demand("a", 30.0)], 9.99, 1.0, {"a": 4}),
    # Even the largest intervals do not fit: everyone at the largest (at least its base).
    ([Demand("a", 30.0, largest=4), Demand("b", 10.0, base=2, largest=1)], 5.0, 1.0, {"a": 4, "b": 2}),
    # Base and largest alike: a single level, too many detections even there.
    ([Demand("a", 30.0, base=4, largest=4)], 1.0, 1.0, {"a": 4}),
    # The largest interval fits exactly; one less does not.
    ([Demand("a", 24.0, largest=8)], 3.0, 1.0, {"a": 8}),
    ([Demand("a", 24.0, largest=8), Demand("b", 24.0, largest=6)], 8.0, 1.0, {"a": 6, "b": 6}),
    # Many levels: the bisection lands on the highest that fits.
    ([Demand(f"c{i}", 10.0 + i, largest=30) for i in range(5)], 7.0, 1.0,
     {"c0": 7, "c1": 8, "c2": 9, "c3": 9, "c4": 10}),
    ([Demand("a", 25.0, largest=30), Demand("b", 7.0, priority=3.0, largest=30)], 6.0, 1.0, {"a": 11, "b": 2}),
])
def test_allocate_finds_the_smallest_intervals_that_fit(demands: list[Demand], capacity: float, share: float,
                                                        expected: dict[str, int]) -> None:
    """``allocate``'s rule at and around its edges: fits exactly, the share, each level's
    rounding, the bisection over levels, the largest interval and the base.

    Kills ``allocate`` (1: the default share; 13: levels per unit of priority; 36: a single
    level; 26, 58, 62) and
    ``_at_level`` mutants."""
    got = allocate(demands, capacity, share)
    assert got == expected
    if share == 1.0:  # the default: all of the capacity
        assert allocate(demands, capacity) == expected
    assert list(got) == [d.name for d in demands]


def test_admission_message_names_cameras_rates_and_intervals() -> None:
    """The warning a user gets when the cameras cannot be held: counts, rates, the interval
    spread, the capacity and what it was measured from; None when the largest intervals fit
    (also exactly) and with no camera.

    Kills ``admission`` mutants."""
    two = [Demand("a", 30.0, largest=4), Demand("b", 10.0, base=3, largest=2)]
    assert admission(two, 5.0, 200.0, 1) == (
        "2 cameras at 40.0 frames/s in all need 10.8 detections/s even at the largest interval (every 3rd frame "
        "to every 4th), but the detector does about 5.0/s here (200.0 ms per frame, 1 worker): frames will be "
        "dropped; use fewer cameras, a larger detect_every_max, a smaller model or a GPU")
    assert admission([Demand("a", 30.0, largest=4)], 5.0, 400.0, 2) == (
        "1 camera at 30.0 frames/s in all need 7.5 detections/s even at the largest interval (every 4th frame), "
        "but the detector does about 5.0/s here (400.0 ms per frame, 2 workers): frames will be dropped; use "
        "fewer cameras, a larger detect_every_max, a smaller model or a GPU")
    three = [Demand("a", 30.0, largest=8), Demand("b", 30.0, largest=2), Demand("c", 30.0, largest=4)]
    assert "(every 2nd frame to every 8th)" in (admission(three, 5.0, 100.0, 1) or "")
    assert admission([Demand("a", 30.0, largest=4)], 7.5, 100.0, 1) is None  # exactly fits
    assert admission([], 0.0, 100.0, 1) is None


def test_interval_controller_grows_at_once_and_shrinks_one_held_step_at_a_time() -> None:
    """``IntervalController``: defaults (0.85, 0.65, 2 s), the check of its shares, growth
    beyond ``grow_at`` at once, a step down only after ``hold`` seconds (exactly then, too)
    and only while ``shrink_at`` has room, cameras kept until forgotten, intervals clamped to
    a camera's base and largest; an interval never changed is not held.

    Kills ``IntervalController.__init__``, ``update`` (42, 43: the hold of a camera never
    changed) and ``forget`` mutants."""
    c = IntervalController()
    assert (c.grow_at, c.shrink_at, c.hold, c.intervals) == (0.85, 0.65, 2.0, {})
    for grow, shrink in ((0.5, 0.5), (0.5, 0.6), (0.5, 0.0), (0.5, -0.1)):
        with pytest.raises(ValueError, match=rf"^need 0 < shrink_at < grow_at, got {shrink}, {grow}$"):
            IntervalController(grow_at=grow, shrink_at=shrink)
    cam = [Demand("a", 20.0, largest=8)]
    # 20 frames/s: every frame fits 0.85 x 40 = 34; the first update starts at the base.
    assert c.update(cam, 40.0, now=0.0) == {"a": 1}
    # 20 > 0.85 x 20 = 17: every 2nd frame at once (10 <= 17).
    assert c.update(cam, 20.0, now=0.5) == {"a": 2}
    # Room at 0.65 for every frame (20 <= 0.65 x 40 = 26), but held until 2 s after the change ...
    assert c.update(cam, 40.0, now=2.4) == {"a": 2}
    # ... and then exactly 2 s after it, one step.
    assert c.update(cam, 40.0, now=2.5) == {"a": 1}
    # Overload to the largest at once, then back one step at a time, each held 2 s.
    assert c.update(cam, 1.0, now=3.0) == {"a": 8}
    assert [c.update(cam, 1000.0, now=3.0 + t)["a"] for t in (1.0, 2.0, 3.0, 4.0, 5.9, 6.0)] == [8, 7, 7, 6, 6, 5]
    # Between the shares nothing moves: 20/5 = 4 <= 0.85 x 5 = 4.25, but 20/4 = 5 > 0.65 x 5.
    assert c.update(cam, 5.0, now=100.0) == {"a": 5}
    assert c.intervals == {"a": 5}
    # A camera not in the demands keeps its interval until forgotten; a new one starts at its base.
    assert c.update([Demand("b", 10.0, base=2)], 100.0, now=101.0) == {"b": 2}
    assert c.intervals == {"a": 5, "b": 2}
    c.forget("a")
    c.forget("nope")
    assert c.intervals == {"b": 2}
    # Forgotten: back at its base with no hold left over.
    assert c.update(cam, 1000.0, now=101.5) == {"a": 1}
    # A kept interval is clamped to the camera's (new) range.
    c.update([Demand("b", 10.0, base=2, largest=8)], 1.0, now=102.0)
    assert c.intervals["b"] == 8
    assert c.update([Demand("b", 10.0, base=2, largest=4)], 1.0, now=102.5) == {"b": 4}
    assert c.update([Demand("b", 10.0, base=6, largest=4)], 1000.0, now=102.6) == {"b": 6}
    # An interval that never changed (it was the camera's base) is not held: with a smaller
    # base and room, it comes down at once.
    fresh = IntervalController()
    assert fresh.update([Demand("b", 10.0, base=2)], 1000.0, now=0.0) == {"b": 2}
    assert fresh.update([Demand("b", 10.0, base=1)], 1000.0, now=0.1) == {"b": 1}
