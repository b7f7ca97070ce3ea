"""Tests that kill mutants of ``streamer/detection/families/`` that mutmut found alive or
untested (issue 11, third round; /work/notes/mut-families.md has the verdicts on the rest).

Each family is pinned twice: its recognition on graph interfaces (:class:`GraphInfo` values,
nothing to run), and its decoder end to end on a tiny uncarded ONNX model whose outputs are
constants (``naive_decode.constant_model``) run by the real ONNX Runtime through the real
:class:`Detector`, on a frame whose shape differs from the model's so the letterbox or
stretch mapping back to frame pixels is part of what is checked. Expected boxes are worked
out by hand from the formulas in each family's docstring.
"""

from __future__ import annotations

import math
from pathlib import Path

import naive_decode as naive
import numpy as np
import pytest

from streamer.detection import Detector
from streamer.detection.families import (
    centerface,
    fastestdet,
    layout,
    nanodet,
    ultralytics,
    yolox,
)
from streamer.detection.families.layout import Recognition
from streamer.detection.graph import GraphInfo, TensorInfo

ULTRALYTICS_INPUT = {"color": "rgb", "mean": (0.0, 0.0, 0.0), "std": (255.0, 255.0, 255.0),
                     "resize": "letterbox", "letterbox_align": "center", "pad_value": 114.0}


def info(outputs: dict[str, tuple], metadata: dict[str, str] | None = None, size: tuple = (64, 96),
         inputs: dict[str, tuple] | None = None, dtype: str = "float32") -> GraphInfo:
    """A graph interface: one float32 image input ``images [1, 3, *size]`` unless ``inputs``."""
    inputs = inputs if inputs is not None else {"images": (1, 3, *size)}
    return GraphInfo(Path("synthetic.onnx"), tuple(TensorInfo(n, s, "float32") for n, s in inputs.items()),
                     tuple(TensorInfo(n, s, dtype) for n, s in outputs.items()), dict(metadata or {}))


def detect(tmp_path: Path, outputs: dict[str, np.ndarray], size: tuple[int, int], frame: tuple[int, int],
           metadata: dict[str, str] | None = None, conf: float = 0.25) -> tuple[Detector, object]:
    """Run an uncarded constant model (input ``[1, 3, *size]``) on a black ``frame`` (h, w).

    Also checks the family decoder's own result types, which :data:`layout.Decoded` promises
    (float32 boxes and scores, int32 classes) to whatever calls it."""
    path = naive.constant_model(tmp_path / "uncarded.onnx", {"images": [1, 3, *size]}, outputs, metadata)
    det = Detector(path, device="cpu", conf=conf)
    assert det.card_path is None  # recognised from the graph
    found = det.detect(np.zeros((*frame, 3), np.uint8))
    xyxy, score, class_id = det._family.decode(det.infer(), det.card, conf=conf)
    assert (xyxy.dtype, score.dtype, class_id.dtype) == (np.float32, np.float32, np.int32)
    assert xyxy.shape == (len(score), 4) and class_id.shape == score.shape
    return det, found


def check(found, xyxy: list[list[float]], score: list[float], class_id: list[int]) -> None:
    """Exact boxes (to float32 rounding), scores and classes, at least one box."""
    assert len(found) == len(xyxy) > 0
    np.testing.assert_allclose(found.xyxy, xyxy, rtol=0, atol=2e-3)
    np.testing.assert_allclose(found.confidence, score, rtol=1e-6, atol=1e-6)
    assert found.class_id.tolist() == class_id


# -- ultralytics.py ------------------------------------------------------------------------------

#: Grid cells of a 64 x 96 input at strides 8/16/32 (8x12 + 4x6 + 2x3).
CELLS_64x96 = 126


def test_ultralytics_metadata_is_told_by_author_or_by_names_and_stride() -> None:
    """Any casing of an author starting with "Ultralytics", or both ``names`` and ``stride``
    (exactly those two keys), is metadata; one of them alone, or another author, is not.

    Kills has_metadata 1-18 (the default author, lower(), the prefix, ``<=``, ``or``)."""
    assert ultralytics.has_metadata(info({}, {"author": "Ultralytics"}))
    assert ultralytics.has_metadata(info({}, {"author": "ultralytics YOLO"}))
    assert ultralytics.has_metadata(info({}, {"names": "{0: 'a'}", "stride": "32"}))
    assert ultralytics.has_metadata(info({}, {"names": "{0: 'a'}", "stride": "32", "imgsz": "[64, 64]"}))
    assert not ultralytics.has_metadata(info({}, {}))
    assert not ultralytics.has_metadata(info({}, {"names": "{0: 'a'}"}))
    assert not ultralytics.has_metadata(info({}, {"stride": "32"}))
    assert not ultralytics.has_metadata(info({}, {"author": "Megvii", "names": "{0: 'a'}"}))
    assert not ultralytics.has_metadata(info({}, {"author": "An Ultralytics fan"}))


