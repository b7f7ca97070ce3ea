"""The video sink's salvage of a failed write, its box scanner, and ADTS audio, in-process
(issue 11, third round: these ran only in CLI subprocesses, which mutmut cannot attribute).

Real frames, real PyAV writes to ``tmp_path``, a real write failure (``RLIMIT_FSIZE``: the
kernel refuses writes past it with EFBIG; CPython ignores SIGXFSZ), real AAC from FFmpeg's
encoder in ADTS framing.
"""

from __future__ import annotations

import contextlib
import logging
import resource
import struct
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from streamer.errors import SinkError
from streamer.outputs.video import (
    VideoFileSink,
    VideoOutput,
    _is_adts,
    _playable_end,
    adts_config,
    asc_from,
)

W, H = 96, 64


def noise(i: int) -> np.ndarray:
    """A frame that does not compress (every frame costs kilobytes on disk)."""
    return np.random.default_rng(i).integers(0, 256, (H, W, 3), np.uint8)


def box(kind: bytes, payload: bytes = b"", size: int | None = None) -> bytes:
    return struct.pack(">I4s", 8 + len(payload) if size is None else size, kind) + payload


def decoded(path: Path) -> int:
    """Frames of ``path``; every packet must decode (a cut box at the end would raise)."""
    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(video=0))


@pytest.fixture
def file_limit() -> Iterator[None]:
    """Writes past 60 kB fail with EFBIG in this process, for the test only."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (60_000, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))


@pytest.mark.parametrize(
    ("boxes", "end"),
    [
        # header, two frames, the second one cut: keep the first
        ([box(b"ftyp", b"isom"), box(b"moov", b"x" * 8), box(b"moof", b"m"), box(b"mdat", b"a" * 5),
          box(b"moof", b"m"), box(b"mdat", b"b" * 9)[:-3]], 12 + 16 + 9 + 13),
        # a frame whose mdat ends exactly at the end of the file, with no payload (8 bytes)
        ([box(b"moov"), box(b"mdat")], 16),
        # frames before the header do not count; nothing after it: nothing playable
        ([box(b"ftyp"), box(b"mdat", b"a"), box(b"moov")], 0),
        ([box(b"ftyp"), box(b"mdat", b"a"), box(b"moov"), box(b"free", b"zz")], 0),
        # a 64-bit size (size field 1, then 8 bytes): 16 + 4 bytes of payload
        ([box(b"moov"), struct.pack(">I4sQ", 1, b"mdat", 20) + b"abcd"], 28),
        # a 64-bit size past the end of the file: cut
        ([box(b"moov"), box(b"mdat", b"a"), struct.pack(">I4sQ", 1, b"mdat", 99) + b"abcd"], 17),
        # size 0: the box runs to the end of the file
        ([box(b"moov"), box(b"mdat", b"a"), box(b"mdat", b"abc", size=0)], 17 + 11),
        # a size under 8 is damage: stop there
        ([box(b"moov"), box(b"mdat", b"a"), box(b"mdat", b"", size=7), box(b"mdat", b"b")], 17),
        # a cut header (fewer than 8 bytes left) ends the scan
        ([box(b"moov"), box(b"mdat", b"a"), b"\0\0\0"], 17),
        ([], 0),
    ],
)
def test_playable_end_keeps_whole_fragments_after_the_header(tmp_path: Path, boxes: list[bytes], end: int) -> None:
    """Kills ``_playable_end`` mutants: the loop bound (``<`` for ``<=``), the 64-bit and
    size-0 boxes, the ``length < 8`` and ``pos + length > size`` checks, the ``moov`` rule
    and the mdat rule (an ``or``/``and`` swap, a wrong kind)."""
    path = tmp_path / "a.mp4"
    path.write_bytes(b"".join(boxes))
    assert _playable_end(path) == end


def test_playable_end_of_a_real_fragmented_file_cut_anywhere(tmp_path: Path) -> None:
    """A real fragmented part file cut mid-way keeps whole frames only, and they all decode;
    kills ``_playable_end`` mutants the synthetic boxes miss (seek/read offsets)."""
    out = tmp_path / "v.mp4"
    sink = VideoFileSink(out, width=W, height=H, time_base=Fraction(1, 25), preset="ultrafast", tune="zerolatency")
    for i in range(6):
        sink.write(noise(i), i)
    data = sink._part.read_bytes()
    sink.close()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data)
    assert _playable_end(cut) == len(data)  # every fragment complete: keep everything
    whole = decoded(cut)
    cut.write_bytes(data[: len(data) - 100])
    end = _playable_end(cut)
    assert 0 < end < len(data) - 100
    cut.write_bytes(data[:end])
    assert decoded(cut) == whole - 1  # the cut frame only


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_a_failed_write_keeps_the_frames_on_disk(tmp_path: Path, file_limit: None, suffix: str) -> None:
    """EFBIG mid-run: the error names the file and the reason, later writes raise the same
    error, close raises nothing more and leaves a file at the final name whose every frame
    decodes (an MP4 cut after its last whole fragment). Kills ``_failed`` (message, errno
    test, the first error kept), ``_salvage`` (cut, rename, the ``_mp4`` branch) and
    ``close``'s ``earlier`` mutants."""
    out = tmp_path / f"v{suffix}"
    sink = VideoFileSink(out, width=W, height=H, time_base=Fraction(1, 25), preset="ultrafast", tune="zerolatency")
    with pytest.raises(SinkError) as caught:
        for i in range(200):
            sink.write(noise(i), i)
    assert str(caught.value) == f"{out}: file too large"
    assert 0 < sink.frames_written < 200
    with pytest.raises(SinkError) as again:
        sink.write(noise(0), 999)
    assert again.value is caught.value
    sink.close()  # the error was raised already: nothing more
    sink.close()
    assert sink.written == out and out.is_file()
    assert not list(tmp_path.glob("*.part*"))
    frames = decoded(out)
    assert 0 < frames <= sink.frames_written
    if suffix == ".mp4":
        assert _playable_end(out) == out.stat().st_size


