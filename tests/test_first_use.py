"""Issue 7: what a stranger meets first on the command line — config errors that point at
the line at fault with "did you mean", hostile configs refused fast, signals in every phase,
quiet runs, and terminal output without noise or ``None``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import av
import pytest

from streamer.cli import _live_postfix, _status
from streamer.config import MAX_CONFIG_BYTES, load_config
from streamer.errors import ConfigError, did_you_mean
from streamer.runner import Runner

CLI = [sys.executable, "-m", "streamer.cli"]


def streamer(*args: str, cwd: Path, timeout: float = 50) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, cwd=cwd, timeout=timeout)


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


# -- config errors ---------------------------------------------------------------------------

def test_did_you_mean() -> None:
    assert did_you_mean("confidence", ["conf", "iou"]) == " (did you mean 'conf'?)"
    assert did_you_mean("Persn", ["person", "bicycle"]) == " (did you mean 'person'?)"
    assert did_you_mean("xyz", ["conf", "iou"]) == ""


def test_unknown_key_suggests_the_right_one(tmp_path: Path) -> None:
    cfg = write(tmp_path / "run.yaml", "source: x.mp4\nconfidence: 0.4\n")
    with pytest.raises(ConfigError, match=r"run.yaml:2: confidence: unknown key \(did you mean 'conf'\?\)"):
        load_config(cfg)


def test_kernel_step_error_points_at_the_step_line(tmp_path: Path) -> None:
    cfg = write(tmp_path / "run.yaml", "source: x.mp4\nkernels:\n  - white_balance: grayworld\n"
                                       "  - gamma: 0.8\n  - denose: {method: gaussian}\n")
    with pytest.raises(ConfigError) as info:
        load_config(cfg)
    assert str(info.value).startswith(f"{cfg}:5: kernels: unknown kernel step 'denose' (did you mean 'denoise'?)")
    bad_option = write(tmp_path / "opt.yaml", "kernels:\n  - gamma: 0.8\n  - denoise: {method: gaussian, ksize: 4}\n")
    with pytest.raises(ConfigError, match=rf"{bad_option.name}:3: kernels: kernel step 'denoise' \(#2\): ksize"):
        load_config(bad_option)


def test_unknown_class_names_file_line_and_suggestion(tmp_path: Path, bikes_clip: Path) -> None:
    cfg = write(tmp_path / "run.yaml", f"source: {bikes_clip}\nout_dir: {tmp_path}\nclasses: [person, bicycel]\n")
    with pytest.raises(ConfigError) as info:
        Runner(load_config(cfg))
    assert str(info.value).startswith(f"{cfg}:3: classes: unknown class 'bicycel' (did you mean 'bicycle'?); "
                                      "valid names: person, bicycle, car,")
    cams = write(tmp_path / "cams.yaml", f"out_dir: {tmp_path}\ncameras:\n  a:\n    source: {bikes_clip}\n"
                                         "    classes: [persn]\n")
    with pytest.raises(ConfigError, match=rf"cams.yaml:5: classes: unknown class 'persn' \(did you mean 'person'\?\)"):
        Runner(load_config(cams).per_camera()[0])


ALIAS_BOMB = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{b}: &{b} [{', '.join([f'*{a}'] * 9)}]\n" for a, b in zip("abcdefgh", "bcdefghi"))


def test_alias_bomb_is_refused(tmp_path: Path) -> None:
    cfg = write(tmp_path / "bomb.yaml", ALIAS_BOMB)
    assert cfg.stat().st_size < 500  # nine levels of 9: 387 million values once expanded
    with pytest.raises(ConfigError, match=r"bomb.yaml:\d+: YAML aliases expand to more than 100000 values"):
        load_config(cfg)


def test_recursive_alias_and_huge_config_are_refused(tmp_path: Path) -> None:
    loop = write(tmp_path / "loop.yaml", "a: &a [1, *a]\n")
    with pytest.raises(ConfigError, match=r"loop.yaml:1: a YAML alias refers to itself"):
        load_config(loop)
    big = write(tmp_path / "big.yaml", "conf: 0.4\n" + "#" * MAX_CONFIG_BYTES + "\n")
    with pytest.raises(ConfigError, match=r"big.yaml: \d+ bytes is too big for a config file"):
        load_config(big)


def test_cli_config_errors_are_one_line_with_exit_1(tmp_path: Path) -> None:
    write(tmp_path / "bomb.yaml", ALIAS_BOMB)
    done = streamer("run", "--config", "bomb.yaml", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.startswith("streamer: error: bomb.yaml:") and done.stderr.count("\n") == 1


# -- signals -----------------------------------------------------------------------------------

def _wait_for_handlers(pid: int, timeout: float = 20.0) -> None:
    """Wait until the process catches SIGTERM (Python itself only catches SIGINT at start)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = Path(f"/proc/{pid}/status").read_text()
        caught = int(next(line.split()[1] for line in status.splitlines() if line.startswith("SigCgt:")), 16)
        if caught & (1 << (signal.SIGTERM - 1)):
            return
        time.sleep(0.005)
    raise AssertionError("the CLI never installed its signal handlers")


