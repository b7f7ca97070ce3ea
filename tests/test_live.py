"""Live sources against a real RTSP server on 127.0.0.1 (Debian's GStreamer RTSP server).

Every test is bounded in time and stops what it started (the ``rtsp_server`` fixture stops
its servers; runners are stopped in ``finally``).
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import av
import pytest

from rtsp import CAMERA_SIZE, car_camera_clip, car_camera_clip_small, free_port, rtsp_server  # noqa: F401 - fixtures
from streamer.config import RunSettings
from streamer.errors import PipelineError, SourceError
from streamer.multirun import MultiRunner
from streamer.runner import Runner, RunSummary


def records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def frames_of(path: Path) -> list[dict[str, Any]]:
    return [r for r in records(path) if "frame" in r]


def states_of(path: Path) -> list[str]:
    return [r["state"] for r in records(path) if r.get("event") == "source"]


def live_settings(url: str, tmp: Path, **extra: Any) -> RunSettings:
    base: dict[str, Any] = dict(source=url, out_dir=tmp, progress=False, quiet=True, detect=False,
                                open_timeout=8.0, stall_timeout=3.0, name="cam")
    base.update(extra)
    return RunSettings(**base)


def wait_for(cond: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


@contextmanager
def running(runner: Runner) -> Iterator[dict[str, Any]]:
    """Run in a thread; always stop and join (bounded) on exit. Yields a dict with the outcome."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["summary"] = runner.run()
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            outcome["error"] = exc

    t = threading.Thread(target=target, name="test-runner", daemon=True)
    t.start()
    try:
        yield outcome
    finally:
        runner.stop()
        t.join(15)
        assert not t.is_alive(), "runner did not stop within 15 s"


def frames_out(runner: Runner) -> int:
    return runner.pipeline.stats().frames_out


def playable(path: Path) -> list[av.VideoFrame]:
    with av.open(str(path)) as c:
        return list(c.decode(video=0))


def test_live_stream_end_to_end_with_detections(rtsp_server, car_camera_clip: Path, tmp_path: Path) -> None:  # noqa: F811
    server = rtsp_server({"/cam": car_camera_clip})
    runner = Runner(live_settings(server.url("/cam"), tmp_path, detect=True, max_frames=40))
    summary: RunSummary = runner.run()
    assert summary.frames > 0 and summary.detector_runs > 0
    recs = frames_of(tmp_path / "cam.detections.jsonl")
    assert len(recs) == summary.frames
    assert all("wall_time" in r and r["age_ms"] >= 0 for r in recs)
    assert [r["pts"] for r in recs] == sorted(r["pts"] for r in recs)
    assert states_of(tmp_path / "cam.detections.jsonl")[:2] == ["connecting", "streaming"]
    frames = playable(tmp_path / "cam.annotated.mp4")
    assert len(frames) == summary.frames and (frames[0].width, frames[0].height) == CAMERA_SIZE
    assert summary.live is not None and summary.live["age_ms_p50"] is not None


def test_server_killed_and_restarted(rtsp_server, car_camera_clip: Path, tmp_path: Path) -> None:  # noqa: F811
    server = rtsp_server({"/cam": car_camera_clip})
    runner = Runner(live_settings(server.url("/cam"), tmp_path))
    with running(runner) as outcome:
        wait_for(lambda: frames_out(runner) >= 10, 20, "first frames")
        server.kill()
        wait_for(lambda: runner.source.state is not None and runner.source.state.value in {"stalled", "reconnecting"}, 15, "loss noticed")
        before = frames_out(runner)
        server.restart()
        wait_for(lambda: frames_out(runner) >= before + 10, 30, "frames after the restart")
    assert "error" not in outcome, outcome.get("error")
    summary = outcome["summary"]
    assert summary.reconnects >= 1
    states = states_of(tmp_path / "cam.detections.jsonl")
    assert states[:2] == ["connecting", "streaming"]
    assert "reconnecting" in states and states.count("streaming") >= 2 and states[-1] == "stopped"
    recs = frames_of(tmp_path / "cam.detections.jsonl")
    gaps = [b["time"] - a["time"] for a, b in zip(recs, recs[1:])]
    assert max(gaps) > 0.5  # the outage shows as a gap in time, not as lost ordering
    assert len(playable(tmp_path / "cam.annotated.mp4")) == len(recs)


