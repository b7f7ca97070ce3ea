"""The shared detector service (issue 10): batches, fair turns, paced intervals, admission, fleets.

Real models throughout: the bundled detectors, and detectors built here with the ``onnx``
helper API that really compute for a while (``test_bites.slow_detector``), run by the real
ONNX Runtime. Load is driven by frames offered at a fixed rate from threads of the test (the
service sees a frame's index and capture time, as from a camera), by real files, and by
cameras served by the local RTSP server.
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
import time
from pathlib import Path

import av
import numpy as np
import pytest
from rtsp import car_camera_clip, rtsp_server  # noqa: F401 - fixtures
from test_bites import slow_detector

from streamer.config import RunSettings
from streamer.detection import Detector
from streamer.detection.batching import BATCH_TOLERANCE, check_batch, dynamic_batch
from streamer.detection.pacing import Demand, IntervalController, admission, allocate
from streamer.detection.service import DetectorService
from streamer.detection.session import open_like
from streamer.fleet import Fleet


@pytest.fixture(scope="module")
def street(bikes_clip: Path) -> list[np.ndarray]:
    """Six different frames of the bikes clip (cars, cyclists), BGR."""
    with av.open(str(bikes_clip)) as c:
        return [f.to_ndarray(format="bgr24") for i, f in enumerate(c.decode(video=0)) if i in (0, 50, 100, 125, 150, 200)]


@pytest.fixture(scope="module")
def fast_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A detector that computes for ~5 ms a frame on one thread (96x96, 2 conv layers)."""
    return slow_detector(tmp_path_factory.mktemp("fast"), size=96, layers=2, channels=32)


@pytest.fixture(scope="module")
def slow_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A detector that computes for ~15 ms a frame on one thread (128x128, 2 conv layers)."""
    return slow_detector(tmp_path_factory.mktemp("slow"), size=128, layers=2, channels=48)


# --- batches ------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["yolox-nano", "nanodet-g"])
def test_bundled_models_take_a_batch_like_one_frame_at_a_time(model: str, street: list[np.ndarray]) -> None:
    detector = Detector(model, device="cpu", threads=1)
    session, tensor, names = detector.model_io
    prepared = []
    for image in street[:3]:
        detector.prepare(image)
        prepared.append(tensor[0].copy())
    graph = dynamic_batch(detector.path)
    assert graph is not None
    batched = open_like(graph, session, 1)
    assert check_batch(session, batched, names, np.stack(prepared)) <= BATCH_TOLERANCE


def test_batched_service_finds_what_one_frame_at_a_time_finds(street: list[np.ndarray]) -> None:
    alone = Detector(device="cpu", threads=1)
    expected = [alone.detect(image) for image in street]
    assert sum(len(d) for d in expected) > 10  # cars and people: a comparison worth making
    with DetectorService([Detector(device="cpu", threads=2)], max_batch=4, max_wait=0.3) as service:
        assert service.batching
        clients = [service.client(f"cam{i}") for i in range(len(street))]
        futures = [c.submit(image) for c, image in zip(clients, street)]
        got = [f.result(timeout=30) for f in futures]
        assert service.batches < len(street)  # several frames went through one inference
    for want, have in zip(expected, got):
        np.testing.assert_array_equal(have.class_id, want.class_id)
        np.testing.assert_allclose(have.xyxy, want.xyxy, atol=1e-2)
        np.testing.assert_allclose(have.confidence, want.confidence, atol=1e-4)


@pytest.mark.parametrize("max_batch", [1, 4])
def test_frames_prepared_by_their_cameras_find_what_whole_frames_find(street: list[np.ndarray], max_batch: int) -> None:
    """What a Ray camera sends its node's detector (streamer.engines.detector_link): its frame
    already letterboxed into the model's input, with the transform; boxes in frame pixels back."""
    from streamer.detection.detector import prepare_input
    from streamer.detection.service import Prepared

    alone = Detector(device="cpu", threads=1)
    expected = [alone.detect(image) for image in street]
    spec = alone.card.input
    with DetectorService([Detector(device="cpu", threads=1)], max_batch=max_batch, max_wait=0.3) as service:
        clients = [service.client(f"cam{i}") for i in range(len(street))]
        futures = []
        for i, (c, image) in enumerate(zip(clients, street)):
            tensor = np.empty((1, 3, spec.height, spec.width), np.float32)
            # Whole frames and prepared ones, mixed in the same batches.
            futures.append(c.submit(Prepared(tensor, prepare_input(spec, image, tensor)) if i % 2 else image))
        got = [f.result(timeout=30) for f in futures]
        assert service.batching == (max_batch > 1)
    for want, have in zip(expected, got):
        np.testing.assert_array_equal(have.class_id, want.class_id)
        np.testing.assert_allclose(have.xyxy, want.xyxy, atol=1e-2 if max_batch > 1 else 1e-5)
        np.testing.assert_allclose(have.confidence, want.confidence, atol=1e-4 if max_batch > 1 else 1e-6)