def test_ultralytics_labels_from_any_names_literal() -> None:
    """Names as a dict by index (in index order, whatever the written order), as a list or a
    tuple; a dict with gaps, an empty list, a number, broken or non-literal text: no labels.

    Kills metadata_labels and _literal mutants (the parse and the errors it swallows)."""
    def labels(names: str | None) -> tuple[str, ...] | None:
        return ultralytics.metadata_labels(info({}, None if names is None else {"names": names}))

    assert labels("{1: 'dog', 0: 'cat'}") == ("cat", "dog")
    assert labels("{0: 'cat'}") == ("cat",)
    assert labels("['cat', 'dog']") == ("cat", "dog")
    assert labels("('cat', 7)") == ("cat", "7")
    for bad in [None, "{}", "{1: 'dog', 2: 'cat'}", "{0: 'a', 2: 'b'}", "[]", "()", "3", "{0: 'cat'",
                "person", "[" * 300 + "]" * 300]:
        assert labels(bad) is None, bad


@pytest.mark.parametrize(("metadata", "shape", "expected"), [
    # Without names the shape decides: 5 rows is one class (v8), 6 columns one class (v5).
    ({}, (1, 5, CELLS_64x96), ("v8", 1)),
    ({}, (1, 3 * CELLS_64x96, 6), ("v5", 1)),
    ({}, (1, 4, CELLS_64x96), None),
    ({}, (1, 3 * CELLS_64x96, 5), None),
    ({}, (1, 6, CELLS_64x96 + 1), None),
    ({}, (1, 3 * CELLS_64x96 + 3, 7), None),
    ({}, (1, "classes", CELLS_64x96), None),
    ({}, (1, 3 * CELLS_64x96, "classes"), None),
    # stride 32 in the metadata is the usual 3 levels; 64 adds a fourth (2 x 2 more cells).
    ({"stride": "32"}, (1, 6, CELLS_64x96), ("v8", 2)),
    ({"stride": "64"}, (1, 6, CELLS_64x96 + 2), ("v8", 2)),
    ({"stride": "64"}, (1, 3 * (CELLS_64x96 + 2), 7), ("v5", 2)),
    ({"stride": "64"}, (1, 6, CELLS_64x96), None),
    # With names, their count decides, whatever the number of cells.
    ({"names": "['a', 'b', 'c']"}, (1, 7, 10), ("v8", 3)),
    ({"names": "['a', 'b', 'c']"}, (1, 10, 8), ("v5", 3)),
    ({"names": "['a', 'b', 'c']"}, (1, 8, CELLS_64x96), None),
    ({"names": "['a']"}, (1, 3 * CELLS_64x96, 7), None),
    # Empty names are no names (they made a [1, 4, N] output "v8 with 0 classes", which crashed).
    ({"names": "{}"}, (1, 4, CELLS_64x96), None),
])
def test_ultralytics_layout_from_names_or_grid(metadata: dict, shape: tuple, expected: tuple | None) -> None:
    """Kills _layout 1-40 and _strides 1-12 (the bounds 5 and 6, ``3 *``, ``rows - 4``,
    ``cols - 5``, ``== 64``, the stride key, the labels' count)."""
    found = ultralytics.recognise(info({"output0": shape}, metadata))
    assert (None if found is None else (found.outputs["layout"], found.num_classes)) == expected
    if found is not None:
        assert found.outputs["output"] == "output0"


def test_ultralytics_p6_export_at_1280_has_a_fourth_level() -> None:
    """A P6 export (largest stride 64) at 1280 x 1300, the width not a multiple of 64: cells
    160 x 163 + 80 x 82 + 40 x 41 + 20 x 21 = 34700; without ``stride: 64``, 34280 cells
    (3 levels) is v8 and 34700 is not.

    Kills _strides 9-11 and 16 (a level's stride off by one changes the cell count only on
    large inputs)."""
    def layout_of(cells: int, metadata: dict) -> str | None:
        found = ultralytics.recognise(info({"output0": (1, 6, cells)}, metadata, size=(1280, 1300)))
        return None if found is None else found.outputs["layout"]

    assert layout_of(34700, {"stride": "64"}) == "v8" and layout_of(34280, {"stride": "64"}) is None
    assert layout_of(34280, {"stride": "32"}) == "v8" and layout_of(34280, {}) == "v8"
    assert layout_of(34700, {}) is None


