"""File sources on real clips, and bad input with clear errors."""

from __future__ import annotations

from pathlib import Path

import av
import pytest

from streamer.errors import SourceError
from streamer.sources import FileSource, probe

from conftest import make_bad_media, shared_file


def test_probe_describes_streams(car_clip: Path) -> None:
    info = probe(car_clip)
    v, a = info.video, info.audio
    assert v is not None and a is not None
    assert (v.codec, v.width, v.height, v.frames) == ("h264", 768, 432, 377)
    assert float(v.fps) == pytest.approx(12.5)
    assert a.codec == "aac" and a.sample_rate == 48000
    assert info.duration == pytest.approx(30.16, abs=0.05)
    text = info.format()
    assert "768x432" in text and "aac" in text and "377 frames" in text


def test_frames_match_pyav_decode(bikes_clip: Path) -> None:
    with av.open(str(bikes_clip)) as c:
        expected = [(f.pts, f.time) for f in c.decode(video=0)]
    src = FileSource(bikes_clip)
    src.open()
    got = [(f.index, f.pts, f.time, f.image.shape) for f in src.frames()]
    assert [g[0] for g in got] == list(range(len(expected)))
    assert [(g[1], g[2]) for g in got] == [(p, pytest.approx(t)) for p, t in expected]
    assert got[0][3] == (272, 640, 3)


def test_audio_packets_travel_with_frames(car_clip: Path) -> None:
    src = FileSource(car_clip)
    src.open()
    packets = sum(len(f.passthrough) for f in src.frames())
    with av.open(str(car_clip)) as c:
        expected = sum(1 for p in c.demux(audio=0) if p.size)
    assert packets == expected


def test_max_frames_and_duration(car_clip: Path) -> None:
    src = FileSource(car_clip, max_frames=7)
    src.open()
    assert len(list(src.frames())) == 7
    src = FileSource(car_clip, duration=2.0)
    src.open()
    frames = list(src.frames())
    assert len(frames) == 25  # 12.5 fps
    assert frames[-1].time < 2.0


def test_generator_close_releases_container(car_clip: Path) -> None:
    src = FileSource(car_clip)
    src.open()
    gen = src.frames()
    next(gen)
    gen.close()
    assert src._container is None


@pytest.fixture()
def bad_inputs(tmp_path: Path, car_clip: Path) -> dict[str, Path]:
    return make_bad_media(tmp_path, car_clip)


@pytest.mark.parametrize(
    ("case", "phrase"),
    [
        ("missing", "no such file"),
        ("directory", "is a directory"),
        ("empty", "file is empty"),
        ("text", "not a media file"),
        ("truncated", "moov atom not found"),
    ],
)
def test_bad_input_errors_name_the_file(bad_inputs: dict[str, Path], case: str, phrase: str) -> None:
    path = bad_inputs[case]
    with pytest.raises(SourceError) as info:
        FileSource(path).open()
    message = str(info.value)
    assert str(path) in message and phrase in message
    assert "\n" not in message


def test_photo_is_not_a_video() -> None:
    photo = shared_file("media/photos/imageio_chelsea.png")
    # FFmpeg opens a PNG as a one-frame "video": that is fine and must decode.
    src = FileSource(photo)
    src.open()
    assert len(list(src.frames())) == 1
