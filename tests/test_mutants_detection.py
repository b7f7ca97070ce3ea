"""Tests that kill mutants of ``streamer/detection/`` that mutmut found alive (issue 11;
docs/testing.md lists each one and the verdict on the rest).

Tiny constant-output ONNX models (tests/test_bites.py's ``constant_detector``: the
Ultralytics v8 layout, 64x64 input, a card beside it; or no card, recognised from the
graph) run by the real ONNX Runtime through the real :class:`Detector`.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

import naive_decode as naive
from streamer.detection import Detector, describe_model
from streamer.errors import ConfigError
from test_bites import SIZE, constant_detector

FRAME = np.zeros((SIZE, SIZE, 3), np.uint8)


def test_detector_accepts_the_edges_of_its_ranges(tmp_path: Path) -> None:
    """conf 0 and 1, iou 1, max_det 1, threads 1 and class id 0 are valid; max_det defaults
    to 300; 0 for max_det or threads is not; the device message lists the choices.

    Kills _unit_interval 3-4, _class_ids 2, 10-11, 30, 32 and __init__ 1, 16-17, 22, 25-28,
    43, 46, 51."""
    model = constant_detector(tmp_path, [([8, 8, 24, 24], 0.5)])
    det = Detector(model, device="cpu", conf=0.0, iou=1.0, max_det=1, threads=1, classes=0)
    assert (det.conf, det.iou, det.max_det, det.input_size) == (0.0, 1.0, 1, (SIZE, SIZE))
    assert type(det.max_det) is int
    assert det._class_ids.dtype == np.int32 and det._class_ids.tolist() == [0]
    assert det._session.get_session_options().intra_op_num_threads == 1
    assert Detector(model, device="cpu", conf=1.0, classes="Other").max_det == 300
    assert Detector(model, device="cpu", classes="Other")._class_ids.tolist() == [1]
    for bad, message in [({"max_det": 0}, "max_det must be >= 1, got 0"),
                         ({"threads": 0}, "threads must be >= 1, got 0"),
                         ({"device": "tpu"}, "device must be one of auto, cpu, cuda, tensorrt, got 'tpu'"),
                         ({"classes": [2]}, "classes: class id 2 out of range: the model has 2 classes")]:
        with pytest.raises(ConfigError) as info:
            Detector(model, **{"device": "cpu", **bad})
        assert str(info.value) == message


def test_detector_is_confined_to_its_first_thread(tmp_path: Path) -> None:
    """Kills _confine 1, 3, 5-8 (no confinement, or another message)."""
    det = Detector(constant_detector(tmp_path, [([8, 8, 24, 24], 0.9)]), device="cpu")
    assert len(det.detect(FRAME)) == 1
    caught: list[BaseException] = []

    def other() -> None:
        try:
            det.detect(FRAME)
        except RuntimeError as exc:
            caught.append(exc)

    t = threading.Thread(target=other, name="other-thread")
    t.start()
    t.join(10)
    assert [str(e) for e in caught] == ["Detector is confined to the thread that first used it; create one per thread"]


def test_boxes_are_clipped_to_the_frame_and_empty_ones_dropped(tmp_path: Path) -> None:
    """Stretch, 64x64 frame: model pixels are frame pixels. A box over the top-left corner is
    clipped to 0 (not 1); one left of the frame (zero width once clipped) and one below it
    (zero height) are dropped; a thin box whose x2 is left of its y1 stays.

    Kills decode 52, 65 (clip at 1), 69, 71-72, 74 (which boxes are visible)."""
    boxes = [([-10, -6, 20, 30], 0.9), ([-30, 10, -5, 40], 0.8), ([30, 40, 36, 60], 0.7), ([40, 70, 60, 80], 0.6)]
    found = Detector(constant_detector(tmp_path, boxes), device="cpu", conf=0.5).detect(FRAME)
    np.testing.assert_allclose(found.xyxy, [[0, 0, 20, 30], [30, 40, 36, 60]], atol=1e-4)
    assert found.confidence.tolist() == pytest.approx([0.9, 0.7])
    assert found.class_id.tolist() == [0, 0]


def test_a_score_equal_to_conf_is_kept(tmp_path: Path) -> None:
    """``conf`` is the minimum score, inclusive (0.5 is exact in float32).

    Kills ultralytics.decode 13 (class 0's column skipped) and 17 (``>`` instead of ``>=``)."""
    found = Detector(constant_detector(tmp_path, [([8, 8, 24, 24], 0.5)]), device="cpu", conf=0.5).detect(FRAME)
    assert found.confidence.tolist() == [0.5]


def test_rgb_models_get_red_first(tmp_path: Path) -> None:
    """The card says ``color: rgb``: the first plane of the model input is the frame's red.

    Kills prepare 8, 21-22 (no swap)."""
    det = Detector(constant_detector(tmp_path, [([8, 8, 24, 24], 0.9)]), device="cpu")
    frame = np.empty((SIZE, SIZE, 3), np.uint8)
    frame[...] = (10, 20, 30)  # B, G, R
    det.prepare(frame)
    blob = det.model_io[1]
    assert blob[0, :, 0, 0].tolist() == pytest.approx([30 / 255, 20 / 255, 10 / 255])


def test_uncarded_ultralytics_export_is_recognised_with_its_size_and_names(tmp_path: Path) -> None:
    """An Ultralytics export without a card, 64 high and 96 wide, class names in its metadata:
    recognised as v8, input 96x64 (not 64x64), the names as labels.

    Kills ultralytics.recognise 40, metadata_labels 14-16 and has_metadata 2-18 in part."""
    height, width, names = 64, 96, ["cat", "dog"]
    cells = (8 * 12) + (4 * 6) + (2 * 3)  # strides 8, 16, 32
    path = naive.constant_model(tmp_path / "export.onnx", {"images": [1, 3, height, width]},
                                {"output0": np.zeros((1, 4 + len(names), cells), np.float32)},
                                metadata={"author": "Ultralytics", "names": str(dict(enumerate(names)))})
    found = describe_model(path)
    assert (found.family, found.labels) == ("ultralytics", tuple(names))
    assert (found.card.input.width, found.card.input.height) == (width, height)
    assert found.card.outputs["layout"] == "v8"
