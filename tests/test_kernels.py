"""Tests of ``streamer.kernels`` against OpenCV on real frames and against naive references.

Real media comes from ``../shared/media`` (never copied into the repository); tests that
need it skip with the reason when it is absent.  Tolerances are in pixel levels (0-255).
"""

from __future__ import annotations

import threading
from pathlib import Path

import cv2
import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import naive_kernels as naive
from streamer.kernels import preprocess

MEDIA = Path(__file__).resolve().parents[1].parent / "shared" / "media"
CLIPS = ("imageio_cockatoo_yuv420.mp4", "intel_car-detection.mp4")
PHOTOS = ("imageio_chelsea.png", "imageio_coffee.png")  # chelsea is 451 wide: odd width
FAST = settings(max_examples=40, deadline=None)


def _decode_first(path: Path) -> np.ndarray:
    av = pytest.importorskip("av", reason="PyAV is needed to decode the real test clips")
    with av.open(str(path)) as container:
        frame = next(container.decode(video=0))
        return frame.to_ndarray(format="bgr24")


@pytest.fixture(scope="module")
def real_frames() -> dict[str, np.ndarray]:
    """A few real BGR frames: two decoded clips (1280x720, 768x432) and two photos."""
    if not MEDIA.is_dir():
        pytest.skip(f"real test media not found at {MEDIA} (expected the shared/ checkout)")
    frames = {name: _decode_first(MEDIA / name) for name in CLIPS}
    for name in PHOTOS:
        photo = cv2.imread(str(MEDIA / "photos" / name), cv2.IMREAD_COLOR)
        if photo is None:
            pytest.skip(f"could not read test photo {MEDIA / 'photos' / name}")
        frames[name] = photo
    return frames


@pytest.fixture(params=CLIPS + PHOTOS)
def frame(request: pytest.FixtureRequest, real_frames: dict[str, np.ndarray]) -> np.ndarray:
    return real_frames[request.param]


def bgr_images(max_side: int = 24) -> st.SearchStrategy[np.ndarray]:
    """Random small (H, W, 3) uint8 images, 1x1 and 1-pixel strips included."""
    shapes = st.tuples(st.integers(1, max_side), st.integers(1, max_side), st.just(3))
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
    image = real_frames["imageio_cockatoo_yuv420.mp4"]
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


def test_preprocess_mapping_round_trips_letterbox_corners() -> None:
    image = np.zeros((720, 1280, 3), np.uint8)
    out = np.empty((1, 3, 640, 640), np.float32)
    scale_x, scale_y, pad_x, pad_y = preprocess(image, out, resize="letterbox")
    assert (scale_x, scale_y, pad_x, pad_y) == (0.5, 0.5, 0.0, 140.0)
    # Model-space corners of the image region map back to the frame's corners.
    assert (pad_x - pad_x) / scale_x == 0 and (pad_x + 640 - pad_x) / scale_x == 1280
    assert (pad_y + 360 - pad_y) / scale_y == 720
    assert (out[0, :, :140] == 114.0).all() and (out[0, :, 500:] == 114.0).all()
    assert (out[0, :, 140:500] == 0.0).all()


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


def test_preprocess_threads_give_identical_results(real_frames) -> None:
    image = real_frames["intel_car-detection.mp4"]
    previous = numba.get_num_threads()
    results = []
    try:
        for threads in (1, numba.config.NUMBA_NUM_THREADS):
            numba.set_num_threads(threads)
            out = np.empty((3, 256, 256), np.float32)
            preprocess(image, out, resize="letterbox")
            results.append(out)
    finally:
        numba.set_num_threads(previous)
    np.testing.assert_array_equal(results[0], results[1])


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
