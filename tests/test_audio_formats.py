"""Audio that comes in ADTS framing (AAC in MPEG-TS, from a file or a pipe) is copied into the
MP4 or Matroska output unchanged: the same frames, the same times (issue 7: it failed with
"operation not permitted" on the first audio packet). Audio the output cannot hold is left out
with a warning."""

from __future__ import annotations

import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from streamer.outputs.video import adts_config


@pytest.fixture(scope="module")
def ts_with_aac(bikes_clip: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """bikes.mp4's video remuxed to MPEG-TS with 4 s of AAC (a chirp) encoded by PyAV."""
    path = tmp_path_factory.mktemp("ts") / "bikes_aac.ts"
    with av.open(str(bikes_clip)) as src, av.open(str(path), "w", format="mpegts") as dst:
        video = dst.add_stream_from_template(src.streams.video[0])
        audio = dst.add_stream("aac", rate=48000, layout="stereo")
        t = np.arange(4 * 48000) / 48000
        samples = (0.2 * np.sin(2 * np.pi * (200 + 300 * t) * t)).astype(np.float32)
        for start in range(0, len(samples), 1024):
            chunk = samples[start:start + 1024]
            frame = av.AudioFrame.from_ndarray(np.stack([chunk, chunk]).reshape(1, -1), format="flt", layout="stereo")
            frame.sample_rate, frame.pts, frame.time_base = 48000, start, Fraction(1, 48000)
            for packet in audio.encode(frame):
                dst.mux(packet)
        for packet in audio.encode():
            dst.mux(packet)
        for packet in src.demux(video=0):
            if packet.dts is not None:
                packet.stream = video
                dst.mux(packet)
    return path


def audio_payloads(path: Path) -> list[tuple[float, bytes]]:
    """(time in seconds, raw AAC frame) of every audio packet; ADTS headers removed."""
    out = []
    with av.open(str(path)) as c:
        stream = c.streams.audio[0]
        for packet in c.demux(stream):
            if packet.size and packet.pts is not None:
                data = bytes(packet)
                if data[0] == 0xFF and data[1] & 0xF6 == 0xF0:
                    data = data[7 if data[1] & 1 else 9:]
                out.append((round(float(packet.pts * packet.time_base), 3), data))
    return out


def test_adts_config_matches_ffmpeg(ts_with_aac: Path) -> None:
    with av.open(str(ts_with_aac)) as c:
        first = next(p for p in c.demux(audio=0) if p.size)
        header = bytes(first)
    assert adts_config(header) == bytes([0x11, 0x90])  # AAC LC, 48 kHz, stereo


@pytest.mark.parametrize(("how", "suffix"), [("file", ".mp4"), ("pipe", ".mp4"), ("file", ".mkv")])
def test_aac_from_mpegts_is_copied(ts_with_aac: Path, tmp_path: Path, how: str, suffix: str) -> None:
    """Into Matroska too: it failed at the second frame ("unable to determine samplerate")."""
    out = tmp_path / f"out{suffix}"
    args = [sys.executable, "-m", "streamer.cli", "run", str(ts_with_aac) if how == "file" else "-",
            "--out", str(out), "--no-detect", "--no-progress"]
    with open(ts_with_aac, "rb") as stdin:
        done = subprocess.run(args, stdin=stdin if how == "pipe" else subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=50)
    assert done.returncode == 0, done.stderr
    source, copied = audio_payloads(ts_with_aac), audio_payloads(out)
    assert len(copied) == len(source) > 150
    assert [d for _, d in copied] == [d for _, d in source]
    offset = copied[0][0] - source[0][0]  # MPEG-TS starts its clock at 1.4 s; the MP4 at 0
    assert [round(t - offset, 3) for t, _ in copied] == pytest.approx([t for t, _ in source], abs=0.002)
    with av.open(str(out)) as c:
        assert sum(1 for _ in c.decode(audio=0)) == len(source)


@pytest.mark.parametrize("frames", [1, 3])
def test_source_done_before_the_output_opens(ts_with_aac: Path, tmp_path: Path, frames: int) -> None:
    """With a few frames the source closes its file before the output opens on the first
    frame: the audio template must outlive it (this crashed the process with SIGSEGV)."""
    out = tmp_path / "out.mp4"
    done = subprocess.run([sys.executable, "-m", "streamer.cli", "run", str(ts_with_aac), "--out", str(out),
                           "--no-detect", "--no-progress", "--max-frames", str(frames)],
                          capture_output=True, text=True, timeout=50)
    assert done.returncode == 0, done.stderr
    with av.open(str(out)) as c:
        assert [s.type for s in c.streams] == ["video", "audio"]
        assert sum(1 for _ in c.decode(video=0)) == frames


def test_g711_audio_is_left_out_with_one_warning(bikes_clip: Path, tmp_path: Path) -> None:
    """A camera's recording with G.711 (mu-law) audio: MP4 cannot hold it, so the annotated MP4
    is video only, every frame there, and stderr says why in one line (it was a traceback)."""
    src, out = tmp_path / "cam.mov", tmp_path / "cam.annotated.mp4"
    with av.open(str(bikes_clip)) as clip, av.open(str(src), "w") as dst:
        video = dst.add_stream_from_template(clip.streams.video[0])
        audio = dst.add_stream("pcm_mulaw", rate=8000, layout="mono")
        for start in range(0, 8000 * 4, 400):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 400), np.int16), format="s16", layout="mono")
            frame.sample_rate, frame.pts, frame.time_base = 8000, start, Fraction(1, 8000)
            for packet in audio.encode(frame):
                dst.mux(packet)
        for packet in clip.demux(video=0):
            if packet.dts is not None:
                packet.stream = video
                dst.mux(packet)
        frames = clip.streams.video[0].frames
    done = subprocess.run([sys.executable, "-m", "streamer.cli", "run", str(src), "--out", str(out), "--no-detect",
                           "--no-progress"], capture_output=True, text=True, timeout=50)
    assert done.returncode == 0, done.stderr
    assert [line for line in done.stderr.splitlines() if "audio" in line.replace(str(tmp_path), "")] == [
        f"{out}: writing the video without the source's audio ('mp4' format does not support 'pcm_mulaw' codec)"]
    assert "Traceback" not in done.stderr
    with av.open(str(out)) as c:
        assert [s.type for s in c.streams] == ["video"]
        assert sum(1 for _ in c.decode(video=0)) == frames > 0