@pytest.mark.parametrize(("imgsz", "expected"), [
    ("[64, 96]", (64, 96)), ("(64, 96)", (64, 96)), ("64", (64, 64)), (None, None), ("[64]", None),
    ("[64, 96, 3]", None), ("[64.0, 96]", None), ("[64, '96']", None), ("'64'", None), ("oops", None),
])
def test_ultralytics_input_size_of_a_dynamic_graph_comes_from_imgsz(imgsz: str | None, expected: tuple | None) -> None:
    """A graph whose input is ``[1, 3, h, w]`` (symbolic) takes ``imgsz``: a pair of ints
    (height first) or one int; anything else is not recognised.

    Kills _input_hw 1-30."""
    names = {"names": "['a']"} | ({} if imgsz is None else {"imgsz": imgsz})
    found = ultralytics.recognise(info({"output0": (1, 5, "anchors")}, names, size=("h", "w")))
    assert (None if found is None else (found.input["height"], found.input["width"])) == expected


def test_ultralytics_recognition_gives_the_whole_card() -> None:
    """Family, input name, size (height then width) and Ultralytics' preprocessing, output
    and layout, class count and labels; a dynamic batch is fine, a batch of 2, a second input,
    a non-image input, an int output or a missing size are not.

    Kills recognise 1-40 and _input_hw's image_input / static_hw checks."""
    names = {"names": "{0: 'cat', 1: 'dog'}"}
    expected = Recognition(family="ultralytics",
                           input={"name": "images", "height": 64, "width": 96, **ULTRALYTICS_INPUT},
                           outputs={"output": "output0", "layout": "v8"}, num_classes=2, labels=("cat", "dog"))
    assert ultralytics.recognise(info({"output0": (1, 6, 7)}, names)) == expected
    assert ultralytics.recognise(info({"output0": ("batch", 6, 7)}, names)) == expected
    uncarded = ultralytics.recognise(info({"output0": (1, 6, CELLS_64x96)}))
    assert uncarded is not None and uncarded.labels is None and uncarded.num_classes == 2
    for graph in [info({"output0": (2, 6, 7)}, names),
                  info({"output0": (1, 6, 7)}, names, inputs={"images": (1, 3, 64, 96), "extra": (1,)}),
                  info({"output0": (1, 6, 7)}, names, inputs={"images": (1, 1, 64, 96)}),
                  info({"output0": (1, 6, 7)}, names, dtype="int64"),
                  info({"output0": (1, 6, 7), "output1": (1, 6, 7)}, names),
                  info({"output0": (1, 6, 7)}, names, size=(64, "w")),
                  info({"output0": (6, 7)}, names)]:
        assert ultralytics.recognise(graph) is None


def test_ultralytics_v8_one_class_export_detects_through_the_centred_letterbox(tmp_path: Path) -> None:
    """An uncarded one-class v8 export (5 rows), 64 x 96 input, a 96 x 32 frame (letterboxed
    with 16 rows of padding above): the box comes back in frame pixels, class 0, its score;
    a cell at conf - 0.01 is dropped.

    Kills ultralytics decode and recognise mutants (rows - 4, column selection, ``>=``)."""
    pred = np.zeros((1, 5, CELLS_64x96), np.float32)
    pred[0, :, 7] = [48, 32, 20, 10, 0.75]
    pred[0, :, 9] = [10, 40, 8, 8, 0.24]
    det, found = detect(tmp_path, {"output0": pred}, (64, 96), (32, 96))
    assert det.labels == ("class_0",) and det.card.outputs == {"output": "output0", "layout": "v8"}
    check(found, [[38, 11, 58, 21]], [0.75], [0])