def test_a_write_failing_before_any_frame_leaves_no_file(tmp_path: Path) -> None:
    """No frame reached the disk: no file at the final name, no part file, ``written`` None.
    Kills ``_salvage``'s ``end == 0`` branch mutants."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    out = tmp_path / "v.mp4"
    sink = VideoFileSink(out, width=W, height=H, time_base=Fraction(1, 25), preset="ultrafast", tune="zerolatency")
    resource.setrlimit(resource.RLIMIT_FSIZE, (sink._part.stat().st_size + 1, hard))
    try:
        with pytest.raises(SinkError, match="file too large"):
            for i in range(20):
                sink.write(noise(i), i)
        sink.close()
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    assert sink.written is None and not out.exists()
    assert list(tmp_path.iterdir()) == []


def adts_clip(path: Path, rate: int, layout: str, seconds: float) -> bytes:
    """An MPEG-TS file of AAC (FFmpeg's encoder) in ADTS framing; returns the encoder's
    AudioSpecificConfig (what an MP4 stores)."""
    channels = av.AudioLayout(layout).nb_channels
    with av.open(str(path), "w", format="mpegts") as dst:
        audio = dst.add_stream("aac", rate=rate, layout=layout)
        t = np.arange(int(seconds * rate)) / rate
        samples = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
        for start in range(0, len(samples), 1024):
            chunk = samples[start:start + 1024]
            frame = av.AudioFrame.from_ndarray(np.tile(chunk, channels).reshape(1, -1), format="flt", layout=layout)
            frame.sample_rate, frame.pts, frame.time_base = rate, start, Fraction(1, rate)
            for packet in audio.encode(frame):
                dst.mux(packet)
        for packet in audio.encode():
            dst.mux(packet)
        return bytes(audio.codec_context.extradata)


@contextlib.contextmanager
def adts_packets(folder: Path, rate: int, layout: str, seconds: float) -> Iterator[tuple[av.AudioStream, list[av.Packet]]]:
    """The audio stream and non-empty packets of an :func:`adts_clip` written in ``folder``
    (``a.ts``), while its file is open."""
    ts = folder / "a.ts"
    adts_clip(ts, rate, layout, seconds)
    with av.open(str(ts)) as src:
        stream = src.streams.audio[0]
        yield stream, [p for p in src.demux(stream) if p.size]


def recorded(out: Path, audio: av.AudioStream, packets: list[av.Packet], frames: int, *,
             silent_first: bool = False) -> VideoFileSink:
    """A closed sink at ``out``: ``frames`` noise frames with ``packets`` spread over them in
    order (none on the first frame with ``silent_first``)."""
    sink = VideoFileSink(out, width=W, height=H, time_base=Fraction(1, 25), audio=audio, preset="ultrafast")
    skip = 1 if silent_first else 0
    per = -(-len(packets) // (frames - skip))
    for i in range(frames):
        k = i - skip
        sink.write(noise(i), i, packets[k * per:(k + 1) * per] if k >= 0 else [])
    sink.close()
    return sink


@pytest.mark.parametrize(("rate", "layout"), [(48000, "stereo"), (44100, "mono"), (22050, "5.1"), (8000, "stereo"),
                                              (48000, "7.1")])  # 8 channels: configuration 7
def test_adts_config_is_what_the_encoder_stores(tmp_path: Path, rate: int, layout: str) -> None:
    """The 2 bytes built from an ADTS header equal FFmpeg's AudioSpecificConfig for rates
    (frequency index 3, 4, 7, 11: both halves of the split byte) and channel counts 1, 2, 6.
    Kills every ``adts_config`` mutant (shifts, masks, the +1)."""
    path = tmp_path / "a.ts"
    config = adts_clip(path, rate, layout, 0.2)
    with av.open(str(path)) as c:
        header = bytes(next(p for p in c.demux(audio=0) if p.size))
    assert adts_config(header) == config[:2]  # then FFmpeg adds a 3-byte SBR sync extension
    # ...and the same from the stream's parameters (used when the first frame has no audio)
    assert asc_from(rate, av.AudioLayout(layout).nb_channels) == config[:2]


def test_adts_audio_is_copied_as_raw_frames(tmp_path: Path) -> None:
    """AAC from MPEG-TS into the MP4: the same frames without their 7-byte ADTS headers, the
    same times, a configuration that decodes every frame. Kills ``_from_adts`` (the header
    test, the header length, the extradata set once, pts/dts/time base) and the ``_adts``
    flag's mutants."""
    out = tmp_path / "v.mp4"
    with adts_packets(tmp_path, 48000, "stereo", 1.0) as (stream, packets):
        assert not stream.codec_context.extradata
        source = [(p.pts, p.dts, bytes(p)) for p in packets]
        recorded(out, stream, packets, 10)
    assert [d[:2] for d in (p[2] for p in source)] == [b"\xff\xf1"] * len(source)
    with av.open(str(out)) as c:
        a = c.streams.audio[0]
        assert bytes(a.codec_context.extradata) == adts_config(source[0][2])
        copied = [(p.pts, p.dts, bytes(p)) for p in c.demux(a) if p.size]
        tb = a.time_base
    assert [p[2] for p in copied] == [p[2][7:] for p in source]
    start = source[0][0]
    assert [(p[0] * tb, p[1] * tb) for p in copied] == [
        ((s - start) * Fraction(1, 90000), (d - start) * Fraction(1, 90000)) for s, d, _ in source]
    with av.open(str(out)) as c:
        assert sum(1 for _ in c.decode(audio=0)) == len(source)


def top_boxes(path: Path) -> list[bytes]:
    """The kinds of an MP4's top-level boxes, in file order."""
    data, kinds, at = path.read_bytes(), [], 0
    while at + 8 <= len(data):
        size, kind = struct.unpack_from(">I4s", data, at)
        kinds.append(kind)
        at += size if size else len(data)
    return kinds


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_the_finished_file_is_tagged_and_mp4_is_faststart(tmp_path: Path, suffix: str) -> None:
    """The ``comment`` tag marks it as streamer's (a later run may replace it); a finished MP4 is
    the ordinary, ``+faststart`` copy of the fragmented one: ``moov`` before ``mdat``, no ``moof``."""
    from streamer.outputs.paths import is_streamer_output

    sink = VideoFileSink(tmp_path / f"out{suffix}", width=W, height=H, time_base=Fraction(1, 1000))
    for i in range(3):
        sink.write(noise(i), i * 40)
    assert sink.frames_written == 3
    sink.close()
    assert sink.written == tmp_path / f"out{suffix}"
    with av.open(str(sink.written)) as c:  # Matroska stores tag names upper-case
        assert {k.lower(): v for k, v in c.metadata.items()}.get("comment") == "streamer"
    # ...and is streamer's whatever the case (a rerun refused to replace its own .mkv before)
    assert is_streamer_output(sink.written, "video")
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"out{suffix}"]
    if suffix == ".mp4":
        kinds = top_boxes(sink.written)
        assert b"moof" not in kinds and kinds.index(b"moov") < kinds.index(b"mdat")


