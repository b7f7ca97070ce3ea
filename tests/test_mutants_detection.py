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


def test_letterbox_padding_takes_the_cards_pad_value(tmp_path: Path) -> None:
    """A card with ``pad_value: 0``: the rows a wide frame leaves empty are 0, not the
    default 114. Kills prepare 15-16 (pad_value not passed)."""
    import yaml

    model = constant_detector(tmp_path, [([8, 8, 24, 24], 0.9)], resize="letterbox")
    card = yaml.safe_load(model.with_suffix(".yaml").read_text())
    card["input"]["pad_value"] = 0
    model.with_suffix(".yaml").write_text(yaml.safe_dump(card))
    det = Detector(model, device="cpu")
    det.prepare(np.full((SIZE // 2, SIZE, 3), 200, np.uint8))
    blob = det.model_io[1]
    assert blob[0, :, 0, :].max() == 0.0 and blob[0, :, SIZE // 2, :].min() == pytest.approx(200 / 255)


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


# -- streamer/stages.py: DetectStage ----------------------------------------------------------------

def _motion(score: float, reset: bool = False) -> object:
    from streamer.kernels import MotionResult

    return MotionResult(mask=None, boxes=np.empty((0, 4), np.int32), areas=np.empty(0, np.int64),
                        score=score, reset=reset)


def test_detect_stage_schedule_reuse_motion_gate_and_figures(tmp_path: Path) -> None:
    """Two detector threads, every 3rd frame, a motion gate of 0.1: frames 0, 3, 9 are
    detected (6 is still, 9 moves; 0 is a reset), the others carry the newest boxes in frame
    order; the counts and stats figures say so, and both detectors go back to the pool.

    Kills DetectStage.__init__, start, process, ordered, figures and finish mutants."""
    from fractions import Fraction

    from streamer.frames import Frame
    from streamer.pipeline import Pipeline
    from streamer.stages import DetectStage

    model = constant_detector(tmp_path, [([8, 8, 24, 24], 0.9)])
    detectors = [Detector(model, device="cpu") for _ in range(2)]
    stage = DetectStage(detectors, every=3, min_motion=0.1)
    assert (stage.workers, stage.every, stage.interval, stage.runs, stage.skipped_still) == (2, 3, 3, 0, 0)
    # 3: exactly the gate (not still); 6, 7: still; 9 moves
    scores = {0: _motion(0.0, reset=True), 3: _motion(0.1), 6: _motion(0.05), 7: _motion(0.0), 9: _motion(0.5)}
    seen: list[Frame] = []

    class Keep:
        name = "keep"

        def start(self) -> None: ...

        def process(self, frame: Frame) -> None:
            seen.append(frame)

        def finish(self) -> None: ...

    def frames():
        for i in range(11):
            frame = Frame(i, i, Fraction(1, 25), 0.0, np.zeros((SIZE, SIZE, 3), np.uint8))
            frame.motion = scores.get(i, _motion(0.2))
            yield frame

    Pipeline(frames, [stage, Keep()]).run()
    assert [f.index for f in seen] == list(range(11))
    assert [f.index for f in seen if f.detected] == [0, 3, 9]
    assert all(f.detections is not None and len(f.detections) == 1 for f in seen)
    assert seen[4].detections is seen[3].detections and seen[8].detections is seen[3].detections
    assert seen[10].detections is seen[9].detections
    assert (stage.runs, stage.skipped_still, dict(stage.per_class)) == (3, 2, {0: 3})
    assert stage.figures(2.0) == {"detect_interval": 3, "detected": 3, "detect_fps": 1.5}
    assert stage.figures(7.0)["detect_fps"] == 0.43 and stage.figures(0.5)["detect_fps"] == 6.0
    assert stage.figures(0.0)["detect_fps"] == 0.0
    assert sorted(map(id, stage._pool)) == sorted(map(id, detectors))
    with pytest.raises(ValueError, match=r"^detect every must be >= 1, got 0$"):
        DetectStage(detectors, every=0)
    with pytest.raises(ValueError, match=r"^DetectStage needs at least one detector or a detector service client$"):
        DetectStage([])


def test_a_detector_handed_back_to_the_pool_works_in_the_next_thread(tmp_path: Path) -> None:
    """A worker that starts after its peer finished takes the detector that peer used (a
    thread started late under load, or the next run's): it failed with "Detector is confined
    to the thread that first used it" before. The peer thread stays alive, so its id is not
    reused."""
    from fractions import Fraction

    from streamer.frames import Frame
    from streamer.stages import DetectStage

    stage = DetectStage([Detector(constant_detector(tmp_path, [([8, 8, 24, 24], 0.9)]), device="cpu")])
    frame = Frame(0, 0, Fraction(1, 25), 0.0, np.zeros((SIZE, SIZE, 3), np.uint8))
    done, hold = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def first_worker() -> None:
        try:
            stage.start()
            stage.process(frame)
            stage.finish()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        done.set()
        hold.wait(10)

    peer = threading.Thread(target=first_worker, name="first-worker")
    peer.start()
    try:
        assert done.wait(30) and errors == []
        stage.start()  # this thread takes the same detector over
        again = Frame(1, 1, Fraction(1, 25), 0.0, np.zeros((SIZE, SIZE, 3), np.uint8))
        assert stage.process(again).detected and len(again.detections) == 1
        stage.finish()
    finally:
        hold.set()
        peer.join(10)