def test_ultralytics_v5_export_with_stride_64_detects_objectness_times_class(tmp_path: Path) -> None:
    """An uncarded YOLOv5 export with a stride-64 level (metadata ``stride: 64`` only),
    128 x 128 input, three anchors per cell (3 x 340 rows), two classes, a 128 x 64 frame
    (letterboxed, 32 columns of padding left): score is objectness x best class.

    Kills the v5 branch of decode (objectness column, ``* class_score``, both ``>= conf``: a
    row with objectness and score equal to conf is kept)."""
    rows = 3 * (16 * 16 + 8 * 8 + 4 * 4 + 2 * 2)
    pred = np.zeros((1, rows, 7), np.float32)
    pred[0, 5] = [64, 40, 32, 16, 0.8, 0.25, 0.5]     # 0.8 x 0.5 = 0.4, class 1
    pred[0, 900] = [40, 80, 10, 20, 0.9, 0.6, 0.3]    # 0.54, class 0
    pred[0, 20] = [10, 10, 4, 4, 0.2, 0.9, 0.0]       # objectness under conf
    pred[0, 30] = [10, 10, 4, 4, 0.5, 0.45, 0.0]      # 0.225 under conf
    pred[0, 40] = [70, 100, 8, 8, 0.25, 1.0, 0.0]         # objectness and score = conf: kept
    det, found = detect(tmp_path, {"output": pred}, (128, 128), (128, 64), {"stride": "64"})
    assert det.card.outputs == {"output": "output", "layout": "v5"} and det.labels == ("class_0", "class_1")
    check(found, [[3, 70, 13, 90], [16, 32, 48, 48], [34, 96, 42, 104]], [0.54, 0.4, 0.25], [0, 1, 0])


# -- fastestdet.py -------------------------------------------------------------------------------

def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def test_fastestdet_recognition_needs_a_stride_16_map_of_a_fixed_image() -> None:
    """``[1, 5 + nc, H // 16, W // 16]`` (floor: a 40 x 72 input has a 2 x 4 map), at least
    one class; the card has BGR, /255, stretch and no labels.

    Kills fastestdet.recognise 1-40."""
    expected = Recognition(family="fastestdet",
                           input={"name": "images", "height": 40, "width": 72, "color": "bgr",
                                  "mean": (0.0, 0.0, 0.0), "std": (255.0, 255.0, 255.0), "resize": "stretch",
                                  "letterbox_align": "center", "pad_value": 0.0},
                           outputs={"output": "758"}, num_classes=1)
    assert fastestdet.recognise(info({"758": (1, 6, 2, 4)}, size=(40, 72))) == expected
    assert fastestdet.recognise(info({"758": (1, 7, 2, 4)}, size=(32, 64))).num_classes == 2
    for graph in [info({"758": (1, 5, 2, 4)}, size=(32, 64)),
                  info({"758": (1, "c", 2, 4)}, size=(32, 64)),
                  info({"758": (2, 7, 2, 4)}, size=(32, 64)),
                  info({"758": (1, 7, 4, 2)}, size=(32, 64)),
                  info({"758": (1, 7, 2, 3)}, size=(32, 64)),
                  info({"758": (1, 7, 3, 4)}, size=(32, 64)),
                  info({"758": (1, 7, 2, 4)}, size=("h", "w")),
                  info({"758": (1, 7, 2, 4)}, inputs={"images": (1, 4, 32, 64)}),
                  info({"758": (1, 7, 2, 4), "759": (1, 7, 2, 4)}, size=(32, 64)),
                  info({"758": (1, 7, 8)}, size=(32, 64))]:
        assert fastestdet.recognise(graph) is None


def test_fastestdet_decodes_cells_of_a_wide_map_through_the_stretch(tmp_path: Path) -> None:
    """A 32 x 64 input (a 2 x 4 map), two classes, a 128 x 96 frame (stretched: x times 2, y
    times 3). Centre from the cell plus tanh of the offsets, size from sigmoid times the input,
    score ``obj ** 0.6 * cls ** 0.4`` (kept when equal to conf: 1.0 at conf 1).

    Kills fastestdet.decode 1-40 (rows and columns, tanh, sigmoid, the exponents, ``>=``)."""
    fmap = np.zeros((1, 7, 2, 4), np.float32)
    fmap[0, :, 1, 2] = [0.8, 0.5, -0.3, 0.2, -0.4, 0.1, 0.9]
    fmap[0, :, 0, 3] = [0.6, -0.2, 0.4, -1.0, -1.5, 0.7, 0.2]
    fmap[0, :, 0, 0] = [0.05, 0, 0, 0, 0, 0.9, 0.0]  # 0.05 ** 0.6 * 0.9 ** 0.4 = 0.16
    fmap[0, :, 1, 0] = [1.0, 0.5, 0, -2.0, -1.0, 1.0, 0.0]  # score 1.0: the only one at conf 1
    det, found = detect(tmp_path, {"758": fmap}, (32, 64), (96, 128))
    assert det.card.family == "fastestdet" and det.labels == ("class_0", "class_1")
    expected = []
    for (row, col) in [(1, 0), (1, 2), (0, 3)]:
        obj, dx, dy, dw, dh, c0, c1 = fmap[0, :, row, col].tolist()
        cx, cy = (col + math.tanh(dx)) / 4 * 64, (row + math.tanh(dy)) / 2 * 32
        w, h = _sigmoid(dw) * 64, _sigmoid(dh) * 32
        expected.append(([2 * (cx - w / 2), 3 * (cy - h / 2), 2 * (cx + w / 2), 3 * (cy + h / 2)],
                         obj ** 0.6 * max(c0, c1) ** 0.4, int(c1 > c0)))
    check(found, [e[0] for e in expected], [e[1] for e in expected], [e[2] for e in expected])
    only = Detector(det.path, device="cpu", conf=1.0).detect(np.zeros((96, 128, 3), np.uint8))
    check(only, [expected[0][0]], [1.0], [0])


