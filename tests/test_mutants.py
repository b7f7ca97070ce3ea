"""Tests that kill mutants mutmut found alive (issue 11; docs/testing.md lists each one).

Each test names the module and the behaviour the surviving mutant changed. Everything runs
on real parts: the real queues and pipeline threads, real PyAV files, the real ONNX Runtime
on tiny models written with ``onnx.helper``.
"""

from __future__ import annotations

import numpy as np
import pytest

from streamer.detection.nms import batched_nms, nms
from streamer.queues import FrameQueue, Policy, QueueAborted, QueueClosed


# -- streamer/queues.py ---------------------------------------------------------------------------

@pytest.mark.parametrize("policy", [Policy.BLOCK, Policy.LATEST])
def test_queue_counts_every_accepted_item(policy: Policy) -> None:
    """``put_count`` counts every item queued, also those a LATEST queue later drops.

    Kills ``self.put_count += 1`` -> ``= 1`` and ``-= 1`` (queues.put).
    """
    q: FrameQueue[int] = FrameQueue(2, policy, name="decode->kernels")
    for i in range(2):
        q.put(i)
    assert q.get() == 0
    q.put(2)
    if policy is Policy.LATEST:
        q.put(3)  # full: drops 1
    assert q.put_count == (4 if policy is Policy.LATEST else 3)
    assert q.high_water == 2


def test_queue_errors_name_the_queue() -> None:
    """A closed or aborted queue says which link it is (``decode->kernels``).

    Kills ``QueueClosed(self.name)`` / ``QueueAborted(self.name)`` -> ``(None)`` in put and get.
    """
    q: FrameQueue[int] = FrameQueue(1, Policy.BLOCK, name="decode->kernels")
    q.close()
    with pytest.raises(QueueClosed, match=r"^decode->kernels$"):
        q.put(0)
    with pytest.raises(QueueClosed, match=r"^decode->kernels$"):
        q.get()
    q.abort()
    with pytest.raises(QueueAborted, match=r"^decode->kernels$"):
        q.put(0)
    with pytest.raises(QueueAborted, match=r"^decode->kernels$"):
        q.get()
    with pytest.raises(TimeoutError, match=r"^kernels->detect$"):
        FrameQueue(1, Policy.LATEST, name="kernels->detect").get(timeout=0.01)


def test_fresh_queue_is_empty_unnamed_and_checks_its_size() -> None:
    """A new queue reports nothing queued yet (high water 0, the figure the stats show), is
    unnamed unless named, and a size under 1 is refused with the size it got.

    Kills ``high_water = 0`` -> ``1``, ``name=""`` -> ``"XXXX"`` and the ValueError's
    message -> ``None`` (queues.__init__).
    """
    q: FrameQueue[int] = FrameQueue(1, Policy.LATEST)
    assert (q.high_water, q.dropped, q.put_count, len(q), q.name) == (0, 0, 0, 0, "")
    assert q.aborted is False
    with pytest.raises(ValueError, match=r"^queue size must be at least 1, got 0$"):
        FrameQueue(0, Policy.BLOCK)


# -- streamer/detection/nms.py --------------------------------------------------------------------

def test_nms_shape_errors_say_what_was_expected_and_got() -> None:
    """Boxes of 5 columns and a score count that differs from the box count are refused
    with the expected and the actual shape, by both NMS entry points.

    Kills ``or`` -> ``and`` in the xyxy check, its message -> ``None``, and ``shape[0]`` ->
    ``shape[1]`` in the scores message (nms._check).
    """
    five_columns = np.zeros((3, 5))
    with pytest.raises(ValueError, match=r"^xyxy must have shape \(N, 4\), got \(3, 5\)$"):
        nms(five_columns, np.ones(3), 0.5)
    with pytest.raises(ValueError, match=r"^scores must have shape \(3,\), got \(2,\)$"):
        nms(np.zeros((3, 4)), np.ones(2), 0.5)
    with pytest.raises(ValueError, match=r"^scores must have shape \(3,\), got \(2,\)$"):
        batched_nms(np.zeros((3, 4)), np.ones(2), np.zeros(3, int), 0.5)


