"""Honest feedback from live sources, and limits that hold whatever a camera does.

* each failed attempt says why, in the log and in the JSONL's ``source`` records;
* a server that accepts the connection and never answers is a timeout, not "invalid data"; one
  that hangs up at once says so;
* a webcam path that does not exist or is not a V4L2 device is a one-line error at once;
* ``--duration`` ends a live run on time while a camera cannot connect, alone or beside a good one,
  and while a camera is stalled.

Real servers on 127.0.0.1 only: the GStreamer RTSP server of ``tests/rtsp.py``, listening sockets
that never answer or hang up, and a port nothing listens on. Every server is stopped by its fixture.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rtsp import car_camera_clip, free_port, rtsp_server  # noqa: F401 - fixtures
from streamer.config import RunSettings
from streamer.errors import SourceError
from streamer.multirun import MultiRunner
from streamer.runner import Runner
from streamer.sources.errors import device_problem
from streamer.sources.live import LiveSource, SourceEvent

#: What a run may take past ``--duration``: the pipeline's tick (0.2 s) and the outputs' closing.
GRACE = 1.5
#: A message that says the same word twice in a row, as "connecting: connecting" did.
REPEATED = re.compile(r"\b(\w+): \1\b")


def source_records(path: Path) -> list[dict[str, Any]]:
    return [r for r in map(json.loads, path.read_text().splitlines()) if r.get("event") == "source"]


def streamer_cli(*args: str, timeout: float = 90) -> tuple[subprocess.CompletedProcess[str], float]:
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "streamer.cli", *args], capture_output=True, text=True, timeout=timeout)
    return r, time.monotonic() - t0


def run_seconds(stderr: str) -> float:
    """The run's own elapsed time, from the summary's "done: N frames in S s" (without start-up)."""
    found = re.findall(r"done: \d+ frames in ([\d.]+) s", stderr)
    assert found, stderr
    return max(map(float, found))


@pytest.fixture()
def tcp_server(request: pytest.FixtureRequest) -> Iterator[int]:
    """A TCP port that accepts connections and then never sends a byte (``"silent"``, a hung camera)
    or hangs up at once without a word (``"closing"``); every socket is closed at teardown."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                conn = listener.accept()[0]
            except (TimeoutError, OSError):
                continue
            if request.param == "closing":
                # Half-close: the client reads end-of-stream; closing outright would race with its
                # request and sometimes reset the connection instead.
                conn.shutdown(socket.SHUT_WR)
            accepted.append(conn)

    thread = threading.Thread(target=accept, name="test-tcp-server", daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(5)
        for conn in accepted:
            conn.close()
        listener.close()


# -- the reason, with each attempt ------------------------------------------------------------------


def test_refused_camera_says_why_at_each_attempt_and_duration_ends_the_run(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there: every attempt is refused at once
    url = f"rtsp://viewer:hunter2@127.0.0.1:{port}/x"
    r, _ = streamer_cli("run", url, "--duration", "2", "--no-detect", "--out-dir", str(tmp_path), "--no-progress")
    assert r.returncode == 0, r.stderr
    assert run_seconds(r.stderr) < 2 + GRACE
    attempts = re.findall(rf"rtsp://viewer:\*\*\*@127\.0\.0\.1:{port}/x: reconnecting \(attempt (\d+)\): "
                          r"connection refused[^;\n]*; (?:next try in [\d.]+ s|no further try[^\n]*)\n", r.stderr)
    assert [int(a) for a in attempts] == list(range(1, len(attempts) + 1)) and len(attempts) >= 2, r.stderr
    assert "hunter2" not in r.stderr and "Traceback" not in r.stderr
    assert not REPEATED.search(r.stderr), r.stderr
    records = source_records(tmp_path / f"127.0.0.1_{port}_x.detections.jsonl")
    retries = [rec for rec in records if rec["state"] == "reconnecting"]
    assert [rec["attempt"] for rec in retries] == list(range(1, len(retries) + 1))
    assert all(rec["message"].startswith("connection refused") for rec in retries)
    assert records[-1]["state"] == "stopped" and records[-1]["message"] == "duration 2 s reached"
    assert not any(REPEATED.search(f"{rec['state']}: {rec['message']}") for rec in records)
    assert "hunter2" not in (tmp_path / f"127.0.0.1_{port}_x.detections.jsonl").read_text()


@pytest.mark.parametrize("tcp_server", ["silent"], indirect=True)
@pytest.mark.parametrize("scheme", ["rtsp", "http"])
def test_server_that_never_answers_is_a_timeout(tcp_server: int, scheme: str) -> None:
    events: list[SourceEvent] = []
    source = LiveSource(f"{scheme}://127.0.0.1:{tcp_server}/cam", open_timeout=1.0, retries=1,
                        on_event=events.append, seed=1)
    t0 = time.monotonic()
    with pytest.raises(SourceError) as info:
        list(source.frames())
    assert time.monotonic() - t0 < 10
    assert str(info.value) == (f"{scheme}://127.0.0.1:{tcp_server}/cam: timed out after 1 s (no answer from the "
                               "server); gave up after 2 attempts")
    retry = next(e for e in events if e.state.value == "reconnecting")
    assert retry.attempt == 1 and retry.message.startswith("timed out after 1 s (no answer from the server); next try in ")


@pytest.mark.parametrize("tcp_server", ["closing"], indirect=True)
@pytest.mark.parametrize("scheme", ["rtsp", "http"])
def test_server_that_hangs_up_says_so(tcp_server: int, scheme: str) -> None:
    with pytest.raises(SourceError) as info:
        LiveSource(f"{scheme}://127.0.0.1:{tcp_server}/cam", open_timeout=5.0).probe()  # streamer info
    assert str(info.value) == (f"{scheme}://127.0.0.1:{tcp_server}/cam: connected, but got no stream FFmpeg can read "
                               "(the server closed the connection, or it speaks another protocol: wrong port or path?)")


# -- webcams that are not there ------------------------------------------------------------------------


def test_missing_webcam_is_an_error_at_once(tmp_path: Path) -> None:
    device = next(f"/dev/video{n}" for n in range(64, 128) if not os.path.exists(f"/dev/video{n}"))
    r, seconds = streamer_cli("run", device, "--no-detect", "--out-dir", str(tmp_path), "--no-progress")
    assert r.returncode == 1
    assert r.stderr.strip().splitlines()[-1] == f"streamer: error: {device}: no such device"
    assert "Traceback" not in r.stderr and "reconnecting" not in r.stderr
    assert not list(tmp_path.iterdir())  # nothing was started, nothing written
    with pytest.raises(SourceError, match=f"^{device}: no such device$"):
        LiveSource(device).probe()  # streamer info


def test_paths_that_are_not_webcams(tmp_path: Path) -> None:
    regular = tmp_path / "video0"
    regular.write_bytes(b"\0" * 100)  # what writing to a missing /dev/video0 leaves behind
    assert device_problem(str(regular)).startswith("not a video device (it is a regular file;")
    null = os.stat("/dev/null").st_rdev
    assert device_problem("/dev/null") == (f"not a video device (it is a character device ({os.major(null)}:"
                                           f"{os.minor(null)}); V4L2 devices are character devices 81:N)")
    assert device_problem(str(tmp_path / "nothing")) == "no such device"


# -- --duration holds in every state -------------------------------------------------------------------


def test_duration_with_a_good_and_a_refused_camera(rtsp_server, car_camera_clip: Path, tmp_path: Path) -> None:  # noqa: F811
    server = rtsp_server({"/cam": car_camera_clip})
    refused = f"rtsp://127.0.0.1:{free_port()}/gone"
    r, _ = streamer_cli("run", server.url("/cam"), refused, "--duration", "3", "--no-detect", "--out-dir",
                        str(tmp_path), "--no-progress", "--stall-timeout", "3")
    assert r.returncode == 0, r.stderr
    summaries = re.findall(r"\[([^\]]+)\] done: (\d+) frames in ([\d.]+) s", r.stderr)
    assert len(summaries) == 2, r.stderr
    by_name = {name: (int(frames), float(seconds)) for name, frames, seconds in summaries}
    good = next(name for name in by_name if name.endswith("_cam"))
    assert by_name[good][0] > 5 and all(seconds < 3 + GRACE for _, seconds in by_name.values()), by_name
    assert re.search(r"/gone: reconnecting \(attempt 1\): connection refused", r.stderr)


def test_duration_ends_a_stalled_camera(rtsp_server, car_camera_clip: Path, tmp_path: Path) -> None:  # noqa: F811
    """A stalled read blocks in FFmpeg for up to about twice the stall timeout; --duration does not wait for it."""
    server = rtsp_server({"/cam": car_camera_clip})
    runner = Runner(RunSettings(source=server.url("/cam"), duration=3.0, stall_timeout=8.0, detect=False,
                                out_dir=tmp_path, name="cam", progress=False, quiet=True))
    done: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: done.update(summary=runner.run()), daemon=True)
    t0 = time.monotonic()
    thread.start()
    try:
        while runner.pipeline.stats().frames_out < 3 and time.monotonic() - t0 < 20:
            time.sleep(0.05)
        server.stall()
        thread.join(3 + GRACE + 2.0)  # + the pipeline's grace for a source blocked in a read
    finally:
        runner.stop()
        thread.join(15)
    assert "summary" in done and done["summary"].frames >= 3
    assert done["summary"].elapsed < 3 + GRACE + 1.0


def test_duration_with_only_a_refused_camera_in_process(tmp_path: Path) -> None:
    """The same limit through the Python API, with two refused cameras: each ends on its own."""
    cams = [RunSettings(source=f"rtsp://127.0.0.1:{free_port()}/{n}", name=n, duration=1.5, detect=False,
                        out_dir=tmp_path, progress=False, quiet=True) for n in ("a", "b")]
    t0 = time.monotonic()
    results = MultiRunner(cams).run()
    assert time.monotonic() - t0 < 1.5 + GRACE
    assert [r.error for r in results] == [None, None]
    assert all(r.summary is not None and r.summary.frames == 0 for r in results)
