"""Tests that bite: each fails when one behaviour is broken (issue 11).

Detector behaviour is pinned with tiny ONNX models whose output is a constant in the
Ultralytics v8 layout (``[1, 4 + nc, N]``: ``cx, cy, w, h`` in model-input pixels, then
class scores), each with a card beside it, run by the real ONNX Runtime through the
real :class:`~streamer.detection.Detector`, :class:`~streamer.Runner` and CLI.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest
import yaml

import naive_decode as naive
from streamer import Runner
from streamer.config import RunSettings
from streamer.detection import Detector

STREAMER = [sys.executable, "-m", "streamer.cli"]
SIZE = 64  # model input, square
LABELS = ["thing", "other"]

#: Two boxes of class 0 (model pixels, x1 y1 x2 y2) whose IoU is exactly 0.5:
#: 30x10 each, overlapping 20x10 (200 / (300 + 300 - 200)).
OVERLAPPING = [([10, 20, 40, 30], 0.9), ([20, 20, 50, 30], 0.8)]


def constant_detector(folder: Path, boxes: list[tuple[list[float], float]], *, resize: str = "stretch",
                      align: str = "center", name: str = "const") -> Path:
    """Write a model that always outputs ``boxes`` (class 0) and its card; return the model.

    Parameters
    ----------
    folder : Path
        Where ``<name>.onnx`` and ``<name>.yaml`` are written.
    boxes : list of (list of float, float)
        ``([x1, y1, x2, y2], score)`` in model-input pixels, all of class 0.
    resize : {"stretch", "letterbox"}
        The card's resize mode.
    align : {"center", "topleft"}
        The card's letterbox alignment.
    name : str
        File stem.

    Returns
    -------
    Path
        The ``.onnx`` file.
    """
    pred = np.zeros((1, 4 + len(LABELS), len(boxes)), np.float32)
    for i, ((x1, y1, x2, y2), score) in enumerate(boxes):
        pred[0, :5, i] = [(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1, score]
    path = naive.constant_model(folder / f"{name}.onnx", {"images": [1, 3, SIZE, SIZE]}, {"output": pred})
    card = {
        "name": name, "file": path.name, "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "family": "ultralytics",
        "input": {"name": "images", "width": SIZE, "height": SIZE, "color": "rgb", "std": [255, 255, 255],
                  "resize": resize, "letterbox_align": align, "pad_value": 114},
        "outputs": {"output": "output", "layout": "v8"}, "labels": LABELS, "licence": "test", "source": "test",
    }
    path.with_suffix(".yaml").write_text(yaml.safe_dump(card))
    return path


def jsonl_records(path: Path) -> list[dict]:
    """Return the frame records of a JSONL output (event records left out)."""
    return [r for line in path.read_text().splitlines() if "frame" in (r := json.loads(line))]


# --- 1. --iou reaches NMS from the library, the CLI and the YAML ---------------------------

@pytest.mark.parametrize(("iou", "kept"), [(0.4, 1), (0.6, 2)])
def test_iou_threshold_decides_overlapping_boxes_in_detector(tmp_path: Path, iou: float, kept: int) -> None:
    model = constant_detector(tmp_path, OVERLAPPING)
    found = Detector(model, device="cpu", conf=0.5, iou=iou).detect(np.zeros((SIZE, SIZE, 3), np.uint8))
    assert len(found) == kept
    assert found.confidence.tolist() == pytest.approx([0.9, 0.8][:kept])
    np.testing.assert_allclose(found.xyxy, [b for b, _ in OVERLAPPING][:kept], atol=1e-3)


@pytest.mark.parametrize("how", ["cli", "yaml"])
@pytest.mark.parametrize(("iou", "kept"), [(0.4, 1), (0.6, 2)])
def test_iou_option_reaches_nms(tmp_path: Path, bikes_clip: Path, how: str, iou: float, kept: int) -> None:
    model = constant_detector(tmp_path, OVERLAPPING)
    jsonl = tmp_path / "out.jsonl"
    common = {"model": str(model), "conf": 0.5, "jsonl": str(jsonl), "no_video": True, "max_frames": 2,
              "detect_workers": 1}
    if how == "cli":
        args = ["run", str(bikes_clip), "--model", str(model), "--conf", "0.5", "--jsonl", str(jsonl),
                "--no-video", "--max-frames", "2", "--detect-workers", "1", "--no-progress", "--iou", str(iou)]
    else:
        cfg = tmp_path / "run.yaml"
        cfg.write_text(yaml.safe_dump({"source": str(bikes_clip), **common, "iou": iou}))
        args = ["run", "--config", str(cfg), "--no-progress"]
    r = subprocess.run([*STREAMER, *args], capture_output=True, text=True, timeout=50)
    assert r.returncode == 0, r.stderr
    records = jsonl_records(jsonl)
    assert len(records) == 2
    assert [len(rec["detections"]) for rec in records] == [kept, kept]


# --- 2. boxes map back to source pixels through the letterbox ------------------------------

#: A 160x100 frame letterboxed into 64x64: scale 0.4, image 64x40, centre padding 12 rows.
FRAME_W, FRAME_H = 160, 100
MODEL_BOX = [16, 16, 36, 32]


@pytest.mark.parametrize(("align", "pad"), [("center", 12), ("topleft", 0)])
def test_letterboxed_box_maps_back_to_source_pixels(tmp_path: Path, align: str, pad: int) -> None:
    model = constant_detector(tmp_path, [(MODEL_BOX, 0.9)], resize="letterbox", align=align)
    x1, y1, x2, y2 = MODEL_BOX
    # Landscape: the padding is above (and below) the picture.
    found = Detector(model, device="cpu", conf=0.5).detect(np.zeros((FRAME_H, FRAME_W, 3), np.uint8))
    assert len(found) == 1
    np.testing.assert_allclose(found.xyxy, [[x1 / 0.4, (y1 - pad) / 0.4, x2 / 0.4, (y2 - pad) / 0.4]], atol=1e-3)
    # Portrait (100 wide, 160 high -> 40x64): the padding is left (and right) of it.
    found = Detector(model, device="cpu", conf=0.5).detect(np.zeros((FRAME_W, FRAME_H, 3), np.uint8))
    assert len(found) == 1
    np.testing.assert_allclose(found.xyxy, [[(x1 - pad) / 0.4, y1 / 0.4, (x2 - pad) / 0.4, y2 / 0.4]], atol=1e-3)


# --- 3. --detect-every: which frames are detected, boxes carried between ------------------

def run_jsonl(tmp_path: Path, name: str, **settings: object) -> list[dict]:
    """Run the pipeline in-process with JSONL output only; return its frame records."""
    jsonl = tmp_path / f"{name}.jsonl"
    settings = {k: str(v) if isinstance(v, Path) else v for k, v in settings.items()}
    Runner(RunSettings(jsonl=jsonl, no_video=True, progress=False, quiet=True, device="cpu", **settings)).run()
    return jsonl_records(jsonl)


def test_detect_every_schedule_with_two_workers(tmp_path: Path, bikes_clip: Path) -> None:
    # The real bundled detector, so boxes differ from frame to frame and carrying is visible.
    recs = run_jsonl(tmp_path, "every3", source=bikes_clip, detect_every=3, detect_workers=2, max_frames=30)
    assert [r["frame"] for r in recs] == list(range(30))
    assert [r["detected"] for r in recs] == [i % 3 == 0 for i in range(30)]
    for r in recs:  # frames between carry the boxes of the last detected frame, exactly
        assert r["detections"] == recs[r["frame"] - r["frame"] % 3]["detections"]
    detected = [json.dumps(r["detections"]) for r in recs if r["detected"]]
    assert any(r["detections"] for r in recs) and len(set(detected)) > 1  # the check above is not vacuous


def test_detect_every_with_motion_gate_is_every_nth_moving_frame(
        tmp_path: Path, still_then_moving_clip: tuple) -> None:
    clip, count, still, moving = still_then_moving_clip
    model = constant_detector(tmp_path, [([8, 8, 40, 40], 0.9)])
    gate = {"source": clip, "model": model, "detect_workers": 2, "max_frames": count,
            "kernels": "motion=background:threshold=25:min_area=200", "detect_min_motion": 0.002}
    every1 = run_jsonl(tmp_path, "every1", detect_every=1, **gate)
    every2 = run_jsonl(tmp_path, "every2", detect_every=2, **gate)
    moving_frames = [r["frame"] for r in every1 if r["detected"]]
    assert not set(moving_frames) & set(still) and len(set(moving_frames) & set(moving)) > len(moving) // 2
    # With every 2: exactly the moving frames of even index (the motion kernel is deterministic).
    assert [r["frame"] for r in every2 if r["detected"]] == [i for i in moving_frames if i % 2 == 0]
    last = None
    for r in every2:
        last = r["detections"] if r["detected"] else last
        assert r["detections"] == (last or [])


# --- 5. live sources: newest frame wins behind a slow stage -------------------------------

def slow_detector(folder: Path, *, size: int = 160, layers: int = 6, channels: int = 96) -> Path:
    """Write a detector that always finds one box but really computes for a while.

    Its output is a constant (one class-0 box) plus ``0 * mean(convolutions of the input)``,
    so ONNX Runtime must run ``layers`` 3x3 convolutions of ``channels`` channels over the
    ``size`` x ``size`` input for every frame (about 12 GFLOP with the defaults): a stage
    that is slow on any CPU without sleeping.

    Parameters
    ----------
    folder : Path
        Where ``slow.onnx`` and ``slow.yaml`` are written.
    size, layers, channels : int
        Input size and the convolution stack.

    Returns
    -------
    Path
        The ``.onnx`` file.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    nodes, inits, previous, c_in = [], [], "images", 3
    for i in range(layers):
        w = (rng.standard_normal((channels, c_in, 3, 3)) * 0.05).astype(np.float32)
        inits.append(numpy_helper.from_array(w, f"w{i}"))
        nodes += [helper.make_node("Conv", [previous, f"w{i}"], [f"c{i}"], pads=[1, 1, 1, 1]),
                  helper.make_node("Relu", [f"c{i}"], [f"r{i}"])]
        previous, c_in = f"r{i}", channels
    pred = np.zeros((1, 4 + len(LABELS), 1), np.float32)
    pred[0, :5, 0] = [size / 2, size / 2, size / 4, size / 4, 0.9]
    inits += [numpy_helper.from_array(pred, "box"), numpy_helper.from_array(np.zeros(1, np.float32), "zero")]
    nodes += [helper.make_node("ReduceMean", [previous], ["mean"], keepdims=0),
              helper.make_node("Mul", ["mean", "zero"], ["nothing"]),
              helper.make_node("Add", ["box", "nothing"], ["output"])]
    graph = helper.make_graph(
        nodes, "slow", [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, size, size])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, list(pred.shape))], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    path = folder / "slow.onnx"
    onnx.save(model, str(path))
    card = {
        "name": "slow", "file": path.name, "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "family": "ultralytics",
        "input": {"name": "images", "width": size, "height": size, "color": "rgb", "std": [255, 255, 255],
                  "resize": "stretch"},
        "outputs": {"output": "output", "layout": "v8"}, "labels": LABELS, "licence": "test", "source": "test",
    }
    path.with_suffix(".yaml").write_text(yaml.safe_dump(card))
    return path