def test_missing_and_repeated_timestamps_get_the_next_tick(tmp_path: Path) -> None:
    sink = VideoFileSink(tmp_path / "out.mkv", width=W, height=H, time_base=Fraction(1, 1000))
    for i, pts in enumerate([None, None, 5, 5, 3, 10]):
        sink.write(noise(i), pts)
    sink.close()
    with pytest.raises(SinkError, match=r"^.*out\.mkv: already closed$"):
        sink.write(noise(0), 11)
    with av.open(str(sink.written)) as c:
        pts = sorted(p.pts for p in c.demux(video=0) if p.size)
    assert pts == [0, 1, 5, 6, 7, 10]


def test_the_encoder_gets_crf_preset_and_tune(tmp_path: Path) -> None:
    """x264 writes its settings into the stream (an SEI): the defaults, and the ones given."""
    def settings(**kw: object) -> bytes:
        sink = VideoFileSink(tmp_path / "out.mkv", width=W, height=H, time_base=Fraction(1, 1000), **kw)
        sink.write(noise(0), 0)
        sink.close()
        data = sink.written.read_bytes()
        sink.written.unlink()
        return data[data.index(b"options: "):].split(b"\x00")[0]

    default = settings()
    assert b" crf=23.0 " in default and b" subme=1 " in default  # superfast: subme=1
    assert b" bframes=3 " in default
    given = settings(crf=30, tune="zerolatency")  # zerolatency: no B-frames (no look-ahead delay)
    assert b" crf=30.0 " in given and b" subme=1 " in given and b" bframes=0 " in given
    assert b" subme=0 " in settings(preset="ultrafast")