def test_a_graph_that_cannot_batch_runs_one_frame_at_a_time(fast_model: Path, street: list[np.ndarray]) -> None:
    # Its output is a constant [1, 6, 1] plus 0 * the mean of the whole input: a batch of 2
    # still gives one row, so the check at warm-up fails and frames go one at a time.
    with DetectorService([Detector(fast_model, device="cpu", threads=1)], max_batch=4) as service:
        assert not service.batching
        assert len(service.client("a").detect(street[0])) == 1


# --- fair turns ---------------------------------------------------------------------------------


def test_cameras_get_turns_in_proportion_to_their_priority(fast_model: Path, street: list[np.ndarray]) -> None:
    with DetectorService([Detector(fast_model, device="cpu", threads=1)]) as service:
        clients = [service.client("a"), service.client("b"), service.client("c", priority=2.0)]
        stop = threading.Event()

        def hammer(client: object) -> None:  # as a detect stage's threads do, without pause
            while not stop.is_set():
                client.detect(street[0])  # type: ignore[attr-defined]

        threads = [threading.Thread(target=hammer, args=(c,)) for c in clients for _ in range(4)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 10
        while service.frames < 300 and time.monotonic() < deadline:
            time.sleep(0.05)
        stop.set()
        for t in threads:
            t.join()
    done = [c.detected for c in clients]
    shares = np.array(done) / sum(done)
    # Always four frames waiting from every camera: turns go a, b, c, c, a, b, c, c, ...
    np.testing.assert_allclose(shares, [0.25, 0.25, 0.5], atol=0.04, err_msg=str(done))


# --- paced intervals ----------------------------------------------------------------------------


def offer(client: object, fps: float, seconds: float, image: np.ndarray, trace: list[int], t0: float) -> None:
    """Offer ``client`` a camera's frames at ``fps`` for ``seconds``, detecting those it asks for.

    Frame indices follow the clock from ``t0``, as a camera's do: frames that come while a
    detection is running are skipped (as a live pipeline drops them), so the camera's rate
    stays ``fps``.
    """
    start = time.monotonic()
    last = -1
    while (now := time.monotonic()) < start + seconds:
        index = int((now - t0) * fps)
        if index > last:
            last = index
            if client.schedule(index, t0 + index / fps):  # type: ignore[attr-defined]
                client.detect(image)  # type: ignore[attr-defined]
            trace.append(client.interval)  # type: ignore[attr-defined]
        time.sleep(max(0.0, t0 + (last + 1) / fps - time.monotonic()))


def test_interval_grows_under_overload_and_comes_back_when_load_falls(slow_model: Path, street: list[np.ndarray]) -> None:
    service = DetectorService([Detector(slow_model, device="cpu", threads=1)],
                              controller=IntervalController(hold=0.3), rebalance=0.05).start()
    try:
        assert service.capacity is not None
        # One camera fits at every frame (0.6 of capacity < SHRINK_AT); three fit only if each
        # detects every 2nd frame or less (3 x 0.6 / 2 = 0.9 > GROW_AT).
        fps = 0.6 * service.capacity
        cams = [service.client(f"cam{i}", every_max=8, adaptive=True) for i in range(3)]
        traces: list[list[int]] = [[] for _ in cams]
        t0 = time.monotonic()
        threads = [threading.Thread(target=offer, args=(c, fps, 1.5, street[0], tr, t0)) for c, tr in zip(cams, traces)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        peak = [max(tr) for tr in traces]
        assert all(p >= 2 for p in peak), peak
        assert cams[0].fps == pytest.approx(fps, rel=0.2)
        for c in cams[1:]:
            c.close()  # two cameras leave: the load falls
        after: list[int] = []
        offer(cams[0], fps, 2.0, street[0], after, t0)
        # Back down, to what now fits. (That it comes down one step at a time and does not
        # oscillate is checked without a clock below; here the capacity is measured on a shared
        # machine, and a real drop in it may raise the interval once more.)
        assert after[-1] < peak[0], (peak, after)
        assert sum(b > a for a, b in itertools.pairwise(after)) <= 1, after
        fits = allocate([Demand("cam0", cams[0].fps or fps)], service.capacity or 1.0, service.controller.shrink_at)
        assert after[-1] <= max(fits["cam0"], 1) + 1, (after[-1], fits, service.capacity)
        figures = cams[0].figures()
        assert figures["interval"] == after[-1] and figures["skipped"] == figures["frames"] - figures["submitted"] > 0
    finally:
        service.close()


def test_intervals_hold_within_the_band_and_come_back_one_step_at_a_time() -> None:
    cams = [Demand(f"cam{i}", 15.0) for i in range(4)]  # 60 frames/s in all
    control = IntervalController(grow_at=0.85, shrink_at=0.65, hold=2.0)
    assert set(control.update(cams, 50.0, now=0.0).values()) == {2}  # 60 > 42.5: every 2nd frame
    # The measured capacity wobbles +-20% around 50: 30 detections/s stay between 0.65 and
    # 0.85 of it (and 60 above), so nothing moves.
    for t, capacity in enumerate([40.0, 60.0, 45.0, 55.0, 42.0, 58.0], start=1):
        assert set(control.update(cams, capacity, now=float(t)).values()) == {2}
    # Room for every frame (60 <= 0.65 * 100), but only after the hold and one step at a time.
    assert set(control.update(cams, 100.0, now=7.0).values()) == {1}
    assert set(control.update(cams, 10.0, now=7.5).values()) == {8}  # overload: at once, all the way
    steps = [control.update(cams, 200.0, now=8.0 + 0.5 * i)["cam0"] for i in range(40)]
    assert steps == sorted(steps, reverse=True) and steps[-1] == 1
    assert all(a - b <= 1 for a, b in itertools.pairwise(steps))  # one step at a time
    assert steps.count(7) == 4  # each held for 2 s


def test_admission_warns_with_the_numbers(fast_model: Path, caplog: pytest.LogCaptureFixture) -> None:
    with DetectorService([Detector(fast_model, device="cpu", threads=1)], rebalance=0.0) as service:
        cams = [service.client(f"cam{i}", every=1, every_max=2, adaptive=True) for i in range(3)]
        with caplog.at_level(logging.WARNING, logger="streamer"):
            for c in cams:  # 500 frames in one second: 500 fps each
                c.schedule(0, 100.0)
                c.schedule(500, 101.0)
        capacity = service.capacity
        cams[0].schedule(498, 101.1)  # a little out of order (several stage threads): left out
        assert cams[0].fps == pytest.approx(500.0)
        cams[0].schedule(0, 102.0)  # the count started again (the camera reconnected): measured anew
        assert cams[0].fps is None
    assert service.admission is not None and capacity is not None
    message = caplog.text
    assert "3 cameras at 1500.0 frames/s in all need 750.0 detections/s" in message, message
    assert "largest interval (every 2nd frame)" in message
    assert f"about {capacity:.1f}/s here ({service.ms_per_frame:.1f} ms per frame, 1 worker)" in message
    # What fits is not warned about.
    assert admission([Demand("a", 15.0, largest=8)], capacity=10.0, ms_per_frame=100.0, workers=1) is None


# --- fleets -------------------------------------------------------------------------------------


def test_several_files_run_side_by_side_and_keep_every_frame(tmp_path: Path, bikes_clip: Path, hd_clip: Path) -> None:
    cams = [RunSettings(source=str(src), name=name, out_dir=tmp_path, no_video=True, max_frames=16, progress=False,
                        quiet=True, device="cpu", queue_size=2)
            for name, src in [("bikes", bikes_clip), ("hd", hd_clip), ("bikes-again", bikes_clip)]]
    fleet = Fleet(cams)
    assert len(fleet.services) == 1  # one model, one service
    results = fleet.run()
    assert [r.error for r in results] == [None] * 3
    for r, runner in zip(results, fleet.runners):
        assert r.summary is not None and r.summary.frames == 16 and r.summary.dropped == 0
        lines = [json.loads(x) for x in (tmp_path / f"{r.name}.detections.jsonl").read_text().splitlines()]
        assert [x["frame"] for x in lines if "frame" in x] == list(range(16))
        f = runner.client.figures()  # type: ignore[union-attr]
        assert f["detected"] == f["submitted"] == f["frames"] == 16 and f["interval"] == 1  # files: never paced


def test_live_cameras_share_the_detector_and_slow_down_together(
        tmp_path: Path, rtsp_server: object, car_camera_clip: Path) -> None:  # noqa: F811
    model = slow_detector(tmp_path, size=160, layers=3, channels=64)  # 40-80 ms a frame
    server = rtsp_server({f"/cam{i}": car_camera_clip for i in range(3)})  # type: ignore[operator]
    # One session of one thread: ~12 detections/s for 3 x 12.5 frames/s, on any machine.
    cams = [RunSettings(source=server.url(f"/cam{i}"), name=f"cam{i}", out_dir=tmp_path, no_video=True, model=model,
                        duration=3.0, stats_interval=0.5, progress=False, quiet=True, device="cpu",
                        detect_workers=1, threads=1)
            for i in range(3)]
    fleet = Fleet(cams)
    results = fleet.run()
    assert [r.error for r in results] == [None] * 3
    detected, intervals = [], []
    for r in results:
        stats = [json.loads(x) for x in (tmp_path / f"{r.name}.detections.jsonl").read_text().splitlines()]
        stats = [s for s in stats if s.get("event") == "stats"]
        assert stats and all("detect_interval" in s and "detect_fps" in s for s in stats)
        intervals.append(max(s["detect_interval"] for s in stats))
        detected.append(r.summary.detector_runs)  # type: ignore[union-attr]
    assert max(intervals) >= 2, intervals  # the detector could not do every frame: intervals grew
    assert min(detected) > 0.7 * max(detected), detected  # and no camera starved (cameras alike: same interval)