# -- centerface.py -------------------------------------------------------------------------------

CENTERFACE_OUTPUTS = {"537": 1, "538": 2, "539": 2, "540": 10}


def _centerface_shapes(rows: int | str = 8, cols: int | str = 16, batch: int | str = 1) -> dict[str, tuple]:
    return {name: (batch, channels, rows, cols) for name, channels in CENTERFACE_OUTPUTS.items()}


def test_centerface_recognition_four_maps_and_the_default_size() -> None:
    """Heatmap, scale, offset and landmarks maps (1, 2, 2, 10 channels, in that order) of a
    one-frame image input; an open height and width take 640 x 384; one class, "face".

    Kills centerface.recognise 1-45."""
    cf_input = {"color": "rgb", "mean": (0.0, 0.0, 0.0), "std": (1.0, 1.0, 1.0), "resize": "letterbox",
                "letterbox_align": "topleft", "pad_value": 0.0}
    outputs = {"heatmap": "537", "scale": "538", "offset": "539", "landmarks": "540"}
    fixed = centerface.recognise(info(_centerface_shapes(), size=(32, 64)))
    assert fixed == Recognition(family="centerface", input={"name": "images", "height": 32, "width": 64, **cf_input},
                                outputs=outputs, num_classes=1, labels=("face",))
    for size in [("h", "w"), (32, "w"), ("h", 64)]:
        open_size = centerface.recognise(info(_centerface_shapes("r", "c"), inputs={"images": ("N", 3, *size)}))
        assert open_size is not None and (open_size.input["height"], open_size.input["width"]) == (384, 640)
    assert centerface.DEFAULT_SIZE == (640, 384)
    wrong = [info(_centerface_shapes(), inputs={"images": (10, 3, 32, 32)}),
             info(_centerface_shapes(), inputs={"images": (1, 1, 32, 64)}),
             info(dict(list(_centerface_shapes().items())[:3]), size=(32, 64)),
             info({**_centerface_shapes(), "541": (1, 1, 8, 16)}, size=(32, 64)),
             info({n: (1, c, 8, 16) for n, c in zip(CENTERFACE_OUTPUTS, (2, 1, 2, 10))}, size=(32, 64)),
             info({n: (1, c, 8, 16) for n, c in zip(CENTERFACE_OUTPUTS, (1, 2, 2, 5))}, size=(32, 64)),
             info({n: (1, c, 8) for n, c in CENTERFACE_OUTPUTS.items()}, size=(32, 64)),
             info(_centerface_shapes(), size=(32, 64), dtype="float16")]
    for graph in wrong:
        assert centerface.recognise(graph) is None
    assert centerface.output_names(outputs) == ["537", "538", "539"]


def test_centerface_decodes_faces_through_the_top_left_letterbox(tmp_path: Path) -> None:
    """A 32 x 64 input (8 x 16 maps), a 128 x 128 frame (a quarter of its size, at the top
    left: no padding on the left, where the centred letterbox would have 16 columns). ``h, w = exp(scale) * 4``, ``cy, cx = (cell + offset + 0.5) * 4``;
    a heatmap value equal to conf is kept, one below it is not.

    Kills centerface.decode 1-45 (the channel order, exp, the 0.5, the stride, ``>=``)."""
    heat = np.zeros((1, 1, 8, 16), np.float32)
    scale = np.zeros((1, 2, 8, 16), np.float32)
    offset = np.zeros((1, 2, 8, 16), np.float32)
    heat[0, 0, 2, 5], scale[0, :, 2, 5], offset[0, :, 2, 5] = 0.9, [math.log(3), math.log(2)], [0.25, -0.5]
    heat[0, 0, 6, 6], offset[0, :, 6, 6] = 0.6, [0.5, 0.25]
    heat[0, 0, 0, 0] = 0.5
    heat[0, 0, 4, 2] = 0.49
    outputs = {"537": heat, "538": scale, "539": offset, "540": np.zeros((1, 10, 8, 16), np.float32)}
    det, found = detect(tmp_path, outputs, (32, 64), (128, 128), conf=0.5)
    assert det.card.family == "centerface" and det.labels == ("face",)
    # model boxes: cx 20, cy 11, 8 x 12; cx 27, cy 28, 4 x 4; cx 2, cy 2, 4 x 4 (times 4 in the frame)
    check(found, [[64, 20, 96, 68], [100, 104, 116, 120], [0, 0, 16, 16]], [0.9, 0.6, 0.5], [0, 0, 0])