def test_an_unknown_container_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(SinkError, match=r"out\.nosuchformat: cannot create output file \(.+\)$"):
        VideoFileSink(tmp_path / "out.nosuchformat", width=W, height=H, time_base=Fraction(1, 1000))
    assert list(tmp_path.iterdir()) == []


def test_a_folder_that_cannot_be_made_is_named_in_the_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(SinkError, match=r"file/out\.mp4: cannot create output file \(file exists\)$"):
        VideoFileSink(tmp_path / "file" / "out.mp4", width=W, height=H, time_base=Fraction(1, 1000))


def test_raw_aac_is_muxed_as_a_copy(tmp_path: Path) -> None:
    """AAC that is not ADTS (an MP4's) is copied through; the frame's packets, shared with
    the other outputs, keep their stream, times and bytes."""
    ts, first = tmp_path / "a.ts", tmp_path / "a.mp4"
    adts_clip(ts, 48000, "stereo", 0.3)
    with av.open(str(ts)) as src:
        sink = VideoFileSink(first, width=W, height=H, time_base=Fraction(1, 25), audio=src.streams.audio[0], preset="ultrafast")
        sink.write(noise(0), 0, [p for p in src.demux(audio=0) if p.size])
        sink.close()
    with av.open(str(first)) as src:
        stream = src.streams.audio[0]
        packets = [p for p in src.demux(stream) if p.size]
        before = [(p.pts, p.dts, p.time_base, bytes(p)) for p in packets]
        for out in ("b.mp4", "b.mkv"):
            sink = VideoFileSink(tmp_path / out, width=W, height=H, time_base=Fraction(1, 25), audio=stream, preset="ultrafast")
            sink.write(noise(0), 0, packets)
            sink.close()
        assert all(p.stream is stream for p in packets)
        assert [(p.pts, p.dts, p.time_base, bytes(p)) for p in packets] == before
    for out in ("b.mp4", "b.mkv"):
        with av.open(str(tmp_path / out)) as c:
            assert [bytes(p) for p in c.demux(audio=0) if p.size] == [b[3] for b in before]