def test_server_absent_at_start_then_appears(rtsp_server, car_camera_clip: Path, tmp_path: Path) -> None:  # noqa: F811
    port = free_port()
    runner = Runner(live_settings(f"rtsp://127.0.0.1:{port}/cam", tmp_path))
    with running(runner) as outcome:
        wait_for(lambda: runner.source.state is not None and runner.source.state.value == "reconnecting", 10, "retrying")
        rtsp_server({"/cam": car_camera_clip}, port=port)
        wait_for(lambda: frames_out(runner) >= 5, 40, "frames once the server is up")
    assert "error" not in outcome
    states = states_of(tmp_path / "cam.detections.jsonl")
    # One "reconnecting" record per failed attempt (with its reason): as many as the server took to start.
    assert [s for i, s in enumerate(states) if not i or s != states[i - 1]][:3] == ["connecting", "reconnecting", "streaming"]


@pytest.mark.parametrize("case", ["wrong_path", "bad_credentials"])
def test_errors_retrying_cannot_fix(rtsp_server, car_camera_clip: Path, tmp_path: Path, case: str) -> None:  # noqa: F811
    server = rtsp_server({"/cam": car_camera_clip}, users={"/cam": ("viewer", "right-pass")})
    url = server.url("/nope", "viewer", "right-pass") if case == "wrong_path" else server.url("/cam", "viewer", "wrong-pass")
    runner = Runner(live_settings(url, tmp_path))
    t0 = time.monotonic()
    with pytest.raises(PipelineError) as info:
        runner.run()
    assert time.monotonic() - t0 < 20
    cause = info.value.__cause__
    assert isinstance(cause, SourceError)
    message = str(cause)
    assert ("not found (404)" if case == "wrong_path" else "unauthorized (401)") in message
    assert "right-pass" not in message and "wrong-pass" not in message and "viewer:***@" in message
    states = states_of(tmp_path / "cam.detections.jsonl")
    assert states[-1] == "gave_up" and "reconnecting" not in states
    assert "pass" not in (tmp_path / "cam.detections.jsonl").read_text()


def test_stall_without_closing_is_detected_and_healed(rtsp_server, car_camera_clip: Path, tmp_path: Path) -> None:  # noqa: F811
    server = rtsp_server({"/cam": car_camera_clip})
    runner = Runner(live_settings(server.url("/cam"), tmp_path, stall_timeout=1.5))
    with running(runner) as outcome:
        wait_for(lambda: frames_out(runner) >= 5, 20, "first frames")
        server.stall()
        wait_for(lambda: runner.source.state is not None and runner.source.state.value != "streaming", 15, "stall noticed")
        server.resume()
        before = frames_out(runner)
        wait_for(lambda: frames_out(runner) >= before + 5, 30, "frames after the stall")
    assert "error" not in outcome
    states = states_of(tmp_path / "cam.detections.jsonl")
    assert "stalled" in states and states.count("streaming") >= 2


def test_two_cameras_one_dies(rtsp_server, car_camera_clip: Path, tmp_path: Path) -> None:  # noqa: F811
    good = rtsp_server({"/a": car_camera_clip})
    bad = rtsp_server({"/b": car_camera_clip})
    cams = [live_settings(good.url("/a"), tmp_path, name="good"),
            live_settings(bad.url("/b"), tmp_path, name="bad", retries=1)]
    multi = MultiRunner(cams)
    good_runner = multi.runners[0]
    results: list[Any] = []
    t = threading.Thread(target=lambda: results.extend(multi.run()), daemon=True)
    t.start()
    try:
        wait_for(lambda: frames_out(good_runner) >= 5 and frames_out(multi.runners[1]) >= 5, 30, "both streaming")
        bad.kill()
        wait_for(lambda: "bad" in multi.results, 30, "the dead camera to give up")
        before = frames_out(good_runner)
        wait_for(lambda: frames_out(good_runner) >= before + 10, 20, "the good camera to keep going")
    finally:
        multi.stop()
        t.join(15)
    assert not t.is_alive()
    by_name = {r.name: r for r in results}
    assert isinstance(by_name["bad"].error, SourceError) and "gave up" in str(by_name["bad"].error)
    assert by_name["good"].error is None and by_name["good"].summary.frames >= 15
    for name in ("good", "bad"):
        assert len(playable(tmp_path / f"{name}.annotated.mp4")) == len(frames_of(tmp_path / f"{name}.detections.jsonl"))


