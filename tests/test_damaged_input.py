"""Damaged recordings (issue 7): corruption mid-file is counted and skipped, a file cut short
gives every frame that can still be decoded, and the run says what happened."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import av
import pytest

from streamer.sources import FileSource


def reference_count(path: Path) -> int:
    """Frames FFmpeg can decode, single-threaded, skipping undecodable packets and draining."""
    count = 0
    with av.open(str(path)) as c:
        video = c.streams.video[0]
        for packet in c.demux(video):
            try:
                count += len(video.decode(packet))
            except av.error.FFmpegError:
                pass
    return count


@pytest.fixture(scope="module")
def damaged(bikes_clip: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("damaged")
    data = bytearray(bikes_clip.read_bytes())
    rng = random.Random(1)
    for _ in range(len(data) // 200):  # 0.5% of the bytes, all in the middle third
        data[rng.randrange(len(data) // 3, 2 * len(data) // 3)] ^= 0xFF
    corrupt = folder / "corrupt.mp4"
    corrupt.write_bytes(data)
    # A faststart copy (index first) cut at half: the index lists 250 frames, half are there.
    faststart = folder / "faststart.mp4"
    with av.open(str(bikes_clip)) as src, av.open(str(faststart), "w", options={"movflags": "+faststart"}) as dst:
        stream = dst.add_stream_from_template(src.streams.video[0])
        for packet in src.demux(video=0):
            if packet.dts is not None:
                packet.stream = stream
                dst.mux(packet)
    whole = faststart.read_bytes()
    cut = folder / "cut.mp4"
    cut.write_bytes(whole[: len(whole) // 2])
    return {"corrupt": corrupt, "cut": cut}


def test_corruption_mid_file_is_skipped_not_fatal(damaged: dict[str, Path]) -> None:
    source = FileSource(damaged["corrupt"])
    source.open()
    frames = list(source.frames())
    assert source.decode_errors > 0
    assert len(frames) == reference_count(damaged["corrupt"]) > 200  # of 250
    assert [f.index for f in frames] == list(range(len(frames)))


def test_truncated_file_gives_every_decodable_frame(damaged: dict[str, Path]) -> None:
    source = FileSource(damaged["cut"])
    source.open()
    frames = list(source.frames())
    assert len(frames) == reference_count(damaged["cut"])
    assert source.ended_early is not None and "truncated" in source.ended_early


def test_cli_says_what_happened_and_finishes(damaged: dict[str, Path], tmp_path: Path) -> None:
    for name in ("corrupt", "cut"):
        done = subprocess.run([sys.executable, "-m", "streamer.cli", "run", str(damaged[name]), "--out-dir",
                               str(tmp_path), "--no-detect", "--no-progress"],
                              capture_output=True, text=True, timeout=50)
        assert done.returncode == 0, done.stderr
        assert "Traceback" not in done.stderr
        said = "could not be decoded and w" if name == "corrupt" else "input ended early (truncated?)"
        assert f"{damaged[name]}: " in done.stderr and said in done.stderr
        with av.open(str(tmp_path / f"{name}.annotated.mp4")) as c:
            assert sum(1 for _ in c.decode(video=0)) == reference_count(damaged[name])
