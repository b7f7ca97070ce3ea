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

import numpy as np
import pytest

import naive_decode as naive
from streamer.detection import Detector
from streamer.detection.families import centerface, fastestdet, layout, nanodet, ultralytics, yolox
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
           metadata: dict[str, str] | None = None, conf: float = 0.25, **kwargs) -> tuple[Detector, object]:
    """Run an uncarded constant model (input ``[1, 3, *size]``) on a black ``frame`` (h, w)."""
    path = naive.constant_model(tmp_path / "uncarded.onnx", {"images": [1, 3, *size]}, outputs, metadata)
    det = Detector(path, device="cpu", conf=conf, **kwargs)
    assert det.card_path is None  # recognised from the graph
    return det, det.detect(np.zeros((*frame, 3), np.uint8))


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
    for bad in [None, "{1: 'dog', 2: 'cat'}", "{0: 'a', 2: 'b'}", "[]", "()", "3", "{0: 'cat'",
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
])
def test_ultralytics_layout_from_names_or_grid(metadata: dict, shape: tuple, expected: tuple | None) -> None:
    """Kills _layout 1-40 and _strides 1-12 (the bounds 5 and 6, ``3 *``, ``rows - 4``,
    ``cols - 5``, ``== 64``, the stride key, the labels' count)."""
    found = ultralytics.recognise(info({"output0": shape}, metadata))
    assert (None if found is None else (found.outputs["layout"], found.num_classes)) == expected
    if found is not None:
        assert found.outputs["output"] == "output0"


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

    Kills the v5 branch of decode (objectness column, ``* class_score``, both ``>= conf``)."""
    rows = 3 * (16 * 16 + 8 * 8 + 4 * 4 + 2 * 2)
    pred = np.zeros((1, rows, 7), np.float32)
    pred[0, 5] = [64, 40, 32, 16, 0.8, 0.25, 0.5]     # 0.8 x 0.5 = 0.4, class 1
    pred[0, 900] = [40, 80, 10, 20, 0.9, 0.6, 0.3]    # 0.54, class 0
    pred[0, 20] = [10, 10, 4, 4, 0.2, 0.9, 0.0]       # objectness under conf
    pred[0, 30] = [10, 10, 4, 4, 0.5, 0.45, 0.0]      # 0.225 under conf
    det, found = detect(tmp_path, {"output": pred}, (128, 128), (128, 64), {"stride": "64"})
    assert det.card.outputs == {"output": "output", "layout": "v5"} and det.labels == ("class_0", "class_1")
    check(found, [[3, 70, 13, 90], [16, 32, 48, 48]], [0.54, 0.4], [0, 1])