def _start(args: list[str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([*CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_during_start_up_exits_130(tmp_path: Path, bikes_clip: Path, sig: int) -> None:
    """A signal while the model loads and kernels warm up ends the run at once with 130."""
    proc = _start(["run", str(bikes_clip), "--out-dir", str(tmp_path), "--no-progress"], tmp_path)
    _wait_for_handlers(proc.pid)  # the CLI's own, installed before anything slow
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "Aborted!" not in err
    assert "stopped before processing began" in err or "finishing the frames in flight" in err


def test_second_signal_stops_at_once_and_outputs_stay_valid(tmp_path: Path, bikes_clip: Path) -> None:
    out = tmp_path / "b.mp4"
    proc = _start(["run", str(bikes_clip), "--out", str(out), "--no-progress"], tmp_path)
    deadline = time.monotonic() + 40
    # Frames are flowing once an output (under its final or a temporary name) has bytes.
    while not any(f.stat().st_size for f in tmp_path.iterdir() if f.is_file()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    with av.open(str(out)) as c:
        assert sum(1 for _ in c.decode(video=0)) >= 1


# -- terminal output -----------------------------------------------------------------------

def test_quiet_prints_nothing_but_errors(tmp_path: Path, bikes_clip: Path) -> None:
    done = streamer("run", str(bikes_clip), "--out-dir", str(tmp_path), "--max-frames", "5", "--quiet", cwd=tmp_path)
    assert done.returncode == 0 and done.stderr == "" and done.stdout == ""
    bad = streamer("run", str(tmp_path / "missing.mp4"), "--quiet", cwd=tmp_path)
    assert bad.returncode == 1 and bad.stderr.startswith("streamer: error: ")


def test_provider_reason_is_said_once(tmp_path: Path, bikes_clip: Path) -> None:
    done = streamer("run", str(bikes_clip), "--out-dir", str(tmp_path), "--max-frames", "3", "--no-progress",
                    "--device", "cpu", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    runner_line = done.stderr.splitlines()[0]
    reason = runner_line.split("device: CPUExecutionProvider (", 1)[1].rstrip(")")
    assert done.stderr.count(reason) == 1
    assert "None" not in done.stderr


def test_live_postfix_never_says_none() -> None:
    figures = {"state": "connecting", "fps_in": 0.0, "dropped": 0, "age_ms_p50": None, "age_ms_p95": None}
    text = _live_postfix(figures)
    assert "None" not in text and "age p50 - p95 - ms" in text
    figures.update(state="streaming", age_ms_p50=41.26, age_ms_p95=80.0)
    assert "age p50 41 p95 80 ms" in _live_postfix(figures)


def test_status_spinner_shows_only_when_slow(capfd: pytest.CaptureFixture[str]) -> None:
    with _status("compiling image kernels (first run only)", after=0.0) as status:
        time.sleep(0.3)
        status["done"] = "image kernels ready in 0.3 s"
    err = capfd.readouterr().err
    assert "compiling image kernels (first run only)" in err and err.rstrip().endswith("image kernels ready in 0.3 s")
    with _status("compiling image kernels (first run only)", after=5.0) as status:
        status["done"] = "never shown"
    assert capfd.readouterr().err == ""


def test_status_spinner_waits_for_its_event(capfd: pytest.CaptureFixture[str]) -> None:
    """A slow block whose event never comes (a cache load on a busy machine) stays silent; once
    the event is set (Numba starts compiling) the text shows."""
    gate = threading.Event()
    with _status("compiling image kernels (first run only)", after=0.0, when=gate) as status:
        time.sleep(0.2)
        status["done"] = "never shown"
    assert capfd.readouterr().err == ""
    with _status("compiling image kernels (first run only)", after=0.0, when=gate) as status:
        gate.set()
        time.sleep(0.2)
        status["done"] = "ready"
    err = capfd.readouterr().err
    assert "compiling image kernels (first run only)" in err and err.rstrip().endswith("ready")


def test_first_run_says_it_is_compiling(tmp_path: Path, bikes_clip: Path) -> None:
    """With an empty Numba cache the start-up is slow, and the user is told why and for how long.

    Only the preprocessing kernel (the detector's) compiles here (about 4 s): enough to pass the
    spinner's delay. (A run without a detector or kernels loads no Numba at all.)
    """
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba-cache")}
    done = subprocess.run([*CLI, "run", str(bikes_clip), "--out-dir", str(tmp_path), "--max-frames", "2",
                           "--no-progress", "--no-video"],
                          capture_output=True, text=True, cwd=tmp_path, env=env, timeout=55)
    assert done.returncode == 0, done.stderr
    assert "compiling image kernels (first run only)" in done.stderr
    assert "image kernels ready in" in done.stderr


def test_a_run_without_detector_or_kernels_loads_no_numba(tmp_path: Path, bikes_clip: Path) -> None:
    """Numba (and the SciPy it imports for its BLAS check) cost ~0.5 s of CPU to load and warm:
    a run that needs no kernel (no detector, no kernel chain, no zones) does not load it; one
    with a kernel chain does."""
    code = ("import sys; from streamer import Runner, RunSettings; "
            "Runner(RunSettings(source=sys.argv[1], detect=False, progress=False, max_frames=3, "
            "kernels=sys.argv[2], out_dir=sys.argv[3])).run(); print('numba' in sys.modules)")
    loaded = [subprocess.run([sys.executable, "-c", code, str(bikes_clip), kernels, str(tmp_path / kernels)],
                             capture_output=True, text=True, timeout=55).stdout.strip()
              for kernels in ("", "gamma=0.8")]
    assert loaded == ["False", "True"]
