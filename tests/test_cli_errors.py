"""The command line's answers to bad input and its describing commands (``info``, ``models``):
real files, one line, the documented exit status (split from tests/test_cli.py so the two halves
run on the suite's two workers; the helpers are shared)."""

from __future__ import annotations

import json
from pathlib import Path

import onnx
import pytest
from onnx import TensorProto, helper

from media import Clip, make_bad_media, model_file, nudenet_model
from test_cli import streamer

def test_info(audio_clip: Clip) -> None:
    r = streamer("info", audio_clip.path)
    assert r.returncode == 0 and audio_clip.size in r.stdout and "aac" in r.stdout
    r = streamer("info", audio_clip.path, "--json")
    assert json.loads(r.stdout)["streams"][0]["frames"] == audio_clip.frames


#: Models to describe: the YOLOv8 export from the nudenet package, YOLOX-Nano (bundled, or from
#: ../shared on an older checkout) and, with ../shared, FastestDet.
DESCRIBED_MODELS = [pytest.param(None, "ultralytics", "images", id="yolov8")] + [
    pytest.param(name, family, input_name, id=family)
    for name, family, input_name in (("yolox_nano_416_coco.onnx", "yolox", "images"),
                                     ("fastestdet_352_coco.onnx", "fastestdet", "input.1"))
    if model_file(name)
]


@pytest.mark.parametrize(("name", "family", "input_name"), DESCRIBED_MODELS)
def test_models(name: str | None, family: str, input_name: str) -> None:
    if name is None:  # once: the bundled ones
        r = streamer("models")
        assert r.returncode == 0 and "nanodet" in r.stdout
    path = nudenet_model() if name is None else model_file(name)
    r = streamer("models", path)
    assert r.returncode == 0 and family in r.stdout.lower() and input_name in r.stdout


@pytest.fixture()
def bad(tmp_path: Path, bikes_clip: Path) -> dict[str, Path]:
    media = make_bad_media(tmp_path, bikes_clip)
    not_onnx = tmp_path / "model.onnx"
    not_onnx.write_text("definitely not protobuf")
    x = helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 64, 64])
    y = helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 7])
    node = helper.make_node("ReduceMean", ["images"], ["pooled"], axes=[2, 3], keepdims=0)
    w = helper.make_tensor("w", TensorProto.FLOAT, [3, 7], [0.1] * 21)
    mm = helper.make_node("MatMul", ["pooled", "w"], ["out"])
    graph = helper.make_graph([node, mm], "odd", [x], [y], initializer=[w])
    odd = tmp_path / "odd_layout.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), odd)
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(f"source: {bikes_clip}\nconfidence: 0.3\n")
    return {**media, "not_onnx": not_onnx, "odd": odd, "cfg": cfg, "dir": tmp_path, "clip": bikes_clip}


@pytest.mark.parametrize(
    ("args", "phrase", "code"),
    [
        (["run", "{missing}"], "{missing}: no such file", 1),
        (["run", "{empty}"], "{empty}: file is empty", 1),
        (["run", "{text}"], "{text}: not a media file", 1),
        (["run", "{truncated}"], "{truncated}: ", 1),
        (["run", "{dir}"], "{dir}: is a directory", 1),
        (["run", "{clip}", "--model", "{missing}"], "{missing}", 1),
        (["run", "{clip}", "--model", "{not_onnx}"], "{not_onnx}", 1),
        (["run", "{clip}", "--model", "{odd}"], "{odd}", 1),
        # refused before the model loads (it failed at the first frame, after start-up)
        (["run", "{clip}", "--out", "{dir}/x.webm"],
         "{dir}/x.webm: a .webm file cannot hold the H.264 video streamer writes (use .mp4, .mkv or .mov)", 1),
        (["run", "{clip}", "--out", "{dir}/x"], "{dir}/x: has no extension to choose the container by", 1),
        (["run", "{clip}", "--conf", "2"], "--conf", 2),
        (["run", "{clip}", "--kernels", "denoise=gaussian:ksize=4"], "ksize must be odd", 1),
        (["run", "--config", "{cfg}"], "{cfg}:2: confidence: unknown key", 1),
        (["info", "{text}"], "{text}: not a media file", 1),
        (["models", "{not_onnx}"], "{not_onnx}", 1),
    ],
)
def test_bad_input_one_line_error(bad: dict[str, Path], args: list[str], phrase: str, code: int) -> None:
    # README: 1 for an error, one line "streamer: error: <input>: <what>"; 2 for invalid usage.
    fmt = {k: str(v) for k, v in bad.items()}
    r = streamer(*[a.format(**fmt) for a in args])
    assert r.returncode == code, r.stderr
    assert "Traceback" not in r.stderr
    assert phrase.format(**fmt) in r.stderr
    error_lines = [line for line in r.stderr.splitlines() if "error" in line.lower()]
    assert len(error_lines) == 1, r.stderr
    if code == 1:  # click's own usage errors (exit 2) say "Error: ..." after a usage line
        assert error_lines[0].startswith("streamer: error: "), r.stderr
        assert phrase.format(**fmt) in error_lines[0]