# -- yolox.py ------------------------------------------------------------------------------------

def test_yolox_recognition_one_row_per_cell_and_no_ultralytics_metadata() -> None:
    """``[1, cells, 5 + nc]`` of a fixed input, at least one class, no Ultralytics metadata;
    the card has BGR, raw pixels, top-left letterbox with 114 and the strides.

    Kills yolox.recognise 1-35."""
    expected = Recognition(family="yolox",
                           input={"name": "images", "height": 64, "width": 96, "color": "bgr",
                                  "mean": (0.0, 0.0, 0.0), "std": (1.0, 1.0, 1.0), "resize": "letterbox",
                                  "letterbox_align": "topleft", "pad_value": 114.0},
                           outputs={"output": "output", "strides": [8, 16, 32]}, num_classes=1)
    assert yolox.recognise(info({"output": (1, CELLS_64x96, 6)})) == expected
    for graph in [info({"output": (1, CELLS_64x96, 5)}),
                  info({"output": (1, CELLS_64x96, "c")}),
                  info({"output": (2, CELLS_64x96, 6)}),
                  info({"output": (1, CELLS_64x96 + 1, 6)}),
                  info({"output": (1, CELLS_64x96, 6)}, size=("h", "w")),
                  info({"output": (1, CELLS_64x96, 6)}, {"author": "Ultralytics"}),
                  info({"output": (1, CELLS_64x96, 6)}, {"names": "['a']", "stride": "32"}),
                  info({"output": (1, CELLS_64x96, 6)}, inputs={"images": (1, 3, 64, 96), "b": (1, 3, 64, 96)}),
                  info({"output": (1, CELLS_64x96, 6, 1)})]:
        assert yolox.recognise(graph) is None


def test_yolox_decodes_cells_of_each_level_through_the_top_left_letterbox(tmp_path: Path) -> None:
    """A 64 x 96 input (levels 8 x 12, 4 x 6, 2 x 3), a 96 x 128 frame (half size at the top
    left). ``c = (offset + cell) * stride``, ``size = exp(raw) * stride``, score objectness x
    best class; objectness under conf, or a product under it, is dropped; a product equal to it
    is kept.

    Kills yolox.decode 1-35 (the grid's levels and rows, exp, the product, ``>=``)."""
    pred = np.zeros((1, CELLS_64x96, 7), np.float32)
    pred[0, 12 + 1] = [0.5, 0.25, math.log(2), 0, 0.9, 0.8, 0.1]      # stride 8, row 1, col 1
    pred[0, 96 + 6 + 1] = [0, 0, 0, math.log(2), 0.8, 0.1, 0.7]       # stride 16, row 1, col 1
    pred[0, 120 + 3 + 1] = [0.25, 0.5, math.log(0.5), math.log(0.5), 0.95, 0.9, 0.0]  # stride 32
    pred[0, 5] = [0, 0, 0, 0, 0.2, 0.9, 0.9]
    pred[0, 6] = [0, 0, 0, 0, 0.5, 0.4, 0.4]
    pred[0, 96 + 18] = [0.5, 0.5, 0, 0, 0.25, 0.0, 1.0]              # stride 16, row 3, col 0: = conf
    det, found = detect(tmp_path, {"output": pred}, (64, 96), (128, 96))
    assert det.card.family == "yolox" and det.card.outputs["strides"] == [8, 16, 32]
    # model boxes: [4, 6, 20, 14]; [8, 0, 24, 32]; [32, 40, 48, 56]; [0, 48, 16, 64] (times 2 in the frame)
    check(found, [[64, 80, 96, 112], [8, 12, 40, 28], [16, 0, 48, 64], [0, 96, 32, 128]],
          [0.855, 0.72, 0.56, 0.25], [0, 0, 1, 1])


