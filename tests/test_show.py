"""``--show``: a window per camera under Xvfb, closed on Ctrl-C; without a display, one line.

The CLI runs in a subprocess (Ctrl-C is a real SIGINT); Xvfb is started by a fixture on a free
display number and always stopped.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

STREAMER = [sys.executable, "-m", "streamer.cli"]


@pytest.fixture
def xvfb() -> Iterator[str]:
    """An Xvfb server on a free display number (Xvfb picks it: -displayfd); its DISPLAY."""
    if shutil.which("Xvfb") is None or shutil.which("xdotool") is None:
        pytest.skip("Xvfb and xdotool are not installed (apt-get install xvfb xdotool)")
    read, write = os.pipe()
    proc = subprocess.Popen(["Xvfb", "-displayfd", str(write), "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
                            pass_fds=(write,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write)
    try:
        with os.fdopen(read) as f:
            number = f.readline().strip()
        assert number.isdigit(), "Xvfb did not start"
        yield f":{number}"
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _windows(display: str, name: str) -> list[str]:
    out = subprocess.run(["xdotool", "search", "--name", name], check=False, capture_output=True, text=True, timeout=5,
                         env={**os.environ, "DISPLAY": display})
    return out.stdout.split()


@pytest.mark.timeout(60)
def test_show_opens_a_window_and_closes_it_on_ctrl_c(xvfb: str, bikes_clip: Path, tmp_path: Path) -> None:
    env = {**os.environ, "DISPLAY": xvfb}
    proc = subprocess.Popen([*STREAMER, "run", str(bikes_clip), "--show", "--realtime", "--no-detect",
                             "--out-dir", str(tmp_path), "--no-progress"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not _windows(xvfb, "streamer: bikes") and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
        if not _windows(xvfb, "streamer: bikes"):
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=30)
            pytest.fail(f"no window appeared (exit {proc.returncode}):\n{err}")
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "interrupted:" in err
    assert not _windows(xvfb, "streamer: bikes")


def test_show_without_display_is_a_one_line_error(bikes_clip: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    out = subprocess.run([*STREAMER, "run", str(bikes_clip), "--show", "--out-dir", str(tmp_path)],
                         check=False, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    assert out.stderr.strip().splitlines() == [
        "streamer: error: --show: no display ($DISPLAY is not set; use --serve to watch in a browser)"]
    assert not list(tmp_path.iterdir())  # nothing was written


@pytest.mark.timeout(60)
def test_show_starts_the_window_process_again_when_it_dies(xvfb: str, bikes_clip: Path, tmp_path: Path) -> None:
    """The window process killed mid-run (as Qt's abort when it cannot reach the X server ends
    it): the window comes back, the run goes on and still ends with 130 on Ctrl-C."""
    import psutil

    env = {**os.environ, "DISPLAY": xvfb}
    proc = subprocess.Popen([*STREAMER, "run", str(bikes_clip), "--show", "--realtime", "--no-detect",
                             "--out-dir", str(tmp_path), "--no-progress"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def window_process() -> list[psutil.Process]:
        return [p for p in psutil.Process(proc.pid).children() if "streamer.outputs._window_gui" in " ".join(p.cmdline())]

    def wait_for(cond: Callable[[], object], what: str) -> None:
        deadline = time.monotonic() + 20
        while not cond():
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.send_signal(signal.SIGINT)
                pytest.fail(f"{what}: not within 20 s (exit {proc.poll()}):\n{proc.communicate(timeout=30)[1]}")
            time.sleep(0.1)

    try:
        wait_for(lambda: _windows(xvfb, "streamer: bikes"), "the window")
        (first,) = window_process()
        first.kill()
        first.wait(5)
        wait_for(lambda: [p for p in window_process() if p.pid != first.pid and p.is_running()]
                 and _windows(xvfb, "streamer: bikes"), "the window again")
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, err
    assert "--show: the window process ended (exit status -9); starting it again (1 of 3)" in err, err
    assert "output window failed" not in err and "Traceback" not in err
    assert not _windows(xvfb, "streamer: bikes")