def test_resolution_change_mid_stream(rtsp_server, car_camera_clip: Path, car_camera_clip_small: Path, tmp_path: Path) -> None:  # noqa: F811
    server = rtsp_server({"/switch": [car_camera_clip, car_camera_clip_small]})
    runner = Runner(live_settings(server.url("/switch"), tmp_path, detect=True, detect_workers=1,
                                  kernels="denoise=gaussian:ksize=3,edges=sobel"))
    sizes: set[tuple[int, int]] = set()
    with running(runner) as outcome:
        # 3 s of 640x272 (38 frames), then 3 s of 320x136: wait until frames of the second size came out.
        wait_for(lambda: frames_out(runner) >= 50, 40, "frames past the size change")
    assert "error" not in outcome, outcome.get("error")
    frames = playable(tmp_path / "cam.annotated.mp4")
    sizes = {(f.width, f.height) for f in frames}
    assert sizes == {CAMERA_SIZE}  # the output keeps its size; smaller frames are letterboxed
    assert len(frames) == len(frames_of(tmp_path / "cam.detections.jsonl")) >= 50


def test_ctrl_c_while_reconnecting_stops_fast(tmp_path: Path) -> None:
    port = free_port()  # nothing listens: the camera keeps reconnecting
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamer.cli", "run", f"rtsp://u:topsecret@127.0.0.1:{port}/cam", "--no-detect",
         "--out-dir", str(tmp_path), "--no-progress", "--open-timeout", "30"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        jsonl = tmp_path / "127.0.0.1_{}_cam.detections.jsonl".format(port)
        wait_for(lambda: jsonl.exists() and "reconnecting" in jsonl.read_text(), 30, "reconnecting")
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
        assert time.monotonic() - t0 < 3.0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "topsecret" not in err and "u:***@" in err
    assert states_of(jsonl)[-1] == "stopped"


@pytest.mark.slow
@pytest.mark.timeout(720)
def test_soak_ten_minutes_latency_and_memory_flat(rtsp_server, car_camera_clip: Path, tmp_path: Path) -> None:  # noqa: F811
    """10 minutes live: frame age and resident memory at the end match the first minute."""
    import psutil

    server = rtsp_server({"/cam": car_camera_clip})
    runner = Runner(live_settings(server.url("/cam"), tmp_path, detect=True, stats_interval=30.0))
    proc = psutil.Process()
    rss: list[tuple[float, float]] = []
    with running(runner) as outcome:
        t0 = time.monotonic()
        while time.monotonic() - t0 < 600:
            time.sleep(5)
            rss.append((time.monotonic() - t0, proc.memory_info().rss / 2**20))
    assert "error" not in outcome
    stats = [r for r in records(tmp_path / "cam.detections.jsonl") if r.get("event") == "stats"]
    first = [s for s in stats if s["elapsed"] <= 90]
    last = stats[-3:]
    assert first and last
    p95_first = max(s["age_ms_p95"] for s in first)
    p95_last = max(s["age_ms_p95"] for s in last)
    assert p95_last <= p95_first * 1.25 + 20, (p95_first, p95_last)
    rss_minute = max(m for t, m in rss if 55 <= t <= 90)
    assert rss[-1][1] - rss_minute < 30, rss


def test_ctrl_c_while_blocked_connecting(tmp_path: Path) -> None:
    """A 'camera' that accepts TCP but never answers RTSP: the connect blocks; Ctrl-C still ends
    fast, with 130, and without Python's finalisation under the thread still in FFmpeg (which
    once ended the process by SIGSEGV): an exit handler registered before the command never runs."""
    import socket

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    port = listener.getsockname()[1]
    command = ("import atexit, sys; atexit.register(lambda: print('finalised', file=sys.stderr)); "
               "from streamer.cli import entry; entry()")  # what the `streamer` script runs
    proc = subprocess.Popen(
        [sys.executable, "-c", command, "run", f"rtsp://127.0.0.1:{port}/cam", "--no-detect",
         "--out-dir", str(tmp_path), "--no-progress", "--open-timeout", "60"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        listener.settimeout(30)
        conn, _ = listener.accept()  # the client is now inside its (blocking) connect
        time.sleep(0.5)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=15)
        assert time.monotonic() - t0 < 3.0
        conn.close()
    finally:
        if proc.poll() is None:
            proc.kill()
        listener.close()
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "finalised" not in err


def test_info_on_a_stream_and_a_wrong_path(rtsp_server, car_camera_clip: Path) -> None:  # noqa: F811
    server = rtsp_server({"/cam": car_camera_clip}, users={"/cam": ("viewer", "pw1")})
    r = subprocess.run([sys.executable, "-m", "streamer.cli", "info", server.url("/cam", "viewer", "pw1")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "{}x{}".format(*CAMERA_SIZE) in r.stdout and "h264" in r.stdout and "pw1" not in r.stdout
    r = subprocess.run([sys.executable, "-m", "streamer.cli", "info", server.url("/nope", "viewer", "pw1")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "not found (404)" in r.stderr and "pw1" not in r.stderr
    assert "Traceback" not in r.stderr
