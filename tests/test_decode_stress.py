"""Issue 12: decoding must never hang, however it ends.

The deadlock (see ``streamer/sources/avlog.py``): PyAV frees a codec context with the GIL
held, which joins FFmpeg's decoder threads, while one of them waits for the GIL inside
PyAV's Python log callback. ``decode_stress.py`` runs open -> decode -> close cycles in a
subprocess with a hard limit, so a hang fails the test with every thread's stack instead of
stalling the suite. Before the fix, 300 file cycles on ``intel_car-detection.mp4`` hung in 2
of 3 runs; after it, none did.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import av.logging
import pytest

from streamer.errors import SourceError
from streamer.sources import FileSource
from streamer.sources.live import LiveSource

from rtsp import camera_clip, rtsp_server  # noqa: F401 - fixture

STRESS = Path(__file__).resolve().with_name("decode_stress.py")


def run_stress(kind: str, target: str, cycles: int, limit_s: float) -> None:
    try:
        done = subprocess.run([sys.executable, str(STRESS), kind, target, str(cycles)],
                              capture_output=True, text=True, timeout=limit_s)
    except subprocess.TimeoutExpired as exc:
        out = (exc.stdout or b"").decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        last = out.strip().splitlines()[-1:] or ["no cycle finished"]
        pytest.fail(f"{kind} decode cycles did not finish within {limit_s:.0f} s (last: {last[0]})")
    assert done.returncode == 0, f"stress run failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-6000:]}"
    assert done.stdout.strip().splitlines()[-1] == f"done {cycles}"


@pytest.fixture()
def pyav_logging_on():  # type: ignore[no-untyped-def]
    """Switch PyAV's Python logging on, as other code in a process may; restore it after."""
    before = av.logging.get_level()
    av.logging.set_level(av.logging.ERROR)
    yield
    av.logging.set_level(before)


def test_sources_switch_pyav_logging_off(bikes_clip: Path, pyav_logging_on: None,
                                         caplog: pytest.LogCaptureFixture) -> None:
    """The cause itself: no source may decode with PyAV's GIL-taking log callback installed."""
    source = FileSource(bikes_clip)
    source.open()
    assert av.logging.get_level() is None
    assert next(source.frames()).index == 0
    av.logging.set_level(av.logging.ERROR)
    with pytest.raises(SourceError):
        LiveSource("rtsp://127.0.0.1:1/nothing", open_timeout=1, retries=0).probe()
    assert av.logging.get_level() is None


def test_decoder_is_released_on_the_decoding_thread(bikes_clip: Path) -> None:
    """Closing (or ending the generator) lets go of the decoder at once, not at garbage collection."""
    source = FileSource(bikes_clip)
    source.open()
    frames = source.frames()
    next(frames)
    frames.close()
    assert source.video_stream is None and source._container is None
    assert source.frame_rate == 25


def test_file_cycles_never_hang(bikes_clip: Path) -> None:
    run_stress("file", str(bikes_clip), cycles=30, limit_s=50)


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_file_cycles_never_hang_soak(bikes_clip: Path) -> None:
    run_stress("file", str(bikes_clip), cycles=450, limit_s=360)


@pytest.fixture(scope="module")
def stress_camera_clip(bikes_clip: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return camera_clip(bikes_clip, tmp_path_factory.mktemp("stress") / "bikes_camera.mp4", seconds=4.0)


def test_live_cycles_never_hang(rtsp_server, stress_camera_clip: Path) -> None:  # noqa: F811
    server = rtsp_server({"/cam": stress_camera_clip})
    run_stress("live", server.url("/cam"), cycles=6, limit_s=50)


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_live_cycles_never_hang_soak(rtsp_server, stress_camera_clip: Path) -> None:  # noqa: F811
    server = rtsp_server({"/cam": stress_camera_clip})
    run_stress("live", server.url("/cam"), cycles=60, limit_s=360)