def test_realtime_newest_frame_wins_behind_slow_detector(tmp_path: Path, bikes_clip: Path) -> None:
    # --realtime plays the file as a live source: 25 fps in, a detector several times slower.
    jsonl = tmp_path / "live.jsonl"
    settings = RunSettings(source=str(bikes_clip), model=str(slow_detector(tmp_path)), realtime=True,
                           max_frames=50, detect_workers=1, threads=1, device="cpu", jsonl=jsonl,
                           no_video=True, progress=False, quiet=True)
    summary = Runner(settings).run()
    recs = jsonl_records(jsonl)
    frames = [r["frame"] for r in recs]
    detect_ms = next(s.ms_per_frame for s in summary.stages if s.name == "detect")
    assert detect_ms > 2 * 40, "the detector must be much slower than the 25 fps source for this test"
    # Drops happened, were counted, and on the queue in front of the slow stage.
    assert summary.live is not None
    into_detect = {q: d for q, d in summary.live["dropped_by_queue"].items() if q.endswith("->detect")}
    assert sum(into_detect.values()) > 0, summary.live
    assert summary.live["dropped"] == 50 - len(recs) > 0
    # The frames that got through are in order and the newest: the last one decoded is written,
    # and each frame written is at most a few frames behind the source (age bounded in frames,
    # not growing with the backlog as it would if frames queued up).
    assert frames == sorted(set(frames)) and frames[-1] == 49
    assert all(r["detected"] and len(r["detections"]) == 1 for r in recs)
    assert all(r["age_ms"] < 4 * detect_ms for r in recs), [(r["frame"], r["age_ms"]) for r in recs]


# --- 6. --max-latency: frames past the budget are dropped and counted per stage ------------

def test_max_latency_drops_stale_frames_per_stage(tmp_path: Path, bikes_clip: Path) -> None:
    jsonl = tmp_path / "budget.jsonl"
    settings = RunSettings(source=str(bikes_clip), model=str(slow_detector(tmp_path)), realtime=True,
                           max_frames=50, detect_workers=1, threads=1, device="cpu", jsonl=jsonl,
                           no_video=True, progress=False, quiet=True, max_latency=0.02)
    summary = Runner(settings).run()
    recs = jsonl_records(jsonl)
    assert summary.live is not None
    stale = summary.live["dropped_stale_by_stage"]
    # A frame waits in front of the detector for up to one detection (>= 80 ms, see the check
    # in the test above), far past the 20 ms budget: the detect stage drops such frames.
    assert stale.get("detect", 0) > 0, summary.live
    stage = next(s for s in summary.stages if s.name == "detect")
    assert stage.stale == stale["detect"]
    # Every frame is accounted for: written, dropped by a full queue or dropped as stale.
    assert len(recs) + summary.live["dropped"] == 50
    assert summary.live["dropped"] == sum(summary.live["dropped_by_queue"].values()) + sum(stale.values())