def test_adts_audio_into_matroska_when_the_first_frame_has_none(tmp_path: Path) -> None:
    """Matroska writes its header with the first packet, so the AAC configuration must be
    set before it (from the stream's parameters when the first frame carries no audio): it
    failed with "unable to determine samplerate" at the second frame before. Every audio
    frame is copied without its ADTS header and decodes."""
    out = tmp_path / "v.mkv"
    with adts_packets(tmp_path, 44100, "mono", 1.0) as (stream, packets):
        source = [bytes(p) for p in packets]
        recorded(out, stream, packets, 10, silent_first=True)
    with av.open(str(out)) as c:
        assert bytes(c.streams.audio[0].codec_context.extradata)[:2] == adts_config(source[0])
        assert [bytes(p) for p in c.demux(audio=0) if p.size] == [d[7:] for d in source]
    with av.open(str(out)) as c:
        assert sum(1 for _ in c.decode(audio=0)) == len(source)
    assert decoded(out) == 10


@pytest.mark.parametrize(("data", "adts"), [
    (b"\xff\xf1" + bytes(5), True),       # a 7-byte header (no payload) is still a header
    (b"\xff\xf0" + bytes(7), True),       # with CRC (protection_absent 0)
    (b"\xff\xf1" + bytes(4), False),      # too short for a header
    (b"\x21\xf1" + bytes(9), False),      # raw AAC whose second byte looks like a sync
    (b"\xff\x21" + bytes(9), False),      # 0xFF then no sync nibble
    (b"\xff\xf7" + bytes(9), False),      # layer bits set: not ADTS
    (b"\x21\x1b" + bytes(9), False),      # raw AAC
])
def test_adts_headers_are_told_from_raw_aac(data: bytes, adts: bool) -> None:
    assert _is_adts(data) is adts


def test_adts_with_crc_loses_its_9_byte_header(tmp_path: Path) -> None:
    """ADTS may carry a CRC (protection_absent 0: 2 more header bytes); FFmpeg's muxers write
    none, so the same frames get one here. The copy holds the raw frames either way."""
    out = tmp_path / "v.mkv"
    with adts_packets(tmp_path, 48000, "stereo", 0.5) as (stream, packets):
        raw = [bytes(p)[7:] for p in packets]
        crc = []
        for p in packets:
            data = bytes(p)
            header = bytearray(data[:7])
            header[1] &= 0xFE  # protection_absent = 0
            length = len(data) + 2  # the 13-bit frame length counts the CRC too
            header[3] = (header[3] & 0xFC) | (length >> 11)
            header[4] = (length >> 3) & 0xFF
            header[5] = ((length & 7) << 5) | (header[5] & 0x1F)
            packet = av.Packet(bytes(header) + b"\x5a\xa5" + data[7:])
            packet.pts, packet.dts, packet.time_base = p.pts, p.dts, p.time_base
            crc.append(packet)
        recorded(out, stream, crc, 5)
    with av.open(str(out)) as c:
        assert [bytes(p) for p in c.demux(audio=0) if p.size] == raw


