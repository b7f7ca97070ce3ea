"""``--show``: a window per camera under Xvfb, closed on Ctrl-C; without a display, one line.

The CLI runs in a subprocess (Ctrl-C is a real SIGINT); Xvfb is started by a fixture on a free
display number and always stopped.
"""

from __future__ import annotations

import contextlib
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


@contextlib.contextmanager
def _showing(display: str, clip: Path, out: Path) -> Iterator[subprocess.Popen[str]]:
    """``streamer run CLIP --show --realtime`` on ``display``; killed at the end if still running."""
    proc = subprocess.Popen([*STREAMER, "run", str(clip), "--show", "--realtime", "--no-detect",
                             "--out-dir", str(out), "--no-progress"],
                            env={**os.environ, "DISPLAY": display}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def _ctrl_c(proc: subprocess.Popen[str]) -> str:
    """Send SIGINT, wait for the end; what the run printed on stderr."""
    proc.send_signal(signal.SIGINT)
    return proc.communicate(timeout=30)[1]


def _wait_for(proc: subprocess.Popen[str], cond: Callable[[], object], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline or proc.poll() is not None:
            pytest.fail(f"{what}: not within {timeout:g} s (exit {proc.poll()}):\n{_ctrl_c(proc)}")
        time.sleep(0.2)


@pytest.mark.timeout(60)
def test_show_opens_a_window_and_closes_it_on_ctrl_c(xvfb: str, bikes_clip: Path, tmp_path: Path) -> None:
    with _showing(xvfb, bikes_clip, tmp_path) as proc:
        _wait_for(proc, lambda: _windows(xvfb, "streamer: bikes"), "a window")
        err = _ctrl_c(proc)
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

    with _showing(xvfb, bikes_clip, tmp_path) as proc:
        def window_process() -> list[psutil.Process]:
            return [p for p in psutil.Process(proc.pid).children()
                    if "streamer.outputs._window_gui" in " ".join(p.cmdline())]

        _wait_for(proc, lambda: _windows(xvfb, "streamer: bikes"), "the window")
        (first,) = window_process()
        first.kill()
        first.wait(5)
        _wait_for(proc, lambda: [p for p in window_process() if p.pid != first.pid and p.is_running()]
                  and _windows(xvfb, "streamer: bikes"), "the window again", timeout=20)
        err = _ctrl_c(proc)
    assert proc.returncode == 130, err
    assert "--show: the window process ended (exit status -9); starting it again (1 of 3)" in err, err
    assert "output window failed" not in err and "Traceback" not in err
    assert not _windows(xvfb, "streamer: bikes")
