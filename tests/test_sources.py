"""File sources on real clips (tests/media.py says where each comes from), and bad input with clear errors."""

from __future__ import annotations

from pathlib import Path

import av
import pytest

from streamer.errors import SourceError
from streamer.sources import FileSource, probe

from media import Clip, make_bad_media, read_photo, skimage_photo


def test_probe_describes_streams(audio_clip: Clip) -> None:
    info = probe(audio_clip.path)
    v, a = info.video, info.audio
    assert v is not None and a is not None
    assert (v.codec, v.width, v.height, v.frames) == ("h264", audio_clip.width, audio_clip.height, audio_clip.frames)
    assert float(v.fps) == pytest.approx(audio_clip.fps)
    assert a.codec == "aac" and a.sample_rate == audio_clip.audio_rate
    assert info.duration == pytest.approx(audio_clip.duration, abs=0.05)
    text = info.format()
    assert audio_clip.size in text and "aac" in text and f"{audio_clip.frames} frames" in text


def test_frames_match_pyav_decode(bikes_clip: Path) -> None:
    with av.open(str(bikes_clip)) as c:
        expected = [(f.pts, f.time) for f in c.decode(video=0)]
    src = FileSource(bikes_clip)
    src.open()
    got = [(f.index, f.pts, f.time, f.image.shape) for f in src.frames()]
    assert [g[0] for g in got] == list(range(len(expected)))
    assert [(g[1], g[2]) for g in got] == [(p, pytest.approx(t)) for p, t in expected]
    assert got[0][3] == (272, 640, 3)


def test_audio_packets_travel_with_frames(audio_clip: Clip) -> None:
    src = FileSource(audio_clip.path)
    src.open()
    frames = list(src.frames())
    travelled = [p for f in frames for p in f.passthrough]
    with av.open(str(audio_clip.path)) as c:
        expected = [p.pts for p in c.demux(audio=0) if p.size]
    assert [p.pts for p in travelled] == expected
    # Audio that outlasts the video (bikes_aac: 1 s of it) still travels, with the last frames.
    trailing = [p for p in travelled if p.pts * p.time_base > frames[-1].time]
    assert trailing or audio_clip.duration < audio_clip.frames / audio_clip.fps + 0.1


def test_max_frames_and_duration(audio_clip: Clip) -> None:
    src = FileSource(audio_clip.path, max_frames=7)
    src.open()
    assert len(list(src.frames())) == 7
    src = FileSource(audio_clip.path, duration=2.0)
    src.open()
    frames = list(src.frames())
    assert len(frames) == round(2.0 * audio_clip.fps)  # 25 at 12.5 fps, 50 at 25 fps
    assert frames[-1].time < 2.0


def test_generator_close_releases_container(bikes_clip: Path) -> None:
    src = FileSource(bikes_clip)
    src.open()
    gen = src.frames()
    next(gen)
    gen.close()
    assert src._container is None


@pytest.fixture()
def bad_inputs(tmp_path: Path, bikes_clip: Path) -> dict[str, Path]:
    return make_bad_media(tmp_path, bikes_clip)


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


def test_photo_opens_as_a_one_frame_video() -> None:
    photo = skimage_photo("chelsea.png")
    # FFmpeg opens a PNG as a one-frame "video": that is fine and must decode.
    src = FileSource(photo)
    src.open()
    frames = list(src.frames())
    assert len(frames) == 1
    assert (frames[0].image == read_photo(photo)).all()