def test_the_video_output_hands_its_encoder_settings_on(tmp_path: Path) -> None:
    """``--crf``, ``--preset`` and ``--tune`` reach x264 through ``VideoOutput`` (its SEI); its
    defaults are the config's (crf 23, superfast)."""
    from streamer.frames import Frame

    def options(name: str, **settings: object) -> bytes:
        out = VideoOutput(tmp_path / name, media=lambda: (Fraction(25), None), **settings)  # type: ignore[arg-type]
        out.write(Frame(index=0, pts=0, time_base=Fraction(1, 25), capture_time=0.0, image=noise(0)))
        out.close()
        data = out.written.read_bytes()
        return data[data.index(b"options: "):].split(b"\x00")[0]

    given = options("a.mkv", crf=35, preset="ultrafast", tune="zerolatency")
    assert b" crf=35.0 " in given and b" subme=0 " in given and b" bframes=0 " in given
    default = options("b.mkv")
    assert b" crf=23.0 " in default and b" subme=1 " in default and b" bframes=3 " in default


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_copied_audio_keeps_its_key_flags_and_durations(tmp_path: Path, suffix: str) -> None:
    """Matroska writes each audio block's key flag from the packet (a player seeks on them),
    MP4 the last packet's duration: both come from the source's packets through the copy."""
    ts, src = tmp_path / "a.ts", tmp_path / "a.mkv"
    adts_clip(ts, 48000, "stereo", 0.5)
    with av.open(str(ts)) as a, av.open(str(src), "w") as b:  # AAC with a configuration, ms times
        stream = b.add_stream_from_template(a.streams.audio[0])
        for packet in a.demux(audio=0):
            if packet.size:
                packet.stream = stream
                b.mux(packet)
    out = tmp_path / f"v{suffix}"
    with av.open(str(src)) as c:
        stream = c.streams.audio[0]
        packets = [p for p in c.demux(stream) if p.size]
        durations = [p.duration * p.time_base for p in packets]
        sink = VideoFileSink(out, width=W, height=H, time_base=Fraction(1, 25), audio=stream, preset="ultrafast")
        for i in range(5):
            sink.write(noise(i), i, packets[i * 5:(i + 1) * 5])
        sink.close()
    with av.open(str(out)) as c:
        copied = [p for p in c.demux(audio=0) if p.size]
        assert all(p.is_keyframe for p in copied)
        assert copied[-1].duration * copied[-1].time_base == durations[24]


@pytest.mark.parametrize("suffix", [".avi", ".ts", ".mkv", ".mp4"])
def test_other_containers_get_only_their_own_options(tmp_path: Path, suffix: str, caplog: pytest.LogCaptureFixture) -> None:
    """The Matroska cluster option went to every non-MP4 muxer, and PyAV warned "Some options
    were not used" (its ``av.container.output`` logger: a line on the CLI's stderr) for an .avi
    or .ts output."""
    caplog.set_level(logging.WARNING)
    sink = VideoFileSink(tmp_path / f"v{suffix}", width=W, height=H, time_base=Fraction(1, 25), preset="ultrafast")
    for i in range(3):
        sink.write(noise(i), i)
    sink.close()
    assert [r.getMessage() for r in caplog.records] == []
    assert decoded(sink.written) == 3
