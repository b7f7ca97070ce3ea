"""Family decoders against the loop references in naive_decode, and layout recognition.

Real models run in ONNX Runtime on real photos; the same raw outputs go to the
vectorised decoder and to the reference.  NanoDet is also checked on synthetic raw
outputs because the bundled model file may not exist yet.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import naive_decode as naive
from streamer.detection import Detector, ModelCard
from streamer.detection.card import card_from_graph
from streamer.detection.families import FAMILIES
from streamer.detection.graph import GraphInfo, TensorInfo, read_graph
from streamer.errors import ModelError

from media import SHARED, model_file, nudenet_model, package_file, read_photo, shared_path, skimage_photo

assert_same = naive.assert_same


def raw_outputs(detector: Detector, photo: Path) -> dict[str, np.ndarray]:
    detector.prepare(read_photo(photo))
    return detector.infer()


# --- real models, real photos -------------------------------------------------------


#: (model file (None: nudenet's YOLOv8 export), photo (skimage name or a path under SHARED), conf,
#: reference). FastestDet (and its photo, two people) is in ../shared only: added where present.
DECODER_CASES = [
    pytest.param("yolox_nano_416_coco.onnx", "coffee.png", 0.02,
                 lambda raw, conf: naive.yolox(raw["output"], 416, 416, conf), id="yolox"),
    pytest.param(None, "astronaut.png", 0.02,
                 lambda raw, conf: naive.ultralytics_v8(raw["output0"], conf), id="yolov8"),
]
if model_file("fastestdet_352_coco.onnx") and shared_path("media/photos/opencv_basketball1.png"):
    DECODER_CASES.append(pytest.param("fastestdet_352_coco.onnx", "media/photos/opencv_basketball1.png", 0.2,
                                      lambda raw, conf: naive.fastestdet(raw["758"], 352, 352, conf), id="fastestdet"))


@pytest.mark.parametrize(("model", "photo", "conf", "reference"), DECODER_CASES)
def test_decoder_matches_reference(model: str | None, photo: str, conf: float, reference: Callable) -> None:
    path = nudenet_model() if model is None else model_file(model)
    detector = Detector(path, device="cpu")
    raw = raw_outputs(detector, SHARED / photo if photo.startswith("media/") else skimage_photo(photo))
    decoded = FAMILIES[detector.card.family].decode(raw, detector.card, conf=conf)
    assert_same(decoded, reference(raw, conf))


def test_bundled_nanodet_matches_reference() -> None:
    detector = Detector(naive.bundled_nanodet(), device="cpu")
    raw = raw_outputs(detector, skimage_photo("chelsea.png"))
    spec, conf = detector.card.outputs, 0.05
    assert spec is not None
    reference = naive.nanodet(
        [raw[n] for n in spec["scores"]], [raw[n] for n in spec["boxes"]],
        spec["strides"], spec["reg_max"], 416, 416, conf,
    )
    assert_same(FAMILIES["nanodet"].decode(raw, detector.card, conf=conf), reference)


# --- synthetic raw outputs ----------------------------------------------------------

NANODET_LEVELS = {8: 2704, 16: 676, 32: 169}


def nanodet_card(outputs: dict | None = None, labels: int = 80) -> ModelCard:
    return ModelCard(
        name="synthetic", file="synthetic.onnx", sha256="0" * 64, family="nanodet",
        input={"name": "input_1:0", "width": 416, "height": 416, "color": "bgr", "resize": "stretch"},
        outputs=outputs, labels=[f"c{i}" for i in range(labels)], licence="none", source="test",
    )


def test_nanodet_matches_reference_on_random_outputs() -> None:
    rng = np.random.default_rng(7)
    raw, scores, boxes = {}, [], []
    for stride, cells in NANODET_LEVELS.items():
        # Mostly low scores, like a real frame: uniform**6 puts ~1% above 0.5.
        raw[f"cls{stride}"] = (rng.random((1, cells, 80)) ** 6).astype(np.float32)
        raw[f"reg{stride}"] = (rng.normal(size=(1, cells, 44)) * 3).astype(np.float32)
        scores.append(f"cls{stride}")
        boxes.append(f"reg{stride}")
    card = nanodet_card({"scores": scores, "boxes": boxes, "strides": [8, 16, 32], "reg_max": 10})
    reference = naive.nanodet(
        [raw[n] for n in scores], [raw[n] for n in boxes], [8, 16, 32], 10, 416, 416, 0.9
    )
    assert_same(FAMILIES["nanodet"].decode(raw, card, conf=0.9), reference)


def nanodet_one_box() -> dict[str, np.ndarray]:
    """Raw NanoDet outputs holding one class-0 box (score 0.9) at stride 16, row 10, col 5.

    Distances l, t, r, b are bins 2, 3, 4, 1 (one-hot logits), so in model pixels the
    box is centre (88, 168) minus/plus (32, 48, 64, 16) = (56, 120, 152, 184).
    """
    raw = {}
    for stride, cells in NANODET_LEVELS.items():
        raw[f"cls{stride}"] = np.zeros((1, cells, 80), np.float32)
        raw[f"reg{stride}"] = np.zeros((1, cells, 44), np.float32)
    cell = 10 * 26 + 5
    raw["cls16"][0, cell, 0] = 0.9
    for side, bin_ in enumerate((2, 3, 4, 1)):
        raw["reg16"][0, cell, side * 11 + bin_] = 30.0
    return raw


def test_nanodet_decodes_a_known_box() -> None:
    raw = nanodet_one_box()
    card = nanodet_card({
        "scores": ["cls8", "cls16", "cls32"], "boxes": ["reg8", "reg16", "reg32"],
        "strides": [8, 16, 32], "reg_max": 10,
    })
    xyxy, score, class_id = FAMILIES["nanodet"].decode(raw, card, conf=0.5)
    np.testing.assert_allclose(xyxy, [[56, 120, 152, 184]], atol=1e-3)
    assert score.tolist() == pytest.approx([0.9]) and class_id.tolist() == [0]


def test_synthetic_nanodet_graph_is_recognised_and_detected(tmp_path: Path) -> None:
    path = naive.constant_model(
        tmp_path / "nano.onnx", {"input_1:0": [1, 3, 416, 416]}, nanodet_one_box()
    )
    detector = Detector(path, device="cpu", conf=0.5)
    assert detector.card.family == "nanodet" and detector.card_path is None
    assert detector.card.outputs == {
        "scores": ["cls8", "cls16", "cls32"], "boxes": ["reg8", "reg16", "reg32"],
        "strides": [8, 16, 32], "reg_max": 10,
    }
    # A frame twice as wide as the input: stretch halves x, so source x doubles.
    found = detector.detect(np.zeros((416, 832, 3), np.uint8))
    assert [d.class_id for d in found] == [0] and detector.labels[0] == "person"
    np.testing.assert_allclose(found.xyxy, [[112, 120, 304, 184]], atol=1e-2)


def test_ultralytics_v5_matches_reference() -> None:
    rng = np.random.default_rng(3)
    pred = np.concatenate(
        [rng.random((1, 300, 4)) * [640, 640, 100, 100], rng.random((1, 300, 81))], axis=2
    ).astype(np.float32)
    card = nanodet_card().model_copy(update={"family": "ultralytics", "outputs": {"output": "out", "layout": "v5"}})
    assert_same(
        FAMILIES["ultralytics"].decode({"out": pred}, card, conf=0.5),
        naive.ultralytics_v5(pred, 0.5),
    )


# --- recognition --------------------------------------------------------------------


def graph(outputs: dict[str, tuple], metadata: dict[str, str] | None = None,
          size: tuple = (416, 416)) -> GraphInfo:
    return GraphInfo(
        Path("synthetic.onnx"),
        (TensorInfo("images", (1, 3, *size), "float32"),),
        tuple(TensorInfo(n, s, "float32") for n, s in outputs.items()),
        metadata or {},
    )


def recognised(info: GraphInfo) -> dict[str, dict]:
    return {
        name: (r.outputs, r.num_classes)
        for name, family in FAMILIES.items()
        if (r := family.recognise(info)) is not None
    }


@pytest.mark.parametrize(
    ("outputs", "metadata", "expected"),
    [
        # YOLOX: one row per stride-8/16/32 cell.
        ({"output": (1, 3549, 85)}, None, {"yolox": ({"output": "output", "strides": [8, 16, 32]}, 80)}),
        # Same columns, three anchors per cell: YOLOv5.
        ({"output": (1, 3 * 3549, 85)}, None, {"ultralytics": ({"output": "output", "layout": "v5"}, 80)}),
        # Transposed, no objectness: YOLOv8 even without metadata.
        ({"output0": (1, 84, 3549)}, None, {"ultralytics": ({"output": "output0", "layout": "v8"}, 80)}),
        # Ultralytics metadata wins over the YOLOX-like shape.
        ({"output": (1, 3549, 8)}, {"author": "Ultralytics", "names": "{0: 'a', 1: 'b', 2: 'c'}", "stride": "32"},
         {"ultralytics": ({"output": "output", "layout": "v5"}, 3)}),
        ({"758": (1, 85, 26, 26)}, None, {"fastestdet": ({"output": "758"}, 80)}),
        ({"out": (1, 7)}, None, {}),
        ({"output": (1, 3548, 85)}, None, {}),
    ],
)
def test_recognition_by_shape(outputs: dict, metadata: dict | None, expected: dict) -> None:
    assert recognised(graph(outputs, metadata)) == expected


def test_nanodet_recognised_by_shape_in_any_output_order() -> None:
    shapes = {"b32": (1, 169, 44), "s8": (1, 2704, 80), "b8": (1, 2704, 44),
              "s32": (1, 169, 80), "s16": (1, 676, 80), "b16": (1, 676, 44)}
    assert recognised(graph(shapes)) == {
        "nanodet": ({"scores": ["s8", "s16", "s32"], "boxes": ["b8", "b16", "b32"],
                     "strides": [8, 16, 32], "reg_max": 10}, 80)
    }


def test_ultralytics_metadata_gives_labels_and_size() -> None:
    card = card_from_graph(nudenet_model())
    assert card.family == "ultralytics" and card.outputs == {"output": "output0", "layout": "v8"}
    assert (card.input.width, card.input.height, card.input.color) == (320, 320, "rgb")
    assert len(card.labels) == 18 and "FACE_FEMALE" in card.labels
    assert read_graph(nudenet_model()).metadata["author"] == "Ultralytics"


def test_unsupported_layout_names_file_and_outputs(tmp_path: Path) -> None:
    path = naive.constant_model(
        tmp_path / "odd.onnx", {"x": [1, 3, 64, 64]}, {"scores": np.zeros((1, 7), np.float32)}
    )
    with pytest.raises(ModelError, match=r"odd\.onnx.*scores \[1,7\] float32.*match no supported layout"):
        Detector(path, device="cpu")


#: Real models that are not detectors of a supported layout: ONNX Runtime's own logistic regression
#: (shipped in the onnxruntime package) and, with ../shared, the UltraFace face detector.
UNSUPPORTED_MODELS = [
    pytest.param("onnxruntime", "datasets/logreg_iris.onnx", ["float_input [3,2] float32", "label [3] int64"],
                 id="logreg_iris"),
]
if shared_path("models/ultraface_rfb320_face.onnx"):
    UNSUPPORTED_MODELS.append(pytest.param(None, "models/ultraface_rfb320_face.onnx",
                                           ["scores [1,4420,2]", "boxes [1,4420,4]"], id="ultraface"))


@pytest.mark.parametrize(("package", "relative", "tensors"), UNSUPPORTED_MODELS)
def test_real_model_of_another_kind_is_not_a_supported_layout(package: str | None, relative: str,
                                                              tensors: list[str]) -> None:
    path = package_file(package, relative) if package else SHARED / relative
    with pytest.raises(ModelError) as caught:
        card_from_graph(path)
    message = str(caught.value)
    assert path.name in message and all(t in message for t in tensors)
    assert "match no supported layout" in message and "supported: " in message and "\n" not in message