def test_nms_takes_integer_pixel_boxes() -> None:
    """Integer boxes (pixels straight from a label file) work and give the same result as
    floats: 81% overlap suppresses the second box at 0.5, not at 0.9.

    Kills ``np.asarray(xyxy, np.float64)`` -> ``np.asarray(xyxy)`` (nms.nms: integer
    intersections cannot be divided into an integer output array).
    """
    boxes = np.array([[0, 0, 10, 10], [1, 1, 10, 10], [20, 20, 30, 30]])
    scores = np.array([0.9, 0.8, 0.7])
    assert nms(boxes, scores, 0.5).tolist() == [0, 2]
    assert nms(boxes, scores, 0.9).tolist() == [0, 1, 2]
    assert batched_nms(boxes, scores, np.array([0, 0, 1]), 0.5).tolist() == [0, 2]


def test_nms_on_normalised_coordinates() -> None:
    """Boxes in [0, 1] coordinates (under a pixel wide) overlap by their true areas: two
    0.05 x 0.5 boxes with IoU 0.9 suppress each other at 0.5.

    Kills the areas' ``np.clip(..., 0, None)`` -> ``np.clip(..., 1, None)`` in x and in y
    (nms.nms: a box narrower than 1 would count as 1 wide, IoU 0.31). With
    test_nms_takes_integer_pixel_boxes (diagonally apart boxes) it also pins the clip of
    the intersection's width and height at 0.
    """
    wide = np.array([[0.1, 0.2, 0.6, 0.25], [0.1, 0.2, 0.55, 0.25]])
    tall = wide[:, [1, 0, 3, 2]]
    for boxes in (wide, tall):
        assert nms(boxes, np.array([0.9, 0.8]), 0.5).tolist() == [0]
        assert nms(boxes, np.array([0.9, 0.8]), 0.95).tolist() == [0, 1]


def test_nms_results_are_integer_indices_also_when_empty() -> None:
    """No boxes give an empty int64 index array that still indexes the (empty) boxes.

    Kills ``np.asarray(keep, np.int64)`` -> ``np.asarray(keep)`` (nms.nms) and
    ``np.empty(0, np.int64)`` -> ``np.empty(0)`` (nms.batched_nms): an empty float array
    cannot index.
    """
    none = np.zeros((0, 4))
    for keep in (nms(none, np.zeros(0), 0.5), batched_nms(none, np.zeros(0), np.zeros(0, int), 0.5)):
        assert keep.dtype == np.int64 and keep.shape == (0,)
        assert none[keep].shape == (0, 4)


def test_batched_nms_classes_never_touch() -> None:
    """Identical boxes of two classes both survive even at IoU 0 (any overlap suppresses),
    and a class_id array of the wrong length is refused with both shapes.

    Kills ``span = range + 1.0`` -> ``range - 1.0`` (the shifted classes would overlap by
    one pixel), ``max - min`` -> ``max + min`` (negative coordinates) and the class_id message -> ``None`` / ``shape[1]`` (nms.batched_nms).
    """
    boxes = np.array([[0.0, 0.0, 10.0, 10.0], [0.0, 0.0, 10.0, 10.0]])
    assert batched_nms(boxes, np.array([0.9, 0.8]), np.array([0, 1]), 0.0).tolist() == [0, 1]
    assert batched_nms(boxes, np.array([0.9, 0.8]), np.array([1, 1]), 0.0).tolist() == [0]
    # Boxes partly left of and above the frame (negative coordinates) too.
    off_frame = boxes - 5.0  # centred on 0: max + min would be a span of 1
    assert batched_nms(off_frame, np.array([0.9, 0.8]), np.array([0, 1]), 0.0).tolist() == [0, 1]
    with pytest.raises(ValueError, match=r"^class_id must have shape \(2,\), got \(3,\)$"):
        batched_nms(boxes, np.array([0.9, 0.8]), np.zeros(3, int), 0.5)