# -- layout.py -----------------------------------------------------------------------------------

def test_layout_shape_helpers_on_odd_sizes() -> None:
    """Grids round up per axis (a 40 x 72 input: 5 x 9, 3 x 5, 2 x 3); cells run row-major,
    level after level, as float32; an image input is one float32 ``[1, 3, H, W]`` and a fixed
    size has both dimensions positive.

    Kills layout level_sizes, grid_cells, cell_grid, image_input, static_hw, single_output
    mutants."""
    assert layout.level_sizes(40, 72, (8, 16, 32)) == [(5, 9), (3, 5), (2, 3)]
    assert layout.grid_cells(40, 72, (8, 16, 32)) == 45 + 15 + 6
    col, row, stride = layout.cell_grid(40, 72, (8, 16))
    assert col.dtype == row.dtype == stride.dtype == np.float32 and len(col) == 60
    assert col[:10].tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 8, 0] and row[:10].tolist() == [0] * 9 + [1]
    assert (col[44], row[44], stride[44]) == (8, 4, 8)
    assert col[45:].tolist() == [0, 1, 2, 3, 4] * 3 and row[45:].tolist() == [0] * 5 + [1] * 5 + [2] * 5
    assert stride[45:].tolist() == [16] * 15
    image = TensorInfo("images", (1, 3, 40, 72), "float32")
    assert layout.image_input(info({}, inputs={"images": (1, 3, 40, 72)})) == image
    for inputs in [{"images": (1, 1, 40, 72)}, {"images": (1, 3, 40)}, {"images": (1, 3, 40, 72, 1)},
                   {"images": (1, 3, 40, 72), "mask": (1, 1, 40, 72)}, {}]:
        assert layout.image_input(info({}, inputs=inputs)) is None
    assert layout.image_input(GraphInfo(Path("x.onnx"), (TensorInfo("images", (1, 3, 40, 72), "float16"),), (), {})) is None
    assert layout.static_hw(image) == (40, 72)
    assert layout.static_hw(TensorInfo("images", (1, 3, 1, 1), "float32")) == (1, 1)
    for dims in [(0, 72), (40, 0), (-1, 72), (40, -1), ("h", 72), (40, "w"), (None, 72)]:
        assert layout.static_hw(TensorInfo("images", (1, 3, *dims), "float32")) is None
    assert layout.single_output(info({"o": (1, 2, 3)}), rank=3) == TensorInfo("o", (1, 2, 3), "float32")
    assert layout.single_output(info({"o": (1, 2, 3)}), rank=4) is None
    assert layout.single_output(info({"o": (1, 2, 3)}, dtype="float16"), rank=3) is None
    assert layout.single_output(info({"o": (1, 2, 3), "p": (1, 2, 3)}), rank=3) is None


def test_layout_best_class_and_corners_are_float32_from_float64() -> None:
    """``best_class`` takes the first of equal best scores and returns int32 and float32;
    ``cxcywh_to_xyxy`` halves the sizes and returns float32 (N, 4), also from float64.

    Kills layout best_class and cxcywh_to_xyxy mutants (axis, dtype, the halves)."""
    class_id, score = layout.best_class(np.array([[0.1, 0.7, 0.2], [0.5, 0.5, 0.1]], np.float64))
    assert class_id.dtype == np.int32 and class_id.tolist() == [1, 0]
    assert score.dtype == np.float32 and score.tolist() == pytest.approx([0.7, 0.5])
    xyxy = layout.cxcywh_to_xyxy(*np.array([[10.0, 20.0], [30.0, 40.0], [4.0, 8.0], [6.0, 2.0]]))
    assert xyxy.dtype == np.float32 and xyxy.tolist() == [[8, 27, 12, 33], [16, 39, 24, 41]]


# -- nanodet.py ----------------------------------------------------------------------------------

def _nanodet_shapes(levels: list[int], classes: int = 3, box: int = 32) -> dict[str, tuple]:
    shapes = {f"cls{i}": (1, cells, classes) for i, cells in enumerate(levels)}
    return shapes | {f"reg{i}": (1, cells, box) for i, cells in enumerate(levels)}


def test_nanodet_recognition_four_levels_reg_max_7_and_what_is_not_nanodet() -> None:
    """A 40 x 72 input with a stride-64 level (cells 45, 15, 6, 2), reg_max 7 (32 box
    channels), 3 classes: recognised with the levels in stride order; a dynamic dimension,
    another dtype or rank, a batch of 2, a third group, a level missing, box channels no
    NanoDet uses, or both groups looking like boxes: not.

    Kills nanodet._levels and recognise mutants."""
    cells = [45, 15, 6, 2]
    found = nanodet.recognise(info(_nanodet_shapes(cells), size=(40, 72)))
    assert found == Recognition(
        family="nanodet",
        input={"name": "images", "height": 40, "width": 72, **nanodet.DEFAULT_INPUT},
        outputs={"scores": ["cls0", "cls1", "cls2", "cls3"], "boxes": ["reg0", "reg1", "reg2", "reg3"],
                 "strides": [8, 16, 32, 64], "reg_max": 7},
        num_classes=3)
    assert nanodet.DEFAULT_INPUT["color"] == "bgr" and nanodet.DEFAULT_INPUT["resize"] == "stretch"
    three = nanodet.recognise(info(_nanodet_shapes(cells[:3], box=44), size=(40, 72)))
    assert three is not None and three.outputs["strides"] == [8, 16, 32] and three.outputs["reg_max"] == 10
    wrong = [_nanodet_shapes(cells) | {"cls0": (1, "n", 3)},
             _nanodet_shapes(cells) | {"cls0": (2, 45, 3)},
             _nanodet_shapes(cells) | {"cls0": (1, 45, 3, 1)},
             _nanodet_shapes(cells) | {"extra": (1, 45, 5)},
             _nanodet_shapes(cells[:3] + [3]),
             _nanodet_shapes(cells, box=36),
             _nanodet_shapes(cells, box=30),
             _nanodet_shapes(cells, classes=44),
             _nanodet_shapes(cells[1:])]
    for shapes in wrong:
        assert nanodet.recognise(info(shapes, size=(40, 72))) is None, shapes
    assert nanodet.recognise(info(_nanodet_shapes(cells), size=(40, 72), dtype="float16")) is None
    assert nanodet.recognise(info(_nanodet_shapes(cells[:3], box=44), size=("h", "w"))) is None


def test_nanodet_decodes_expected_distances_on_two_levels(tmp_path: Path) -> None:
    """An uncarded 4-level NanoDet (reg_max 7) on a 40 x 72 input, a 80 x 144 frame (stretch:
    everything doubles). Distances are softmax expectations (two equal bins give their mean),
    times the stride, from the cell centre; the score is the best class's (kept when equal to conf), classes per level.

    Kills nanodet.decode mutants (bins, the softmax, the centre's 0.5, columns, ``>=``)."""
    cells = {0: 45, 1: 15, 2: 6, 3: 2}
    outputs = {f"cls{i}": np.zeros((1, n, 3), np.float32) for i, n in cells.items()}
    outputs |= {f"reg{i}": np.zeros((1, n, 32), np.float32) for i, n in cells.items()}
    # stride 8, row 2, col 7, centre (60, 20): l t r b = bins 1, (1 and 2: 1.5), 0, 1 -> 8, 12, 0, 8
    outputs["cls0"][0, 2 * 9 + 7] = [0.1, 0.2, 0.8]
    for side, bins in enumerate([(1,), (1, 2), (0,), (1,)]):
        for b in bins:
            outputs["reg0"][0, 2 * 9 + 7, side * 8 + b] = 60.0  # exp(60 + 60) would overflow float32
    # stride 64, col 0, centre (32, 32): bins 0 and 1 only, weights 3:1 (l t r: 0.25 x 64) and 7:1 (b)
    outputs["cls3"][0, 0] = [0.5, 0.1, 0.2]
    outputs["reg3"][0, 0] = -50.0
    for side, first in enumerate([math.log(3)] * 3 + [math.log(7)]):
        outputs["reg3"][0, 0, side * 8: side * 8 + 2] = [first, 0.0]
    outputs["cls1"][0, 3] = [0.24, 0.0, 0.0]
    # stride 16, row 2, col 4, centre (72, 40), score = conf: l t r b = 0 (all bins 0: 3.5 x 16 = 56)
    outputs["cls1"][0, 2 * 5 + 4] = [0.0, 0.25, 0.0]
    det, found = detect(tmp_path, outputs, (40, 72), (80, 144), conf=0.25)
    # model boxes: [52, 8, 60, 28]; [16, 16, 48, 40]; [16, -16, 128, 96] (clipped to the frame)
    check(found, [[104, 16, 120, 56], [32, 32, 96, 80], [32, 0, 144, 80]], [0.8, 0.5, 0.25], [2, 0, 1])
    assert det.card.outputs["reg_max"] == 7
